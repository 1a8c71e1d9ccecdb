//go:build linux

package chatredis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/internal/chromium"
)

// TestBrowserKill: the chat page, in a headless Chromium, behind a
// reverse proxy in front of two chat processes. The process the page is
// connected to is killed (SIGKILL) and the proxy's health check takes it
// out; the page shows "reconnecting", comes back through the proxy to the
// other process with its backoff, and shows what was said meanwhile, once.
func TestBrowserKill(t *testing.T) {
	bin := chromium.Require(t)
	rdb, addr := needRedis(t)
	room := newRoom(t, rdb)
	procs := startProcs(t, 2, addr, room)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	// The load balancer: a reverse proxy (WebSocket upgrades included) to
	// the backend that its health check last found alive.
	var backend atomic.Int32
	proxies := make([]*httputil.ReverseProxy, len(procs))
	for i, p := range procs {
		u, err := url.Parse("http://" + p.Addr)
		require.NoError(t, err)
		proxies[i] = httputil.NewSingleHostReverseProxy(u)
	}
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[backend.Load()].ServeHTTP(w, r)
	}))
	defer lb.Close()

	bob := startMember(ctx, t, "bob", procs, 1)
	bob.joined(ctx, t)

	session, err := b.Open(ctx, lb.URL+"/?token=tok&nick=ada", "document.readyState === 'complete' && !!window.chatDebug", chromium.PageOptions{NewWindow: true})
	require.NoError(t, err)
	eval := func(expr string, v any) {
		t.Helper()
		require.NoError(t, b.Eval(ctx, session, expr, v))
	}
	waitFor := func(cond string) {
		t.Helper()
		require.NoError(t, b.WaitFor(ctx, session, cond), "waiting for %s", cond)
	}
	logText := "document.getElementById('log').innerText"
	eval("document.getElementById('join-btn').click()", nil)
	waitFor("chatDebug.state === 'connected'")
	bob.say(ctx, t, "before")
	waitFor(logText + ".includes('before')")

	procs[0].signal(syscall.SIGKILL)
	waitFor("chatDebug.state === 'reconnecting' && document.getElementById('status').textContent.startsWith('reconnecting')")
	// The message is in the room before the proxy lets the page back in
	// (until then its attempts get 502 and it backs off further).
	bob.say(ctx, t, "said while the page was away")
	bob.hasMessages(ctx, t, 2)
	backend.Store(1)
	waitFor("chatDebug.state === 'connected' && " + logText + ".includes('said while the page was away')")
	var count int
	eval(`[...document.querySelectorAll('#log li')].filter((li) => li.textContent.includes('said while the page was away')).length`, &count)
	assert.Equal(t, 1, count)
	eval(`[...document.querySelectorAll('#log li')].filter((li) => li.textContent.includes('before')).length`, &count)
	assert.Equal(t, 1, count)
	var log string
	eval(logText, &log)
	assert.Contains(t, log, "connection lost")
	assert.Contains(t, log, "reconnected, with 1 message you missed")
	assert.NotContains(t, log, "ada left")
	assert.Empty(t, b.Problems())
}
