package pongserver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/internal/site"
)

// finish ends game name at the next tick: the left player is one point
// from winning and the ball is about to leave the field on the right.
func (ts *testServer) finish(t *testing.T, name string, tk *fakeTicker) {
	t.Helper()
	g, err := ts.srv.lookup(name)
	require.NoError(t, err)
	g.mu.Lock()
	g.phys.Score = [2]int{WinScore - 1, 3}
	g.phys.serve = 0
	g.phys.Ball = Ball{X: FieldWidth + BallSize - 1, Y: 40, VX: BallSpeed}
	g.mu.Unlock()
	require.False(t, tk.step(t) && tk.step(t), "the game ends at the next tick")
}

// expectOver skips states up to the over message and checks its bytes.
func expectOver(t *testing.T, p *peer, want string) {
	t.Helper()
	m := p.expect(typeOver, nil)
	assert.Equal(t, want, string(m.raw))
}

// TestFirstServeCountdown: a new game rests CountdownTicks before its
// first serve, and says so in every state.
func TestFirstServeCountdown(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, _, _, _, tk := ts.startGame(t, "g")
	for i := 1; i <= 3; i++ {
		tk.step(t)
		s := left.state()
		assert.Equal(t, StatusPlaying, s.Status)
		assert.Equal(t, CountdownTicks-i, s.Serve)
		assert.Equal(t, Ball{X: FieldWidth / 2, Y: FieldHeight / 2}, s.Ball, "the ball rests")
	}
}

func TestRematch(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, right, wl, wr, tk := ts.startGame(t, "g")
	spec := ts.dial(t)
	spec.send(typeSpectate, map[string]string{"game": "g"})
	spec.expect(typeSpectating, nil)

	// Asking before the end is refused.
	left.send(typeRematch, nil)
	left.expectError(CodeNotAllowed)

	ts.finish(t, "g", tk)
	over := `{"type":"over","data":{"winner":"left","reason":"score","score":[11,3]}}`
	expectOver(t, left, over)
	expectOver(t, right, over)
	expectOver(t, spec, over)

	// A spectator cannot ask; the first player who asks makes the other
	// one hear of it.
	spec.send(typeRematch, nil)
	spec.expectError(CodeNotAllowed)
	right.send(typeRematch, nil)
	assert.Equal(t, `{"type":"opponent","data":{"event":"rematch"}}`, string(left.next().raw))

	// The other accepts: a new game of the same name, same sides, new
	// tokens, for both; its spectators follow.
	left.send(typeRematch, nil)
	var nl, nr welcome
	left.expect(typeRematched, &nl)
	right.expect(typeRematched, &nr)
	assert.Equal(t, welcome{Game: "g", Side: "left", Token: nl.Token, Tick: wl.Tick, Grace: wl.Grace, Field: theField}, nl)
	assert.Equal(t, "right", nr.Side)
	assert.Len(t, nl.Token, tokenLen)
	assert.NotEqual(t, wl.Token, nl.Token, "a new token")
	assert.NotEqual(t, wr.Token, nr.Token, "a new token")
	spec.expect(typeSpectating, nil)

	tk2 := ts.clock.nextTicker(t)
	tk2.step(t)
	sl, sr, ss := left.expect(typeState, nil), right.expect(typeState, nil), spec.expect(typeState, nil)
	assert.Equal(t, `{"type":"state","data":{"seq":1,"status":"playing","ball":{"x":400,"y":250,"vx":0,"vy":0},"paddles":[{"y":250,"dir":0,"ack":0},{"y":250,"dir":0,"ack":0}],"score":[0,0],"serve":179}}`, string(sl.raw))
	assert.Equal(t, sl.raw, sr.raw)
	assert.Equal(t, sl.raw, ss.raw)

	// The players play the new game: moves reach it.
	// (The move reaches the game at some tick: the state's Ack says which.)
	right.send(typeMove, map[string]any{"dir": "up", "seq": 7})
	var s State
	for range 1000 {
		tk2.step(t)
		if s = left.state(); s.Paddles[1].Ack != 0 {
			break
		}
	}
	assert.Equal(t, Paddle{Y: FieldHeight/2 - PaddleSpeed*ts.srv.cfg.Tick.Seconds(), Dir: DirUp, Ack: 7}, s.Paddles[1])

	// The old tokens are no good any more, the new ones are.
	late := ts.dial(t)
	late.send(typeRejoin, map[string]string{"game": "g", "token": wr.Token})
	late.expectError(CodeBadToken)
	right.c.CloseNow()
	left.expect(typeOpponent, nil)
	late.send(typeRejoin, map[string]string{"game": "g", "token": nr.Token})
	var back welcome
	late.expect(typeRejoined, &back)
	assert.Equal(t, "right", back.Side)
}

