// Package echoserver is the logic of the echo example: a public WebSocket
// echo service that sends every message back to its sender, or, in relay
// mode, to every other connected client.
//
// It is a package rather than part of the command so that the demo server
// can mount it under a prefix and tests can drive it over real connections:
//
//	srv := echoserver.New(echoserver.Config{})
//	http.Handle("/echo/", http.StripPrefix("/echo", srv))
//	...
//	srv.Shutdown(ctx) // every client gets 1001 (going away)
//
// The page is served at the handler's root ("/") and the WebSocket at
// "echo" next to it ("/echo"); the page connects relative to its own
// address, so it works under any prefix.
package echoserver

import (
	"context"
	_ "embed"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/internal/site"
	"github.com/ws6455/ws6455/wsframe"
)

// Defaults for the zero Config.
const (
	// DefaultReadLimit is the largest message accepted: 64 KiB is plenty
	// for an echo service and bounds what one client can make us hold.
	DefaultReadLimit = 64 << 10
	// DefaultQueueSize is how many relayed messages may wait for a slow
	// client before it is dropped.
	DefaultQueueSize = 64
	// DefaultWriteTimeout bounds one write to a client, so that a client
	// that stopped reading cannot hold a writer goroutine forever.
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Server. The zero value echoes, with the defaults
// above.
type Config struct {
	// Relay makes relay the default mode: each message goes to every
	// other connected client instead of back to its sender. A client can
	// choose its own mode with the query parameter mode=echo or
	// mode=relay.
	Relay bool
	// ReadLimit is the largest message accepted, in bytes (0: default).
	ReadLimit int64
	// QueueSize bounds the relayed messages waiting for one client
	// (0: default). A client whose queue overflows is closed with 1008.
	QueueSize int
	// WriteTimeout bounds each write to a client (0: default).
	WriteTimeout time.Duration
	// CloseTimeout bounds each wait of a close handshake (0: the conn
	// default).
	CloseTimeout time.Duration
	// Compression is the permessage-deflate mode accepted when a client
	// offers it. The zero value disables compression; the echo command
	// uses conn.CompressionNoContextTakeover, which keeps no compression
	// state between messages and so suits a public service with many
	// idle connections. Relayed messages are sent uncompressed (they are
	// prepared once for everybody, and RFC 7692 allows that).
	Compression conn.CompressionMode
	// AcceptHook, when set, is called before each WebSocket handshake with
	// the request and the options it will be accepted with (it may add to
	// them: a frame observer, say); the function it returns, if not nil,
	// is called with the connection once accepted. The demo logs
	// connections with it (site.ConnLog.Hook has this shape).
	AcceptHook func(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn)
}

// Server is the echo service, an http.Handler. Create it with New.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	group conn.Group
	// running counts the goroutines serving connections (handlers and
	// writers), so that Shutdown can wait for them.
	running site.Tracker

	mu      sync.Mutex
	clients map[*client]struct{}

	// testHookWrite, when set (by tests), runs in a client's writer
	// goroutine before each relayed message is written.
	testHookWrite func(remote net.Addr)
}

// client is one connection and the queue of relayed messages that its
// writer goroutine sends.
type client struct {
	c     *conn.Conn
	queue chan *conn.PreparedMessage
	gone  chan struct{} // closed when the client leaves the server
}

//go:embed page.html
var pageSrc string

var pageTmpl = template.Must(template.New("page").Parse(pageSrc))

// pageData is what the page shows of the server's settings.
type pageData struct {
	ReadLimit int64  // in bytes
	Limit     string // the same, for people ("64 KiB")
	Mounted   bool   // served under a prefix (by the demo): link the other examples
}

// New returns a Server configured by cfg.
func New(cfg Config) *Server {
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), clients: make(map[*client]struct{})}
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc("GET /echo", s.serveWebSocket)
	site.Register(s.mux)
	return s
}

// ServeHTTP serves the page at "/" (with the shared stylesheet and favicon
// next to it: see package site) and the WebSocket endpoint at "/echo".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Shutdown closes every connection with 1001 (going away) and waits, until
// ctx is done, for the close handshakes and then for the goroutines that
// served the connections; new connections are refused with 503 from then
// on. It returns ctx.Err() if that did not finish in time (connections
// still open are then dropped).
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.group.Shutdown(ctx); err != nil {
		return err
	}
	// Every connection has ended; their goroutines finish at once.
	select {
	case <-s.running.Idle():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Len returns the number of connected clients.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	pageTmpl.Execute(w, pageData{ReadLimit: s.cfg.ReadLimit, Limit: byteSize(s.cfg.ReadLimit), Mounted: mounted(r)})
}

