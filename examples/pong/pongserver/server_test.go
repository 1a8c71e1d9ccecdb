package pongserver

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// TestLobby plays scripts of lobby messages from three clients and checks
// every answer.
func TestLobby(t *testing.T) {
	type step struct {
		who      int    // client 0, 1 or 2
		typ      string // message sent
		data     any
		want     string // type of the answer
		wantCode string // for an error
	}
	g := func(name string) map[string]string { return map[string]string{"game": name} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"create then join", []step{
			{0, typeCreate, g("a"), typeCreated, ""},
			{1, typeJoin, g("a"), typeJoined, ""},
			{0, "", nil, typeOpponent, ""}, // told that the opponent joined
		}},
		{"name taken", []step{
			{0, typeCreate, g("a"), typeCreated, ""},
			{1, typeCreate, g("a"), typeError, CodeNameTaken},
			{1, typeCreate, g(" a "), typeError, CodeNameTaken}, // names are trimmed
		}},
		{"no such game", []step{
			{0, typeJoin, g("nope"), typeError, CodeNoSuchGame},
			{0, typeSpectate, g("nope"), typeError, CodeNoSuchGame},
			{0, typeRejoin, map[string]string{"game": "nope", "token": strings.Repeat("0", 32)}, typeError, CodeNoSuchGame},
		}},
		{"game full", []step{
			{0, typeCreate, g("a"), typeCreated, ""},
			{1, typeJoin, g("a"), typeJoined, ""},
			{2, typeJoin, g("a"), typeError, CodeGameFull},
			{2, typeSpectate, g("a"), typeSpectating, ""},
		}},
		{"one game at a time", []step{
			{0, typeCreate, g("a"), typeCreated, ""},
			{0, typeCreate, g("b"), typeError, CodeNotAllowed},
			{0, typeJoin, g("a"), typeError, CodeNotAllowed},
		}},
		{"bad names", []step{
			{0, typeCreate, g(""), typeError, CodeBadData},
			{0, typeCreate, g(strings.Repeat("x", 33)), typeError, CodeBadData},
			{0, typeCreate, g("<script>"), typeError, CodeBadData},
		}},
		{"move outside a game", []step{
			{0, typeMove, map[string]any{"dir": "up", "seq": 1}, typeError, CodeNotAllowed},
			{0, typeLeave, nil, typeError, CodeNotAllowed},
		}},
		{"leave a waiting game frees its name", []step{
			{0, typeCreate, g("a"), typeCreated, ""},
			{0, typeLeave, nil, typeLeft, ""},
			{1, typeJoin, g("a"), typeError, CodeNoSuchGame},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			peers := []*peer{ts.dial(t), ts.dial(t), ts.dial(t)}
			for i, s := range tt.steps {
				p := peers[s.who]
				if s.typ != "" {
					p.send(s.typ, s.data)
				}
				m := p.expect(s.want, nil)
				if s.want == typeError {
					var e errorData
					require.NoError(t, json.Unmarshal(m.Data, &e))
					assert.Equal(t, s.wantCode, e.Code, "step %d: %s", i, m.raw)
				}
				if s.want == typeCreated || s.want == typeJoined {
					var w welcome
					require.NoError(t, json.Unmarshal(m.Data, &w))
					assert.Len(t, w.Token, tokenLen)
					_, err := hex.DecodeString(w.Token)
					assert.NoError(t, err)
					assert.Equal(t, map[string]string{typeCreated: "left", typeJoined: "right"}[s.want], w.Side)
					assert.Equal(t, theField, w.Field)
				}
			}
		})
	}
}

// TestStateBroadcast checks that each tick sends one state, the same bytes
// to both players and a spectator, with consecutive sequence numbers.
func TestStateBroadcast(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, right, _, _, tk := ts.startGame(t, "g")
	spec := ts.dial(t)
	spec.send(typeSpectate, map[string]string{"game": "g"})
	spec.expect(typeSpectating, nil)

	var last uint64
	for i := range 5 {
		tk.step(t)
		ml, mr, ms := left.expect(typeState, nil), right.expect(typeState, nil), spec.expect(typeState, nil)
		assert.Equal(t, ml.raw, mr.raw, "encoded once: same bytes for all")
		assert.Equal(t, ml.raw, ms.raw)
		var s State
		require.NoError(t, json.Unmarshal(ml.Data, &s))
		assert.Equal(t, StatusPlaying, s.Status)
		if i > 0 {
			assert.Equal(t, last+1, s.Seq)
		}
		last = s.Seq
		assert.Equal(t, FieldHeight/2, s.Paddles[0].Y)
		assert.Equal(t, [2]int{0, 0}, s.Score)
	}
}

