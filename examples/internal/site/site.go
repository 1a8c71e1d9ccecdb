// Package site holds what every example page shares: one stylesheet (light
// and dark) and the favicon, so that the echo, chat, Pong and lab pages look
// like one product whether they are served by the demo or on their own; and
// ConnLog, the one-line-per-event connection log of the example servers.
//
// Each example server mounts Register on its own mux; its page then links
// the files relative to itself ("site.css", "favicon.svg"), which works both
// standalone and under the demo's prefixes. The class names the stylesheet
// offers are listed at its top.
package site

import (
	_ "embed"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

//go:embed site.css
var css []byte

//go:embed favicon.svg
var favicon []byte

// CSS is the shared stylesheet.
func CSS() []byte { return css }

// Register serves GET /site.css and GET /favicon.svg (also answering
// /favicon.ico, which browsers ask for on their own) on mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /site.css", serve("text/css; charset=utf-8", css))
	mux.HandleFunc("GET /favicon.svg", serve("image/svg+xml", favicon))
	mux.HandleFunc("GET /favicon.ico", serve("image/svg+xml", favicon))
}

// Handler answers /site.css, /favicon.svg and /favicon.ico like Register,
// for servers without a ServeMux; it reports false for any other path.
func Handler(w http.ResponseWriter, r *http.Request) bool {
	var h http.HandlerFunc
	switch r.URL.Path {
	case "/site.css":
		h = serve("text/css; charset=utf-8", css)
	case "/favicon.svg", "/favicon.ico":
		h = serve("image/svg+xml", favicon)
	default:
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return true
	}
	h(w, r)
	return true
}

func serve(ctype string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}
}

// ConnLog writes one line when a WebSocket connection opens and one when
// it ends:
//
//	ws open /echo/echo 127.0.0.1:5555 proto=- ext=permessage-deflate
//	ws close /echo/echo 127.0.0.1:5555 code=1000 reason="bye" by=client after 3.2s in=5 out=5
//
// The path is the one the client asked for (before any prefix was
// stripped). code and reason are those of the first close frame, and by
// says who sent it (client or server); without a close frame the code is
// 1006. in and out count whole data messages. ext is the permessage-deflate
// the server agreed to: the client offered it and the server's options
// allow it.
type ConnLog struct {
	// Logf receives each line (log.Printf, say).
	Logf func(format string, args ...any)
}

// Hook prepares the logging of one connection: the example servers call it
// (through their Config's AcceptHook) with the request and the options
// they are about to accept it with, and then call the function it returns
// with the accepted connection. It adds a frame observer to opts, keeping
// one already there.
func (l *ConnLog) Hook(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn) {
	st := &connStats{}
	prev := opts.OnFrame
	opts.OnFrame = func(dir conn.Direction, h wsframe.Header, payload []byte) {
		if prev != nil {
			prev(dir, h, payload)
		}
		st.observe(dir, h, payload)
	}
	path := r.URL.Path
	if u := r.RequestURI; u != "" && !strings.Contains(u, "://") {
		path, _, _ = strings.Cut(u, "?")
	}
	ext := "-"
	if opts.Compression != conn.CompressionDisabled && strings.Contains(strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ","), "permessage-deflate") {
		ext = "permessage-deflate"
	}
	return func(c *conn.Conn) {
		start := time.Now()
		proto := c.Subprotocol()
		if proto == "" {
			proto = "-"
		}
		addr := r.RemoteAddr
		l.Logf("ws open %s %s proto=%s ext=%s", path, addr, proto, ext)
		go func() {
			<-c.Done()
			code, reason, by := st.closed()
			d := time.Since(start)
			if d < time.Second {
				d = d.Round(time.Millisecond)
			} else {
				d = d.Round(100 * time.Millisecond)
			}
			l.Logf("ws close %s %s code=%d reason=%q by=%s after %s in=%d out=%d",
				path, addr, code, reason, by, d, st.in.Load(), st.out.Load())
		}()
	}
}

// connStats is what ConnLog learns from a connection's frames. The
// observer runs on the reading and the writing goroutines at once.
type connStats struct {
	in, out atomic.Int64 // whole data messages

	mu     sync.Mutex
	seen   bool
	code   wsframe.CloseCode
	reason string
	by     string
}

func (s *connStats) observe(dir conn.Direction, h wsframe.Header, payload []byte) {
	switch {
	case h.Opcode == wsframe.OpClose:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.seen {
			return
		}
		s.seen = true
		s.code, s.reason, _ = wsframe.ParseClosePayload(payload)
		s.by = "server"
		if dir == conn.Inbound {
			s.by = "client"
		}
	case h.Fin && !h.Opcode.IsControl():
		if dir == conn.Inbound {
			s.in.Add(1)
		} else {
			s.out.Add(1)
		}
	}
}

func (s *connStats) closed() (wsframe.CloseCode, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.seen {
		return wsframe.CloseAbnormal, "", "nobody"
	}
	return s.code, s.reason, s.by
}