// TestNoRematchWhenOpponentGone: after the end, a player who goes (closes
// the connection, or leaves) makes the other hear "left", and no rematch
// is possible.
func TestNoRematchWhenOpponentGone(t *testing.T) {
	for _, how := range []string{"disconnect", "leave", "new game"} {
		t.Run(how, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			left, right, _, _, tk := ts.startGame(t, "g")
			ts.finish(t, "g", tk)
			left.expect(typeOver, nil)
			right.expect(typeOver, nil)
			switch how {
			case "disconnect":
				right.c.CloseNow()
			case "leave":
				right.send(typeLeave, nil)
				right.expect(typeLeft, nil)
			case "new game":
				right.send(typeCreate, map[string]string{"game": "h"})
				right.expect(typeCreated, nil)
			}
			assert.Equal(t, `{"type":"opponent","data":{"event":"left"}}`, string(left.next().raw))
			left.send(typeRematch, nil)
			left.expectError(CodeNotAllowed)
			// The left player is free to start another game.
			left.send(typeCreate, map[string]string{"game": "g2"})
			left.expect(typeCreated, nil)
		})
	}
}

// TestGamesList checks the list served at "games": the games not over,
// waiting ones first, as JSON.
func TestGamesList(t *testing.T) {
	ts := newTestServer(t, Config{})
	get := func() (string, string) {
		t.Helper()
		res, err := http.Get(ts.http.URL + "/games")
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.Header.Get("Content-Type"), string(b)
	}
	ctype, body := get()
	assert.Equal(t, "application/json", ctype)
	assert.Equal(t, `{"games":[]}`+"\n", body)

	ts.startGame(t, "b")
	spec := ts.dial(t)
	spec.send(typeSpectate, map[string]string{"game": "b"})
	spec.expect(typeSpectating, nil)
	c := ts.dial(t)
	c.send(typeCreate, map[string]string{"game": "c"})
	c.expect(typeCreated, nil)
	ts.clock.nextTicker(t)
	_, body = get()
	assert.Equal(t, `{"games":[{"name":"c","status":"waiting","players":1,"spectators":0},{"name":"b","status":"playing","players":2,"spectators":1}]}`+"\n", body)
}

// TestSharedAssets: the page links the shared stylesheet and favicon
// relatively, and they are served next to it, at the root and under a
// prefix; only under a prefix does it link the other examples.
func TestSharedAssets(t *testing.T) {
	ps := New(Config{PingInterval: -1})
	t.Cleanup(func() { ps.Shutdown(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle("/", ps)
	mux.Handle("/pong/", http.StripPrefix("/pong", ps))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(hs.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}
	for _, prefix := range []string{"", "/pong"} {
		res, page := get(prefix + "/")
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Contains(t, page, `href="site.css"`)
		assert.Contains(t, page, `href="favicon.svg"`)
		assert.Contains(t, page, `https://github.com/ws6455/ws6455/tree/main/examples/pong`)
		assert.Equal(t, prefix != "", strings.Contains(page, `href="../echo/"`), "links to the other examples under %q", prefix)
		res, css := get(prefix + "/site.css")
		assert.Equal(t, "text/css; charset=utf-8", res.Header.Get("Content-Type"))
		assert.Equal(t, string(site.CSS()), css)
		res, _ = get(prefix + "/favicon.ico")
		assert.Equal(t, "image/svg+xml", res.Header.Get("Content-Type"))
	}
}

// TestAcceptHook: the hook sees each handshake's options before Accept
// and the connection after it.
func TestAcceptHook(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	note := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	ts := newTestServer(t, Config{AcceptHook: func(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn) {
		note("before " + r.URL.Path)
		return func(c *conn.Conn) { note("after " + c.RemoteAddr().Network()) }
	}})
	p := ts.dial(t)
	p.send(typeCreate, map[string]string{"game": "g"})
	p.expect(typeCreated, nil) // the handler has run past Accept
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"before /ws", "after tcp"}, seen)
}