// TestMoveOnlyFromMove checks that a move sets only the direction of the
// sender's own paddle, and that nothing else a client sends touches the
// game.
func TestMoveOnlyFromMove(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, right, _, _, tk := ts.startGame(t, "g")
	spec := ts.dial(t)
	spec.send(typeSpectate, map[string]string{"game": "g"})
	spec.expect(typeSpectating, nil)

	// Attempts to set positions: refused, and without effect.
	right.sendRaw(conn.MessageText, []byte(`{"type":"state","data":{"paddles":[{"y":0},{"y":0}]}}`))
	right.expectError(CodeUnknownType)
	right.sendRaw(conn.MessageText, []byte(`{"type":"move","data":{"dir":"up","y":0}}`))
	right.expectError(CodeBadData)
	right.sendRaw(conn.MessageText, []byte(`{"type":"move","data":{"dir":"left"}}`))
	right.expectError(CodeBadData)
	spec.send(typeMove, map[string]any{"dir": "up", "seq": 1})
	spec.expectError(CodeNotAllowed)

	left.send(typeMove, map[string]any{"dir": "up", "seq": 7})
	// The move reaches the game at some tick: the state's Ack says which.
	prev := FieldHeight / 2
	for range 1000 {
		require.True(t, tk.step(t))
		s := right.state()
		assert.Equal(t, FieldHeight/2, s.Paddles[1].Y, "the right paddle never moves")
		if s.Paddles[0].Ack == 0 {
			assert.Equal(t, FieldHeight/2, s.Paddles[0].Y)
			continue
		}
		assert.Equal(t, uint64(7), s.Paddles[0].Ack)
		assert.Equal(t, DirUp, s.Paddles[0].Dir)
		assert.InDelta(t, prev-PaddleSpeed*ts.srv.cfg.Tick.Seconds(), s.Paddles[0].Y, 1e-9, "one tick of movement")
		break
	}
	// Held up, the paddle stops at the wall.
	var s State
	for range 200 {
		tk.step(t)
		s = left.state()
	}
	assert.Equal(t, PaddleHeight/2, s.Paddles[0].Y)
	left.send(typeMove, map[string]any{"dir": "none", "seq": 8})
	for range 1000 {
		tk.step(t)
		if s = left.state(); s.Paddles[0].Ack == 8 {
			break
		}
	}
	assert.Equal(t, DirNone, s.Paddles[0].Dir)
	assert.Equal(t, PaddleHeight/2, s.Paddles[0].Y)
}

// TestAbuse sends each kind of bad message MaxStrikes times from a
// spectator of a running game: each gets an error, the last a close with
// 1008, and the game's states keep coming, unchanged, to the players.
func TestAbuse(t *testing.T) {
	const maxMsg, strikes, burst = 64, 3, 10
	tests := []struct {
		name   string
		before int // good messages sent first (to empty the token bucket)
		raw    []byte
		typ    conn.MessageType
		code   string
	}{
		{"malformed JSON", 0, []byte(`{"type":`), conn.MessageText, CodeBadJSON},
		{"not an object", 0, []byte(`[1,2]`), conn.MessageText, CodeBadJSON},
		{"no type", 0, []byte(`{"data":{}}`), conn.MessageText, CodeBadJSON},
		{"unknown type", 0, []byte(`{"type":"teleport","data":{}}`), conn.MessageText, CodeUnknownType},
		{"binary", 0, []byte(`{"type":"leave"}`), conn.MessageBinary, CodeBadJSON},
		{"oversize", 0, []byte(`{"type":"create","data":{"game":"` + strings.Repeat("x", maxMsg) + `"}}`), conn.MessageText, CodeTooBig},
		{"flood", burst, []byte(`{"type":"join","data":{"game":"nope"}}`), conn.MessageText, CodeRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Config{MaxMessage: maxMsg, MaxStrikes: strikes, Burst: burst, Rate: 1e-6})
			left, right, _, _, tk := ts.startGame(t, "g")
			bad := ts.dial(t)
			var seq uint64
			check := func() {
				t.Helper()
				tk.step(t)
				sl, sr := left.state(), right.state()
				assert.Equal(t, sl, sr)
				if seq != 0 {
					assert.Equal(t, seq+1, sl.Seq, "no tick lost")
				}
				seq = sl.Seq
				assert.Equal(t, StatusPlaying, sl.Status)
				assert.Equal(t, [2]float64{FieldHeight / 2, FieldHeight / 2}, [2]float64{sl.Paddles[0].Y, sl.Paddles[1].Y})
			}
			for range tt.before {
				bad.sendRaw(conn.MessageText, tt.raw)
			}
			for range tt.before {
				bad.expectError(CodeNoSuchGame) // answered, not a strike
			}
			for i := range strikes {
				check()
				bad.sendRaw(tt.typ, tt.raw)
				bad.expectError(tt.code)
				if i < strikes-1 {
					continue
				}
				ce := bad.closed()
				assert.Equal(t, wsframe.ClosePolicyViolation, ce.Code)
			}
			check()
		})
	}
}

