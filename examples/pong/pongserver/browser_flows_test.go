//go:build linux

package pongserver

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/internal/chromium"
)

// screenshot saves the page as dir/name when WS6455_SCREENSHOTS names a
// directory (the pictures in examples/demo/docs are made this way).
func (p *page) screenshot(ctx context.Context, name string) {
	p.t.Helper()
	dir := os.Getenv("WS6455_SCREENSHOTS")
	if dir == "" {
		return
	}
	var shot struct {
		Data string `json:"data"`
	}
	require.NoError(p.t, p.b.Call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot))
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	require.NoError(p.t, err)
	require.NoError(p.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

// TestBrowserPongFlows plays the lobby and the end of a game in two real
// browser pages: Enter creates, the share link joins, the list of open
// games shows the game, the countdown runs before the first serve, a
// reload takes the seat back, the game-over screen says who won, a rematch
// starts a new game when both ask, and a player who leaves is reported as
// such.
func TestBrowserPongFlows(t *testing.T) {
	bin := chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	srv := New(Config{Grace: time.Minute, PingInterval: -1})
	rl := chromium.NewRequestLog(srv)
	hs := httptest.NewServer(rl)
	t.Cleanup(func() {
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	})

	alice := open(ctx, t, b, hs.URL+"/")
	require.NoError(t, b.Call(ctx, alice.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 1280, "height": 820, "deviceScaleFactor": 1, "mobile": false}, nil))
	// Enter in the name field creates the game (nobody waits in it).
	alice.eval(ctx, `(() => { const n = document.getElementById('game-name'); n.value = 'friday'; n.focus(); })()`, nil)
	for _, typ := range []string{"keyDown", "keyUp"} {
		params := map[string]any{"type": typ, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
		if typ == "keyDown" {
			params["text"] = "\r"
		}
		require.NoError(t, b.Call(ctx, alice.session, "Input.dispatchKeyEvent", params, nil))
	}
	alice.waitFor(ctx, `pongDebug.side === 'left' && pongDebug.token.length === 32`)
	var share string
	alice.eval(ctx, `document.getElementById('share-url').value`, &share)
	assert.Equal(t, hs.URL+"/#join=friday", share)

	// Someone else sees it in the list of open games, with a Join button.
	carol := open(ctx, t, b, hs.URL+"/")
	carol.waitFor(ctx, `[...document.querySelectorAll('#games li')].some((li) => li.textContent === 'fridayneeds a playerJoin')`)

	// The share link joins; the game starts with a countdown.
	bob := open(ctx, t, b, share)
	bob.waitFor(ctx, `pongDebug.side === 'right' && pongDebug.status === 'playing'`)
	alice.waitFor(ctx, `pongDebug.status === 'playing' && pongDebug.countdown >= 1`)

	// Bob closes his tab: a new tab offers him his seat,
	// and takes it.
	var info struct {
		TargetInfo struct {
			TargetID string `json:"targetId"`
		} `json:"targetInfo"`
	}
	require.NoError(t, b.Call(ctx, bob.session, "Target.getTargetInfo", map[string]any{}, &info))
	require.NoError(t, b.Call(ctx, "", "Target.closeTarget", map[string]any{"targetId": info.TargetInfo.TargetID}, nil))
	alice.waitFor(ctx, `pongDebug.status === 'paused'`)
	bob = open(ctx, t, b, hs.URL+"/")
	bob.waitFor(ctx, `!document.getElementById('resume').hidden && document.getElementById('resume-name').textContent === '"friday" (right)'`)
	bob.eval(ctx, `document.getElementById('resume-btn').click()`, nil)
	bob.waitFor(ctx, `pongDebug.rejoins === 1 && pongDebug.side === 'right' && pongDebug.status === 'playing'`)

	// A third tab takes the seat from a live one: the one that lost it
	// says so and leaves the game rather than fight back.
	bob3 := open(ctx, t, b, hs.URL+"/")
	bob3.waitFor(ctx, `!document.getElementById('resume').hidden`)
	bob3.eval(ctx, `document.getElementById('resume-btn').click()`, nil)
	bob3.waitFor(ctx, `pongDebug.rejoins === 1 && pongDebug.side === 'right' && pongDebug.status === 'playing'`)
	bob.waitFor(ctx, `!pongDebug.connected && document.getElementById('status').textContent.startsWith('Your seat was taken back from another tab')`)
	var reconnects int
	bob.eval(ctx, `pongDebug.reconnects`, &reconnects)
	assert.Zero(t, reconnects, "the tab that lost its seat does not reconnect")
	bob = bob3

	// A reload takes the seat back: the token was kept in sessionStorage.
	g, err := srv.lookup("friday")
	require.NoError(t, err)
	g.mu.Lock()
	before := g.players[0]
	g.mu.Unlock()
	var token string
	alice.eval(ctx, `pongDebug.token`, &token)
	require.NoError(t, b.Call(ctx, alice.session, "Page.reload", map[string]any{}, nil))
	alice.waitFor(ctx, `window.pongDebug && pongDebug.rejoins === 1 && pongDebug.side === 'left' && pongDebug.status === 'playing'`)
	var after string
	alice.eval(ctx, `pongDebug.token`, &after)
	assert.Equal(t, token, after, "the same seat")
	g.mu.Lock()
	now := g.players[0]
	g.mu.Unlock()
	assert.NotSame(t, before, now, "the reloaded page holds the left seat")
	bob.waitFor(ctx, `document.getElementById('status').textContent === 'Your opponent is back.'`)

	// The left player scores the last point: the game-over screen.
	g.mu.Lock()
	g.phys.Score = [2]int{WinScore - 1, 7}
	g.phys.serve = 0
	g.phys.Ball = Ball{X: FieldWidth + BallSize - 1, Y: 40, VX: BallSpeed}
	g.mu.Unlock()
	alice.waitFor(ctx, `pongDebug.over && pongDebug.over.winner === 'left' && !document.getElementById('over-actions').hidden`)
	bob.waitFor(ctx, `pongDebug.over && pongDebug.over.reason === 'score'`)
	var status string
	alice.eval(ctx, `document.getElementById('status').textContent`, &status)
	assert.Equal(t, "You win! First to 11 points.", status)
	bob.eval(ctx, `document.getElementById('status').textContent`, &status)
	assert.Equal(t, "You lose. First to 11 points.", status)
	alice.screenshot(ctx, "pong.png")

	// Rematch: Bob asks with the button, Alice accepts with R.
	bob.eval(ctx, `document.getElementById('rematch').click()`, nil)
	alice.waitFor(ctx, `pongDebug.opponentRematch && document.getElementById('rematch').textContent === 'Accept rematch'`)
	alice.key(ctx, "keyDown", "KeyR", 82)
	alice.key(ctx, "keyUp", "KeyR", 82)
	for _, p := range []*page{alice, bob} {
		p.waitFor(ctx, `pongDebug.rematches === 1 && pongDebug.status === 'playing' && !pongDebug.over && document.getElementById('over-actions').hidden`)
	}
	var kept string
	alice.eval(ctx, `JSON.parse(sessionStorage.getItem('pong.session')).token + ' ' + pongDebug.token`, &kept)
	assert.Regexp(t, `^([0-9a-f]{32}) ([0-9a-f]{32})$`, kept)
	assert.Equal(t, kept[:32], kept[33:], "the new token is kept for a reload")
	assert.NotEqual(t, token, kept[:32], "a new token for the new game")

	// Bob leaves: Alice is told, in words that cannot be misread.
	bob.eval(ctx, `document.getElementById('leave').click()`, nil)
	alice.waitFor(ctx, `pongDebug.over && pongDebug.over.reason === 'left'`)
	alice.eval(ctx, `document.getElementById('status').textContent`, &status)
	assert.Equal(t, "You win! Your opponent left the game.", status)
	alice.waitFor(ctx, `document.getElementById('rematch').disabled && document.getElementById('rematch').textContent === 'Opponent left'`)

	assert.Empty(t, rl.Failed(), "requests that failed")
	for _, p := range b.Problems() {
		t.Errorf("the page reported: %s", p)
	}
}
