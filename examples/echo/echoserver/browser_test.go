//go:build linux

package echoserver

import (
	"context"
	"net/http/httptest"
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

func TestBrowserEcho(t *testing.T) {
	bin := chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	srv := New(Config{})
	rl := chromium.NewRequestLog(srv)
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

	t.Logf("requests: %q", rl.Requests())
	assert.Empty(t, rl.Failed(), "requests that failed")
	assert.Empty(t, b.Problems(), "errors in the page")
}