// TestReadLimit checks the hard limit: a message over ReadLimit closes the
// connection with 1009 before it is read.
func TestReadLimit(t *testing.T) {
	ts := newTestServer(t, Config{MaxMessage: 64, ReadLimit: 128})
	p := ts.dial(t)
	p.sendRaw(conn.MessageText, bytes.Repeat([]byte("x"), 129))
	assert.Equal(t, wsframe.CloseTooBig, p.closed().Code)
}

// TestStrikesFromPlayerDoNotStopGame checks that a player's bad messages,
// below the limit, change nothing in the game.
func TestStrikesFromPlayerDoNotStopGame(t *testing.T) {
	ts := newTestServer(t, Config{MaxStrikes: 3})
	left, right, _, _, tk := ts.startGame(t, "g")
	for range 2 {
		left.sendRaw(conn.MessageText, []byte(`not json`))
		left.expectError(CodeBadJSON)
		tk.step(t)
		s := right.state()
		assert.Equal(t, StatusPlaying, s.Status)
	}
	left.send(typeMove, map[string]any{"dir": "down", "seq": 1})
	for range 1000 {
		tk.step(t)
		if s := right.state(); s.Paddles[0].Ack == 1 {
			assert.Greater(t, s.Paddles[0].Y, FieldHeight/2)
			return
		}
	}
	t.Fatal("the move was never applied")
}

// TestRejoin cuts a player's connection and brings it back with its token.
func TestRejoin(t *testing.T) {
	ts := newTestServer(t, Config{Grace: 10 * time.Second})
	left, right, wl, wr, tk := ts.startGame(t, "g")
	tk.step(t)
	right.state()

	left.c.CloseNow() // the network goes away
	var od opponentData
	right.expect(typeOpponent, &od)
	assert.Equal(t, "disconnected", od.Event)
	assert.Equal(t, 10.0, od.Grace)
	tk.step(t)
	s := right.state()
	assert.Equal(t, StatusPaused, s.Status)
	ball := s.Ball
	tk.step(t) // paused: nothing moves, nothing is sent
	right.send(typeMove, map[string]any{"dir": "up", "seq": 1})
	tk.step(t)

	back := ts.dial(t)
	back.send(typeRejoin, map[string]string{"game": "g", "token": strings.Repeat("f", 32)})
	back.expectError(CodeBadToken)
	back.send(typeRejoin, map[string]string{"game": "g", "token": wl.Token})
	var w welcome
	back.expect(typeRejoined, &w)
	assert.Equal(t, "left", w.Side)
	assert.Equal(t, wl.Token, w.Token)
	right.expect(typeOpponent, &od)
	assert.Equal(t, "rejoined", od.Event)

	tk.step(t)
	s = back.state()
	assert.Equal(t, StatusPlaying, s.Status)
	assert.Equal(t, ball, s.Ball, "the ball did not move while paused")
	assert.Equal(t, s, right.state())

	// A rejoin with the token of a connected player replaces its
	// connection (the player came back before the server noticed).
	again := ts.dial(t)
	again.send(typeRejoin, map[string]string{"game": "g", "token": wr.Token})
	again.expect(typeRejoined, &w)
	assert.Equal(t, "right", w.Side)
	assert.Equal(t, wsframe.CloseNormal, right.closed().Code)
	back.expect(typeOpponent, &od)
	assert.Equal(t, "rejoined", od.Event)
	tk.step(t)
	assert.Equal(t, StatusPlaying, again.state().Status)
}

// TestForfeit lets the grace period run out.
func TestForfeit(t *testing.T) {
	const grace = 5 * time.Second
	ts := newTestServer(t, Config{Grace: grace})
	left, right, wl, _, tk := ts.startGame(t, "g")
	spec := ts.dial(t)
	spec.send(typeSpectate, map[string]string{"game": "g"})
	spec.expect(typeSpectating, nil)

	left.c.CloseNow()
	right.expect(typeOpponent, nil)
	ts.clock.advance(grace - 2*ts.srv.cfg.Tick)
	require.True(t, tk.step(t)) // one tick short of the grace period
	assert.Equal(t, StatusPaused, right.state().Status)
	require.True(t, tk.step(t))

	var s State
	right.expect(typeState, &s)
	assert.Equal(t, StatusOver, s.Status)
	var over overData
	right.expect(typeOver, &over)
	assert.Equal(t, overData{Winner: "right", Reason: "forfeit", Score: [2]int{}}, over)
	spec.expect(typeOver, &over)
	assert.Equal(t, "forfeit", over.Reason)
	assert.False(t, tk.step(t), "the loop has stopped")

	late := ts.dial(t)
	late.send(typeRejoin, map[string]string{"game": "g", "token": wl.Token})
	late.expectError(CodeNoSuchGame)
	// The name is free again.
	late.send(typeCreate, map[string]string{"game": "g"})
	late.expect(typeCreated, nil)
}

