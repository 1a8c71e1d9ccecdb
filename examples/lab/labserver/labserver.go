// Package labserver is the protocol lab: a page that shows WebSocket at
// work, frame by frame, and measures it against the older ways of pushing
// messages to a browser (short polling, long polling, Server-Sent Events).
//
// It is an http.Handler so that the demo can mount it under a prefix:
//
//	srv := labserver.New(labserver.Config{})
//	mux.Handle("/lab/", http.StripPrefix("/lab", srv))
//	...
//	srv.Shutdown(ctx) // every WebSocket gets 1001, streams and polls end
//
// Every URL the page uses is relative to it, so it works under any prefix.
//
// # Watching frames
//
// The page opens two WebSockets. The observer socket ("observe") carries
// reports and commands; the lab socket ("ws?session=…") is the one the
// visitor plays with: the server echoes every message on it. The lab
// socket's frames are reported by the library's frame observer
// (conn.AcceptOptions.OnFrame), not re-parsed by the page: each report has
// the decoded header and the payload. The observer is given the payload of
// received data frames only after they are streamed, so the server also
// keeps the raw bytes it reads from the socket and pairs them with the
// observer's headers: the page shows the masked bytes exactly as they
// arrived, and the header bytes as the library decoded them.
//
// # Measuring the alternatives
//
// The same stream of small messages is sent over each transport; the
// server counts the bytes of every request and response of a run, in both
// directions. Counted exactly (TCP payload bytes, headers included) when
// the http.Server uses CountingListener and ConnContext; otherwise
// estimated from the request as net/http parsed it and the response as
// written (the page says which).
package labserver

import (
	"context"
	_ "embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/internal/site"
)

// Defaults for the zero Config.
const (
	// DefaultReadLimit is the largest message the lab socket accepts:
	// enough for a message whose length needs the 64-bit form.
	DefaultReadLimit = 256 << 10
	// DefaultMaxSessions bounds the pages watching at once.
	DefaultMaxSessions = 64
	// DefaultMaxRuns bounds the measurement runs kept at once.
	DefaultMaxRuns = 64
)

// Config configures a Server. The zero value is ready to use.
type Config struct {
	// ReadLimit is the largest message accepted on the lab socket
	// (0: DefaultReadLimit).
	ReadLimit int64
	// MaxSessions bounds the observer sockets open at once; more are
	// refused with 503 (0: DefaultMaxSessions).
	MaxSessions int
	// MaxRuns bounds the measurement runs kept at once; the oldest is
	// forgotten first (0: DefaultMaxRuns).
	MaxRuns int
	// CloseTimeout bounds each wait of a close handshake (0: the conn
	// default).
	CloseTimeout time.Duration
	// AcceptHook, when set, is called before each WebSocket handshake with
	// the request and the options it will be accepted with (it may add to
	// them, keeping the lab's frame observer); the function it returns,
	// if not nil, is called with the connection once accepted. The demo
	// logs connections with it (site.ConnLog.Hook has this shape).
	AcceptHook func(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn)
}

// Server is the lab, an http.Handler. Create it with New.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	group   conn.Group
	running site.Tracker
	quit    chan struct{} // closed by Shutdown: streams and polls end
	once    sync.Once

	mu       sync.Mutex
	sessions map[string]*session
	runs     map[string]*run
	order    []string // run ids, oldest first
}

//go:embed page.html
var pageSrc string

var pageTmpl = template.Must(template.New("page").Parse(pageSrc))

// New returns a Server configured by cfg.
func New(cfg Config) *Server {
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxRuns <= 0 {
		cfg.MaxRuns = DefaultMaxRuns
	}
	s := &Server{
		cfg:      cfg,
		mux:      http.NewServeMux(),
		quit:     make(chan struct{}),
		sessions: make(map[string]*session),
		runs:     make(map[string]*run),
	}
	site.Register(s.mux)
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc("GET /observe", s.serveObserver)
	s.mux.HandleFunc("GET /ws", s.serveLab)
	s.mux.HandleFunc("GET /measure/clock", s.serveClock)
	s.mux.HandleFunc("POST /measure/start", s.serveStart)
	s.mux.HandleFunc("GET /measure/ws", s.serveStreamWS)
	s.mux.HandleFunc("GET /measure/sse", s.serveSSE)
	s.mux.HandleFunc("GET /measure/poll", s.servePoll)
	s.mux.HandleFunc("GET /measure/longpoll", s.serveLongPoll)
	s.mux.HandleFunc("GET /measure/result", s.serveResult)
	return s
}

// ServeHTTP serves the page at "/", the observer socket at "/observe", the
// lab socket at "/ws" and the measurement endpoints under "/measure/".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if cc := countingConnFrom(r.Context()); cc != nil && r.ProtoMajor == 1 {
		// Attribute the connection's bytes to the run this request
		// belongs to (or to none), request by request.
		rn := s.runOf(r)
		cc.begin(rn)
		defer cc.end()
	}
	s.mux.ServeHTTP(w, r)
}

// Shutdown closes every WebSocket with 1001 (going away), ends streams and
// long polls, and waits until ctx is done for the close handshakes and the
// handlers. New WebSockets are refused with 503 from then on.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { close(s.quit) })
	err := s.group.Shutdown(ctx)
	select {
	case <-s.running.Idle():
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	return err
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	pageTmpl.Execute(w, struct{ Mounted bool }{mounted(r)})
}

// mounted reports whether r reached the server through a prefix that was
// stripped (http.StripPrefix changes URL.Path, not RequestURI): the page
// then links the demo's other examples.
func mounted(r *http.Request) bool {
	path, _, _ := strings.Cut(r.RequestURI, "?")
	return path != "" && path != r.URL.Path
}

// accept accepts a WebSocket in the server's group, through the
// AcceptHook if there is one.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, opts *conn.AcceptOptions) (*conn.Conn, error) {
	var accepted func(*conn.Conn)
	if s.cfg.AcceptHook != nil {
		accepted = s.cfg.AcceptHook(r, opts)
	}
	c, err := s.group.Accept(w, r, opts)
	if err == nil && accepted != nil {
		accepted(c)
	}
	return c, err
}
