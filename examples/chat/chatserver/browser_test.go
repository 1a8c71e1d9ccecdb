//go:build linux

package chatserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/internal/chromium"
)

// browserTimeout bounds the whole test, launch included: a guard against
// hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

// readUntil reads c's events until one satisfies cond, and returns it.
func readUntil(ctx context.Context, t *testing.T, c *conn.Conn, what string, cond func(Event) bool) Event {
	t.Helper()
	for {
		_, msg, err := c.Read(ctx)
		require.NoError(t, err, "waiting for %s", what)
		var ev Event
		require.NoError(t, json.Unmarshal(msg, &ev))
		if cond(ev) {
			return ev
		}
	}
}

// TestBrowserChat drives the page in a headless Chromium the size of a
// 390-px phone, behind a "load balancer" in front of two servers of one
// room: a taken nickname gets words, not a status code; a long word wraps;
// when the server the page is on shuts down, the page reconnects by itself
// (to the other one), resumes and shows what it missed once; Leave leaves.
func TestBrowserChat(t *testing.T) {
	bin := chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	bp := NewMemoryBackplane(0)
	s1 := New(Config{Token: token, Backplane: bp})
	s2 := New(Config{Token: token, Backplane: bp})
	var active atomic.Pointer[Server]
	active.Store(s1)
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Load().ServeHTTP(w, r)
	}))
	direct := httptest.NewServer(s2)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		s1.Shutdown(sctx)
		s2.Shutdown(sctx)
		lb.Close()
		direct.Close()
	})

	bob, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(direct.URL, "http")+"/ws?nick=bob&token="+token, nil)
	require.NoError(t, err)
	defer bob.CloseNow()
	readUntil(ctx, t, bob, "bob's join", func(ev Event) bool { return ev.Type == "join" && ev.Nick == "bob" })
	bobSays := func(text string) {
		t.Helper()
		require.NoError(t, bob.Write(ctx, conn.MessageText, []byte(`{"type":"say","text":"`+text+`"}`)))
	}

	session, err := b.Open(ctx, lb.URL+"/?token="+token+"&nick=bob", "document.readyState === 'complete' && !!window.chatDebug", chromium.PageOptions{NewWindow: true})
	require.NoError(t, err)
	eval := func(expr string, v any) {
		t.Helper()
		require.NoError(t, b.Eval(ctx, session, expr, v))
	}
	waitFor := func(cond string) {
		t.Helper()
		require.NoError(t, b.WaitFor(ctx, session, cond), "waiting for %s", cond)
	}
	require.NoError(t, b.Call(ctx, session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true,
	}, nil))
	logText := "document.getElementById('log').innerText"

	// The page's schedule: 1 s, 2 s, 4 s … 60 s, plus 0–500 ms.
	var waits [][]int
	eval(`[0, 1, 2, 3, 4, 5, 6, 7, 30, 1000].map((n) => Array.from({length: 200}, () => chatDebug.backoff(n)))`, &waits)
	for i, base := range []int{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000} {
		lo, hi := waits[i][0], waits[i][0]
		for _, w := range waits[i] {
			lo, hi = min(lo, w), max(hi, w)
		}
		assert.GreaterOrEqual(t, lo, base, "attempt %d", i)
		assert.LessOrEqual(t, hi, base+500, "attempt %d", i)
		assert.Less(t, lo, hi, "attempt %d: jitter", i)
	}

	// bob is taken: the page says so in words.
	eval("document.getElementById('join-btn').click()", nil)
	waitFor("!document.getElementById('problem').hidden")
	var problem string
	eval("document.getElementById('problem').textContent", &problem)
	assert.Equal(t, "That nickname is taken: choose another one.", problem)
	var joinEnabled bool
	eval("!document.getElementById('join-btn').disabled && !document.getElementById('nick').disabled", &joinEnabled)
	assert.True(t, joinEnabled, "the form is usable again")

	eval("document.getElementById('nick').value = 'ada'; document.getElementById('join-btn').click()", nil)
	waitFor("chatDebug.state === 'connected'")
	readUntil(ctx, t, bob, "ada's join", func(ev Event) bool { return ev.Type == "join" && ev.Nick == "ada" })

	// A long word wraps: nothing is wider than the phone.
	long := strings.Repeat("w", 300)
	bobSays(long)
	waitFor(logText + ".includes('" + long + "')")
	var fits bool
	eval(`document.documentElement.scrollWidth <= window.innerWidth &&
		[...document.querySelectorAll('#log li')].every((li) => li.scrollWidth <= li.clientWidth)`, &fits)
	assert.True(t, fits, "the page fits 390 px")

	eval("document.getElementById('text').value = 'hi from the page'; document.getElementById('say-btn').click()", nil)
	readUntil(ctx, t, bob, "the page's message", func(ev Event) bool { return ev.Type == "message" && ev.Nick == "ada" && ev.Text == "hi from the page" })

	// The page's server goes away: the balancer sends new connections to
	// the other one; bob talks while the page is away.
	active.Store(s2)
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	require.NoError(t, s1.Shutdown(sctx))
	bobSays("while you were away")
	waitFor(logText + ".includes('while you were away') && chatDebug.state === 'connected'")
	waitFor(logText + ".includes('reconnected')")
	var count int
	eval(`[...document.querySelectorAll('#log li')].filter((li) => li.textContent.includes('while you were away')).length`, &count)
	assert.Equal(t, 1, count, "the missed message, once")
	eval(`[...document.querySelectorAll('#log li')].filter((li) => li.textContent.includes('hi from the page')).length`, &count)
	assert.Equal(t, 1, count, "what came before, not again")
	var log string
	eval(logText, &log)
	assert.Contains(t, log, "the server is restarting: reconnecting")
	assert.NotContains(t, log, "ada left", "a resume is not a leave")

	// Leave: bob sees ada go; the page can join again.
	eval("document.getElementById('leave-btn').click()", nil)
	ev := readUntil(ctx, t, bob, "ada's leave", func(ev Event) bool { return ev.Type == "leave" })
	assert.Equal(t, "ada", ev.Nick)
	waitFor("chatDebug.state === 'idle' && !document.getElementById('join-btn').disabled")
	var status string
	eval("document.getElementById('status').textContent", &status)
	assert.Equal(t, "left the room", status)
}