// TestLeave: a player who leaves loses.
func TestLeave(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, right, _, _, _ := ts.startGame(t, "g")
	right.send(typeLeave, nil)
	right.expect(typeLeft, nil)
	var over overData
	left.expect(typeOver, &over)
	assert.Equal(t, "left", over.Winner)
	assert.Equal(t, "left", over.Reason)
}

// TestWin plays a whole game in which the right player never moves.
func TestWin(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, right, _, _, tk := ts.startGame(t, "g")
	var over overData
	for i := 0; ; i++ {
		require.Less(t, i, 100000, "the game never ended")
		if !tk.step(t) {
			break
		}
		if m := left.next(); m.Type == typeOver {
			break
		}
		right.next()
	}
	right.expect(typeOver, &over)
	assert.Equal(t, "score", over.Reason)
	assert.Equal(t, WinScore, max(over.Score[0], over.Score[1]))
}

// TestHeartbeat checks that a client that stops answering pings is
// dropped: the server pings it, then closes with 1001 and hangs up. The
// client here reads the raw TCP stream, so it never answers, and the test
// checks the frames on the wire. Real time drives the heartbeat (it is
// conn's), but no duration is asserted.
func TestHeartbeat(t *testing.T) {
	ts := newTestServer(t, Config{PingInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	dead, _, err := conn.Dial(ctx, ts.url, nil)
	require.NoError(t, err)
	defer dead.CloseNow()
	nc := dead.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(hangGuard)))
	wire, err := io.ReadAll(nc) // until the server hangs up
	require.NoError(t, err)

	var ops []wsframe.Opcode
	var code wsframe.CloseCode
	for len(wire) > 0 {
		h, n, err := wsframe.ParseHeader(wire)
		require.NoError(t, err)
		require.False(t, h.Masked, "server frames are not masked")
		payload := wire[n : n+int(h.Length)]
		wire = wire[n+int(h.Length):]
		ops = append(ops, h.Opcode)
		if h.Opcode == wsframe.OpClose {
			code, _, err = wsframe.ParseClosePayload(payload)
			require.NoError(t, err)
		}
	}
	require.GreaterOrEqual(t, len(ops), 2)
	assert.Equal(t, wsframe.OpPing, ops[0])
	assert.Equal(t, wsframe.OpClose, ops[len(ops)-1])
	assert.Equal(t, wsframe.CloseGoingAway, code)
}

// TestServeHTTP checks the page, its assets, and the endpoint, at the root
// and mounted under a prefix.
func TestServeHTTP(t *testing.T) {
	ps := New(Config{PingInterval: -1})
	t.Cleanup(func() { ps.Shutdown(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle("/", ps)
	mux.Handle("/pong/", http.StripPrefix("/pong", ps))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	tests := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<canvas"},
		{"GET", "/pong/", 200, "text/html; charset=utf-8", "pong.js"},
		{"GET", "/pong", http.StatusTemporaryRedirect, "", ""}, // by ServeMux, to /pong/
		{"GET", "/pong/pong.js", 200, "text/javascript; charset=utf-8", "WebSocket"},
		{"GET", "/pong.css", 200, "text/css; charset=utf-8", "canvas"},
		{"HEAD", "/pong/pong.css", 200, "text/css; charset=utf-8", ""},
		{"GET", "/pong/nope", 404, "", ""},
		{"GET", "/static/pong.js", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"GET", "/ws", 400, "", ""}, // not an upgrade
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, hs.URL+tt.path, nil)
			require.NoError(t, err)
			res, err := client.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			assert.Equal(t, tt.status, res.StatusCode)
			if tt.ctype != "" {
				assert.Equal(t, tt.ctype, res.Header.Get("Content-Type"))
			}
			assert.Contains(t, string(body), tt.contains)
		})
	}

	// The endpoint under the prefix.
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/pong/ws", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte(`{"type":"join","data":{"game":"x"}}`)))
	_, data, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(data), CodeNoSuchGame)
}

// TestShutdown checks that Shutdown closes players with 1001 and refuses
// new connections.
func TestShutdown(t *testing.T) {
	ts := newTestServer(t, Config{})
	left, right, _, _, _ := ts.startGame(t, "g")
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	require.NoError(t, ts.srv.Shutdown(ctx))
	assert.Equal(t, wsframe.CloseGoingAway, left.closed().Code)
	assert.Equal(t, wsframe.CloseGoingAway, right.closed().Code)
	_, res, err := conn.Dial(ctx, ts.url, nil)
	require.Error(t, err)
	if res != nil {
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	}
}
