//go:build linux

package pongserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
)

// The end-to-end test drives a real headless Chromium through the DevTools
// protocol, which is JSON over WebSocket: our own conn client speaks it.

// browserTimeout bounds the whole end-to-end test (launch included). It is
// a guard against hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a running Chromium and a DevTools connection to it.
type browser struct {
	t  *testing.T
	c  *conn.Conn
	mu sync.Mutex
	id int64
	// waiting maps a command id to the channel its response goes to.
	waiting map[int64]chan cdpMessage
	// problems collects exceptions thrown and errors logged by the pages.
	problems []string
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startBrowser launches Chromium and connects to its DevTools endpoint.
// Cleanup kills the browser's whole process group.
func startBrowser(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		t.Skip("no chromium binary found (Debian: apt-get install chromium): skipping the browser end-to-end test")
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-port=0",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// Browser.close (sent by the cleanup below) lets Chromium end its
		// helper processes itself; whatever is left is killed, by group.
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	// Read stderr for the DevTools URL, and keep draining it afterwards so
	// that the browser never blocks on a full pipe.
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-ctx.Done():
		t.Fatal("chromium did not print its DevTools address")
	}

	c, _, err := conn.Dial(ctx, wsURL, &conn.DialOptions{ReadLimit: 64 << 20})
	require.NoError(t, err)
	b := &browser{t: t, c: c, waiting: make(map[int64]chan cdpMessage)}
	done := make(chan struct{})
	go b.readLoop(done)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.call(cctx, "", "Browser.close", struct{}{}, nil)
		c.CloseNow()
		<-done
	})
	return b
}

func (b *browser) readLoop(done chan struct{}) {
	defer close(done)
	for {
		_, data, err := b.c.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.waiting[m.ID]; ok {
				ch <- m
				delete(b.waiting, m.ID)
			}
		} else if m.Method == "Runtime.exceptionThrown" || m.Method == "Log.entryAdded" && isError(m.Params) {
			b.problems = append(b.problems, string(m.Params))
		}
		b.mu.Unlock()
	}
}

// isError reports whether a Log.entryAdded event is an error (warnings,
// such as advice about canvas readback, are not problems of the page).
func isError(params json.RawMessage) bool {
	var e struct {
		Entry struct {
			Level string `json:"level"`
		} `json:"entry"`
	}
	return json.Unmarshal(params, &e) == nil && e.Entry.Level == "error"
}

// call sends a DevTools command (to a page when session is set) and
// decodes its result into result.
func (b *browser) call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	b.id++
	id := b.id
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: raw})
	if err != nil {
		return err
	}
	if err := b.c.Write(ctx, conn.MessageText, msg); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return errors.New("devtools connection closed")
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is one browser tab, attached with a flat session.
type page struct {
	b       *browser
	session string
}

func (b *browser) open(ctx context.Context, url string) *page {
	b.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	require.NoError(b.t, b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "newWindow": true}, &target))
	var att struct {
		SessionID string `json:"sessionId"`
	}
	require.NoError(b.t, b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att))
	p := &page{b: b, session: att.SessionID}
	require.NoError(b.t, b.call(ctx, p.session, "Runtime.enable", struct{}{}, nil))
	require.NoError(b.t, b.call(ctx, p.session, "Log.enable", struct{}{}, nil))
	require.NoError(b.t, b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, nil))
	p.waitFor(ctx, "document.readyState === 'complete' && !!window.pongDebug")
	return p
}

// eval evaluates a JavaScript expression in the page (awaiting it if it is
// a promise) and decodes its value into v.
func (p *page) eval(ctx context.Context, expr string, v any) {
	p.b.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &res)
	require.NoError(p.b.t, err, "evaluating %s", expr)
	if res.ExceptionDetails != nil {
		p.b.t.Fatalf("evaluating %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if v != nil {
		require.NoError(p.b.t, json.Unmarshal(res.Result.Value, v), "value %s", res.Result.Value)
	}
}

// waitFor waits until a JavaScript condition holds in the page. The page
// polls it and answers once, so the test does not sleep.
func (p *page) waitFor(ctx context.Context, cond string) {
	p.b.t.Helper()
	p.eval(ctx, `new Promise((resolve) => { const f = () => { let ok = false; try { ok = !!(`+cond+`); } catch {} ok ? resolve(true) : setTimeout(f, 20); }; f(); })`, nil)
}

func (p *page) key(ctx context.Context, typ, code string, vk int) {
	p.b.t.Helper()
	require.NoError(p.b.t, p.b.call(ctx, p.session, "Input.dispatchKeyEvent", map[string]any{
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
	if testing.Short() {
		t.Skip("-short: skipping the browser end-to-end test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := startBrowser(ctx, t)

	srv := New(Config{Grace: time.Minute, PingInterval: -1})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	})
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("the page reported: %s", p)
		}
	})

	alice := b.open(ctx, hs.URL+"/")
	bob := b.open(ctx, hs.URL+"/")

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
	solo := b.open(ctx, hs.URL+"/")
	solo.eval(ctx, `document.querySelector('[data-mode=computer]').click()`, nil)
	solo.waitFor(ctx, `pongDebug.mode === 'computer' && pongDebug.ownY === 250`)
	solo.key(ctx, "keyDown", "KeyS", 83)
	solo.waitFor(ctx, `pongDebug.ownY > 300`)
	solo.key(ctx, "keyUp", "KeyS", 83)
}