// mounted reports whether r reached the server through a prefix that was
// stripped (http.StripPrefix changes URL.Path but not RequestURI).
func mounted(r *http.Request) bool {
	path, _, _ := strings.Cut(r.RequestURI, "?")
	return path != "" && path != r.URL.Path
}

// byteSize writes n bytes for people: "64 KiB", "1 MiB", "1000 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	relay := s.cfg.Relay
	switch r.URL.Query().Get("mode") {
	case "":
	case "echo":
		relay = false
	case "relay":
		relay = true
	default:
		http.Error(w, `mode must be "echo" or "relay"`, http.StatusBadRequest)
		return
	}
	opts := s.acceptOptions()
	var accepted func(*conn.Conn)
	if s.cfg.AcceptHook != nil {
		accepted = s.cfg.AcceptHook(r, opts)
	}
	c, err := s.group.Accept(w, r, opts)
	if err != nil {
		return // Accept has answered with the HTTP error
	}
	if accepted != nil {
		accepted(c)
	}
	cl := &client{c: c, queue: make(chan *conn.PreparedMessage, s.cfg.QueueSize), gone: make(chan struct{})}
	s.mu.Lock()
	s.clients[cl] = struct{}{}
	s.mu.Unlock()
	s.running.Add()
	go func() {
		defer s.running.Done()
		s.writeLoop(cl)
	}()
	defer s.remove(cl)

	var buf []byte
	for {
		typ, msg, err := c.ReadInto(context.Background(), buf)
		if err != nil {
			return // closed by the peer, by Shutdown, or failed: conn has handled it
		}
		buf = msg
		select {
		case <-cl.gone:
			return // dropped as too slow: it is being closed
		default:
		}
		if !relay {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
			err = c.Write(ctx, typ, msg)
			cancel()
			if err != nil {
				return
			}
			continue
		}
		// The prepared message keeps its payload, so it needs its own
		// copy; buf is reused by the next read.
		pm, err := conn.NewPreparedMessage(typ, append([]byte(nil), msg...))
		if err != nil {
			return
		}
		s.relay(cl, pm)
	}
}

// relay queues pm for every client except from. A client whose queue is
// full is too slow to keep up: it is dropped with 1008 rather than allowed
// to hold everyone else back.
func (s *Server) relay(from *client, pm *conn.PreparedMessage) {
	var slow []*client
	s.mu.Lock()
	for cl := range s.clients {
		if cl == from {
			continue
		}
		select {
		case cl.queue <- pm:
		default:
			slow = append(slow, cl)
		}
	}
	s.mu.Unlock()
	for _, cl := range slow {
		if s.remove(cl) {
			go cl.c.Close(wsframe.ClosePolicyViolation, "too slow: relay queue overflow")
		}
	}
}

// remove takes cl off the server, once; it reports whether this call did.
func (s *Server) remove(cl *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[cl]; !ok {
		return false
	}
	delete(s.clients, cl)
	close(cl.gone)
	return true
}

// writeLoop sends cl's relayed messages, one at a time, until cl leaves.
func (s *Server) writeLoop(cl *client) {
	for {
		select {
		case <-cl.gone:
			return
		case <-cl.c.Done():
			return
		case pm := <-cl.queue:
			if s.testHookWrite != nil {
				s.testHookWrite(cl.c.RemoteAddr())
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
			err := cl.c.WritePrepared(ctx, pm)
			cancel()
			if err != nil {
				return // the write failure has closed the connection
			}
		}
	}
}

// acceptOptions are the options for every connection. As a public echo
// service, the server accepts pages from any origin: nothing here acts on
// behalf of a logged-in user, so cross-site use is harmless.
func (s *Server) acceptOptions() *conn.AcceptOptions {
	return &conn.AcceptOptions{
		InsecureSkipOriginCheck: true,
		ReadLimit:               s.cfg.ReadLimit,
		CloseTimeout:            s.cfg.CloseTimeout,
		Compression:             s.cfg.Compression,
	}
}
