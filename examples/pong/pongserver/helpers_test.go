package pongserver

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
)

// hangGuard bounds every test so that a bug shows up as a failure instead
// of a hang. It is not a timing assertion: nothing here waits for time to
// pass; the game is stepped by fakeClock.
const hangGuard = 30 * time.Second

// fakeClock is a Clock that only moves when the test says so. Each game's
// ticker is handed to the test through tickers, and a tick is delivered by
// an unbuffered send, so when step returns the game loop has taken it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers chan *fakeTicker
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), tickers: make(chan *fakeTicker, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	t := &fakeTicker{clock: c, d: d, c: make(chan time.Time), stopped: make(chan struct{})}
	c.tickers <- t
	return t
}

type fakeTicker struct {
	clock   *fakeClock
	d       time.Duration
	c       chan time.Time
	once    sync.Once
	stopped chan struct{}
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               { t.once.Do(func() { close(t.stopped) }) }

// step advances the clock by one period and delivers the tick. It reports
// false if the ticker was stopped (the game ended).
func (t *fakeTicker) step(tb testing.TB) bool {
	tb.Helper()
	t.clock.advance(t.d)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	select {
	case t.c <- t.clock.Now():
		return true
	case <-t.stopped:
		return false
	case <-ctx.Done():
		tb.Fatal("the game loop did not take a tick")
		return false
	}
}

// nextTicker returns the ticker of the next game created.
func (c *fakeClock) nextTicker(tb testing.TB) *fakeTicker {
	tb.Helper()
	select {
	case t := <-c.tickers:
		return t
	case <-time.After(hangGuard):
		tb.Fatal("no game loop started")
		return nil
	}
}

// testServer runs a Server with a fake clock on 127.0.0.1.
type testServer struct {
	srv   *Server
	clock *fakeClock
	url   string // ws:// URL of the endpoint
	http  *httptest.Server
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{clock: newFakeClock()}
	if cfg.Clock == nil {
		cfg.Clock = ts.clock
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = -1
	}
	ts.srv = New(cfg)
	ts.http = httptest.NewServer(ts.srv)
	ts.url = "ws" + strings.TrimPrefix(ts.http.URL, "http") + "/ws"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		ts.http.Close()
		require.NoError(t, ts.srv.Shutdown(ctx))
	})
	return ts
}

// msg is a server message as received.
type msg struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	raw  []byte
}

// peer is a test client: a goroutine reads every message into msgs (so
// that pings are answered while the test does something else).
type peer struct {
	t    *testing.T
	c    *conn.Conn
	msgs chan msg
	err  error // the read error that ended the connection, once msgs is closed
}

func (ts *testServer) dial(t *testing.T) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c, _, err := conn.Dial(ctx, ts.url, nil)
	require.NoError(t, err)
	p := &peer{t: t, c: c, msgs: make(chan msg, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.msgs)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				p.err = err
				return
			}
			var m msg
			if json.Unmarshal(data, &m) != nil {
				m.Type = "!unparsable"
			}
			m.raw = data
			p.msgs <- m
		}
	}()
	t.Cleanup(func() {
		c.CloseNow()
		<-done
	})
	return p
}

func (p *peer) send(typ string, data any) {
	p.t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "data": data})
	require.NoError(p.t, err)
	p.sendRaw(conn.MessageText, b)
}

func (p *peer) sendRaw(typ conn.MessageType, b []byte) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	require.NoError(p.t, p.c.Write(ctx, typ, b))
}

// next returns the next message. It fails the test if the connection ends.
func (p *peer) next() msg {
	p.t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			p.t.Fatalf("connection ended: %v", p.err)
		}
		return m
	case <-time.After(hangGuard):
		p.t.Fatal("no message")
		return msg{}
	}
}

// expect skips states until a message of type typ, and decodes its data
// into v (if not nil). Any other message fails the test.
func (p *peer) expect(typ string, v any) msg {
	p.t.Helper()
	for range 10000 {
		m := p.next()
		if m.Type == typeState && typ != typeState {
			continue
		}
		require.Equal(p.t, typ, m.Type, "message %s", m.raw)
		if v != nil {
			require.NoError(p.t, json.Unmarshal(m.Data, v))
		}
		return m
	}
	p.t.Fatalf("no %s message among 10000", typ)
	return msg{}
}

// expectError expects an error message with the given code.
func (p *peer) expectError(code string) {
	p.t.Helper()
	var e errorData
	p.expect(typeError, &e)
	require.Equal(p.t, code, e.Code, "error message %q", e.Message)
	require.NotEmpty(p.t, e.Message)
}

// state returns the next state message.
func (p *peer) state() State {
	p.t.Helper()
	var s State
	p.expect(typeState, &s)
	return s
}

// closed waits for the end of the connection and returns its close code
// as the client saw it.
func (p *peer) closed() conn.CloseError {
	p.t.Helper()
	for range 100000 {
		select {
		case _, ok := <-p.msgs:
			if ok {
				continue
			}
			var ce conn.CloseError
			require.ErrorAs(p.t, p.err, &ce)
			return ce
		case <-time.After(hangGuard):
			p.t.Fatal("the connection did not end")
		}
	}
	p.t.Fatal("the connection did not end")
	return conn.CloseError{}
}

// startGame creates a game with one peer, joins it with another, and
// returns both with their welcomes and the game's ticker.
func (ts *testServer) startGame(t *testing.T, name string) (left, right *peer, wl, wr welcome, tk *fakeTicker) {
	t.Helper()
	left, right = ts.dial(t), ts.dial(t)
	left.send(typeCreate, map[string]string{"game": name})
	left.expect(typeCreated, &wl)
	tk = ts.clock.nextTicker(t)
	right.send(typeJoin, map[string]string{"game": name})
	right.expect(typeJoined, &wr)
	var od opponentData
	left.expect(typeOpponent, &od)
	require.Equal(t, "joined", od.Event)
	return left, right, wl, wr, tk
}
