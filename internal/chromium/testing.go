package chromium

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
)

// Require returns the Chromium binary for a browser test, or ends the
// test: it is skipped under -short, or when no browser is installed, saying
// so; under CI=true (where .ci/run installs the browser) a missing browser
// fails it instead.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	bin := Find()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no chromium binary found: the browser test cannot run")
		}
		t.Skip("no chromium binary found (Debian: apt-get install chromium): skipping the browser test")
	}
	return bin
}

// A RequestLog is an http.Handler that serves with another one and
// records every request and the status it got, so that a browser test can
// check that nothing a page loads fails: the favicon included, which no
// console reports. A request that was hijacked (a WebSocket upgrade) is
// recorded as 101.
type RequestLog struct {
	h  http.Handler
	mu sync.Mutex
	rs []string
}

// NewRequestLog returns a RequestLog that serves with h.
func NewRequestLog(h http.Handler) *RequestLog { return &RequestLog{h: h} }

// ServeHTTP serves the request with the wrapped handler and records it.
func (l *RequestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	l.h.ServeHTTP(sw, r)
	if sw.code == 0 {
		sw.code = http.StatusSwitchingProtocols // hijacked by the upgrade
	}
	l.mu.Lock()
	l.rs = append(l.rs, fmt.Sprintf("%d %s %s", sw.code, r.Method, r.URL.Path))
	l.mu.Unlock()
}

// Requests returns every request recorded so far, as "STATUS METHOD PATH".
func (l *RequestLog) Requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.rs...)
}

// Failed returns the requests answered with a 4xx or 5xx status, as
// "STATUS METHOD PATH".
func (l *RequestLog) Failed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for _, r := range l.rs {
		if r[0] == '4' || r[0] == '5' {
			bad = append(bad, r)
		}
	}
	return bad
}

// statusWriter notes the status a handler answers with. It keeps the
// wrapped writer reachable (Unwrap) for http.ResponseController, so
// hijacking and flushing work through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets a streaming handler (Server-Sent Events) flush through it.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
