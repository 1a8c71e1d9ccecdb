//go:build linux

package pongserver

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/internal/chromium"
)

// The end-to-end test drives a real headless Chromium through the DevTools
// protocol, which is JSON over WebSocket: our own conn client speaks it
// (see internal/chromium).

// browserTimeout bounds the whole end-to-end test (launch included). It is
// a guard against hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

// page is one browser tab. Its methods fail the test on errors.
type page struct {
	t       *testing.T
	b       *chromium.Browser
	session string
}

func open(ctx context.Context, t *testing.T, b *chromium.Browser, url string) *page {
	t.Helper()
	s, err := b.Open(ctx, url, "document.readyState === 'complete' && !!window.pongDebug",
		chromium.PageOptions{NewWindow: true, LogErrors: true})
	require.NoError(t, err)
	return &page{t: t, b: b, session: s}
}

// eval evaluates a JavaScript expression in the page (awaiting it if it is
// a promise) and decodes its value into v.
func (p *page) eval(ctx context.Context, expr string, v any) {
	p.t.Helper()
	require.NoError(p.t, p.b.Eval(ctx, p.session, expr, v))
}

// waitFor waits until a JavaScript condition holds in the page.
func (p *page) waitFor(ctx context.Context, cond string) {
	p.t.Helper()
	require.NoError(p.t, p.b.WaitFor(ctx, p.session, cond), "waiting for %s", cond)
}

func (p *page) key(ctx context.Context, typ, code string, vk int) {
	p.t.Helper()
	require.NoError(p.t, p.b.Call(ctx, p.session, "Input.dispatchKeyEvent", map[string]any{
		"type": typ, "code": code, "key": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk,
	}, nil))
}

// watcher is a spectator on our side: it reads the game's states.
type watcher struct {
	t *testing.T
	c *conn.Conn
}

// until reads states until cond holds, and returns that state.
func (w *watcher) until(ctx context.Context, what string, cond func(State) bool) State {
	w.t.Helper()
	for {
		_, data, err := w.c.Read(ctx)
		require.NoError(w.t, err, "waiting for %s", what)
		var m struct {
			Type string `json:"type"`
			Data State  `json:"data"`
		}
		require.NoError(w.t, json.Unmarshal(data, &m))
		if m.Type == typeState && cond(m.Data) {
			return m.Data
		}
	}
}

func TestBrowserEndToEnd(t *testing.T) {
	bin := chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	srv := New(Config{Grace: time.Minute, PingInterval: -1})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	})
	t.Cleanup(func() {
		for _, p := range b.Problems() {
			t.Errorf("the page reported: %s", p)
		}
	})

	alice := open(ctx, t, b, hs.URL+"/")
	bob := open(ctx, t, b, hs.URL+"/")

	// Lobby through the page's own controls.
	alice.eval(ctx, `document.getElementById('game-name').value = 'e2e'; document.getElementById('create').click()`, nil)
	alice.waitFor(ctx, `pongDebug.side === 'left' && pongDebug.token.length === 32`)
	bob.eval(ctx, `document.getElementById('game-name').value = 'e2e'; document.getElementById('join').click()`, nil)
	bob.waitFor(ctx, `pongDebug.side === 'right'`)
	alice.waitFor(ctx, `pongDebug.status === 'playing'`)
	bob.waitFor(ctx, `pongDebug.status === 'playing'`)

	wc, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	require.NoError(t, err)
	defer wc.CloseNow()
	require.NoError(t, wc.Write(ctx, conn.MessageText, []byte(`{"type":"spectate","data":{"game":"e2e"}}`)))
	w := &watcher{t: t, c: wc}

	// Bob holds the up arrow: the server moves the right paddle up.
	bob.key(ctx, "keyDown", "ArrowUp", 38)
	s := w.until(ctx, "the right paddle to go up", func(s State) bool {
		return s.Paddles[1].Dir == DirUp && s.Paddles[1].Y < FieldHeight/2-3*PaddleSpeed/60
	})
	assert.Equal(t, FieldHeight/2, s.Paddles[0].Y, "the left paddle did not move")
	assert.GreaterOrEqual(t, s.Paddles[1].Ack, uint64(1))

	// The page draws the state: its predicted paddle went up too, frames
	// are being drawn, and the pixel at its own paddle has the paddle's
	// colour while the corner has the field's.
	bob.waitFor(ctx, `pongDebug.ownY < 250 - 20 && pongDebug.drawnSeq > 0`)
	var drawn struct {
		Frames int    `json:"frames"`
		Seq    uint64 `json:"seq"`
		Paddle []int  `json:"paddle"`
		Corner []int  `json:"corner"`
	}
	bob.eval(ctx, `(() => {
		const d = pongDebug, g = document.getElementById('field').getContext('2d');
		const px = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data);
		return {frames: d.frames, seq: d.drawnSeq, paddle: px(d.ownPaddlePx.x, d.ownPaddlePx.y), corner: px(2, 2)};
	})()`, &drawn)
	assert.Positive(t, drawn.Frames)
	assert.Positive(t, drawn.Seq)
	assert.Equal(t, []int{0x4f, 0xc3, 0xf7, 255}, drawn.Paddle, "own paddle drawn in its colour")
	assert.Equal(t, []int{0, 0, 0, 255}, drawn.Corner, "field background")

	bob.key(ctx, "keyUp", "ArrowUp", 38)
	w.until(ctx, "the right paddle to stop", func(s State) bool { return s.Paddles[1].Dir == DirNone })

	// Cut Alice's connection on the server side: her page must notice,
	// reconnect with backoff, and rejoin with its token.
	g, err := srv.lookup("e2e")
	require.NoError(t, err)
	g.mu.Lock()
	old := g.players[0]
	g.mu.Unlock()
	require.NotNil(t, old)
	old.c.CloseNow()
	alice.waitFor(ctx, `pongDebug.rejoins >= 1 && pongDebug.connected && pongDebug.status === 'playing'`)
	var dbg struct {
		Reconnects int `json:"reconnects"`
	}
	alice.eval(ctx, `pongDebug`, &dbg)
	assert.GreaterOrEqual(t, dbg.Reconnects, 1)
	g.mu.Lock()
	now := g.players[0]
	g.mu.Unlock()
	assert.NotNil(t, now)
	assert.NotSame(t, old, now, "a new connection holds the left seat")

	// And after the rejoin Alice still steers her paddle.
	alice.key(ctx, "keyDown", "KeyS", 83)
	w.until(ctx, "the left paddle to go down", func(s State) bool {
		return s.Paddles[0].Dir == DirDown && s.Paddles[0].Y > FieldHeight/2+3*PaddleSpeed/60
	})
	alice.key(ctx, "keyUp", "KeyS", 83)

	// The offline mode against the computer runs in the page alone.
	solo := open(ctx, t, b, hs.URL+"/")
	solo.eval(ctx, `document.querySelector('[data-mode=computer]').click()`, nil)
	solo.waitFor(ctx, `pongDebug.mode === 'computer' && pongDebug.ownY === 250`)
	solo.key(ctx, "keyDown", "KeyS", 83)
	solo.waitFor(ctx, `pongDebug.ownY > 300`)
	solo.key(ctx, "keyUp", "KeyS", 83)
}
