//go:build linux

package echoserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/internal/chromium"
	"github.com/ws6455/ws6455/wsframe"
)

// The page's flows in a real headless Chromium, driven through DevTools by
// internal/chromium (whose client is this repository's own conn).

// browserTimeout bounds the whole test, launch included: a guard against
// hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

// findChromium returns the browser, or skips (fails under CI=true, where
// .ci/run has installed it).
func findChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	bin := chromium.Find()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no chromium binary found: the browser test cannot run")
		}
		t.Skip("no chromium binary found (Debian: apt-get install chromium): skipping the browser test")
	}
	return bin
}

// requestLog records every HTTP request the browser makes and its status,
// so that a test can assert that nothing the page loads fails (favicon
// included, which the page's console does not report).
type requestLog struct {
	h  http.Handler
	mu sync.Mutex
	rs []string // "404 GET /favicon.ico"
}

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

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (l *requestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	l.h.ServeHTTP(sw, r)
	if sw.code == 0 {
		sw.code = http.StatusSwitchingProtocols // hijacked: the upgrade went through
	}
	l.mu.Lock()
	l.rs = append(l.rs, fmt.Sprintf("%d %s %s", sw.code, r.Method, r.URL.Path))
	l.mu.Unlock()
}

// failed returns the requests answered with 4xx or 5xx.
func (l *requestLog) failed() []string {
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

func TestBrowserEcho(t *testing.T) {
	bin := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	srv := New(Config{})
	rl := &requestLog{h: srv}
	hs := httptest.NewServer(rl)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
		hs.Close()
	})

	s, err := b.Open(ctx, hs.URL+"/", "document.readyState === 'complete' && window.echoDebug && echoDebug.state === 'open'",
		chromium.PageOptions{NewWindow: true, LogErrors: true})
	require.NoError(t, err)
	eval := func(expr string, v any) {
		t.Helper()
		require.NoError(t, b.Eval(ctx, s, expr, v))
	}
	waitFor := func(cond string) {
		t.Helper()
		require.NoError(t, b.WaitFor(ctx, s, cond), "waiting for %s", cond)
	}
	lastIn := `(() => { const l = document.querySelectorAll('#log .in'); return l.length ? l[l.length - 1].textContent : ''; })()`

	var limit string
	eval(`document.getElementById('limit').textContent`, &limit)
	assert.Equal(t, "64 KiB", limit, "the page states the server's message limit")

	// Text, sent with Enter in the message field.
	eval(`(() => { const m = document.getElementById('msg'); m.value = 'héllo'; m.focus(); })()`, nil)
	for _, typ := range []string{"keyDown", "keyUp"} {
		params := map[string]any{"type": typ, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
		if typ == "keyDown" {
			params["text"] = "\r"
		}
		require.NoError(t, b.Call(ctx, s, "Input.dispatchKeyEvent", params, nil))
	}
	waitFor(lastIn + ` !== ''`)
	var got string
	eval(lastIn, &got)
	assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{3}text 6 Bhéllo$`, got, "the echo, with its type and size in bytes")

	// Binary: the UTF-8 bytes of the message go out as a binary message,
	// and the echo is shown as hex.
	eval(`document.getElementById('msg').value = 'Hi\u00ff'; document.getElementById('send-binary').click()`, nil)
	waitFor(lastIn + `.includes('binary')`)
	eval(lastIn, &got)
	assert.Regexp(t, `binary 4 B48 69 c3 bf$`, got)
	eval(`document.getElementById('log').textContent`, &got)
	assert.NotContains(t, got, "[object", "no Blob or ArrayBuffer shown as an object")

	// The server closes the connection: the page says so and offers to
	// reconnect; reconnecting works.
	srv.mu.Lock()
	for cl := range srv.clients {
		go cl.c.Close(wsframe.CloseGoingAway, "restarting")
	}
	srv.mu.Unlock()
	waitFor(`echoDebug.state === 'closed' && !document.getElementById('reconnect').hidden`)
	var closed struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	eval(`echoDebug.lastClose`, &closed)
	assert.Equal(t, 1001, closed.Code)
	assert.Equal(t, "restarting", closed.Reason)
	eval(`document.getElementById('status').textContent`, &got)
	assert.Equal(t, "closed · 1001", got)

	eval(`document.getElementById('reconnect').click()`, nil)
	waitFor(`echoDebug.state === 'open' && echoDebug.opens === 2`)
	eval(`document.getElementById('msg').value = 'again'; document.getElementById('send-text').click()`, nil)
	waitFor(lastIn + `.endsWith('again')`)

	rl.mu.Lock()
	t.Logf("requests: %q", rl.rs)
	rl.mu.Unlock()
	assert.Empty(t, rl.failed(), "requests that failed")
	assert.Empty(t, b.Problems(), "errors in the page")
}
