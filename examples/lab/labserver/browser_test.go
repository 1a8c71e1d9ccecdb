//go:build linux

package labserver

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/internal/chromium"
	"github.com/ws6455/ws6455/wsframe"
)

// The lab's flows in a real headless Chromium, driven through DevTools by
// internal/chromium (whose client is this repository's own conn).

// browserTimeout bounds the whole test, launch included: a guard against
// hangs, not an assertion about speed.
const browserTimeout = 3 * time.Minute

// screenshotsEnv names a directory where the test saves screenshots of the
// lab (the ones in examples/lab/docs were made with
// LAB_SCREENSHOTS=../docs go test -run Browser ./examples/lab/labserver).
const screenshotsEnv = "LAB_SCREENSHOTS"

// browserFrame is a frame report as the page keeps it.
type browserFrame struct {
	Dir      string `json:"dir"`
	Fin      bool   `json:"fin"`
	Rsv1     bool   `json:"rsv1"`
	Opcode   int    `json:"opcode"`
	Masked   bool   `json:"masked"`
	Key      string `json:"key"`
	Len      int64  `json:"len"`
	LenForm  string `json:"lenForm"`
	Header   string `json:"header"`
	Payload  string `json:"payload"`
	Unmasked string `json:"unmasked"`
}

type tab struct {
	t       *testing.T
	b       *chromium.Browser
	session string
}

func (p *tab) eval(ctx context.Context, expr string, v any) {
	p.t.Helper()
	require.NoError(p.t, p.b.Eval(ctx, p.session, expr, v))
}

func (p *tab) waitFor(ctx context.Context, cond string) {
	p.t.Helper()
	require.NoError(p.t, p.b.WaitFor(ctx, p.session, cond), "waiting for %s", cond)
}

// frames returns the page's frame reports.
func (p *tab) frames(ctx context.Context) []browserFrame {
	p.t.Helper()
	var fs []browserFrame
	p.eval(ctx, `labDebug.frames`, &fs)
	return fs
}

// screenshot saves the page region of the element with id from (down to
// the bottom of the element with id to) as a PNG in dir.
func (p *tab) screenshot(ctx context.Context, dir, name, from, to string) {
	p.t.Helper()
	var clip struct{ X, Y, W, H float64 }
	p.eval(ctx, `(() => { const a = document.getElementById('`+from+`').getBoundingClientRect(), b = document.getElementById('`+to+`').getBoundingClientRect();
		return {X: 0, Y: a.top + scrollY - 8, W: document.documentElement.clientWidth, H: b.bottom - a.top + 16}; })()`, &clip)
	var res struct {
		Data string `json:"data"`
	}
	require.NoError(p.t, p.b.Call(ctx, p.session, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": clip.X, "y": clip.Y, "width": clip.W, "height": clip.H, "scale": 1},
	}, &res))
	png, err := base64.StdEncoding.DecodeString(res.Data)
	require.NoError(p.t, err)
	require.NoError(p.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

func TestBrowserLab(t *testing.T) {
	bin := chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	srv := New(Config{})
	log := chromium.NewRequestLog(srv)
	hs := httptest.NewUnstartedServer(log)
	hs.Listener = CountingListener(hs.Listener)
	hs.Config.ConnContext = ConnContext
	hs.Start()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
		hs.Close()
	})
	t.Cleanup(func() {
		for _, p := range b.Problems() {
			t.Errorf("the page reported: %s", p)
		}
	})

	s, err := b.Open(ctx, hs.URL+"/", `document.readyState === 'complete' && window.labDebug && labDebug.connected && labDebug.acceptMatch !== null`,
		chromium.PageOptions{NewWindow: true, LogErrors: true})
	require.NoError(t, err)
	p := &tab{t: t, b: b, session: s}
	require.NoError(t, b.Call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil))
	// A page in the background gets its timers slowed down (to one a
	// second), which would make the short polls a measure of that.
	require.NoError(t, b.Call(ctx, s, "Page.bringToFront", struct{}{}, nil))
	require.NoError(t, b.Call(ctx, s, "Emulation.setFocusEmulationEnabled", map[string]any{"enabled": true}, nil))

	// The handshake: the page's own SHA-1 and base64 agree with the
	// server's answer, which it shows as written.
	var hsk struct {
		Match    bool   `json:"match"`
		Response string `json:"response"`
		Accept   string `json:"accept"`
	}
	p.eval(ctx, `({match: labDebug.acceptMatch, response: labDebug.handshake.response, accept: document.getElementById('a-b64').textContent})`, &hsk)
	assert.True(t, hsk.Match, "page-computed Sec-WebSocket-Accept matches the server's")
	assert.Contains(t, hsk.Response, "HTTP/1.1 101 Switching Protocols\r\n")
	assert.Contains(t, hsk.Response, "Sec-WebSocket-Accept: "+hsk.Accept+"\r\n")

	// A text message: the browser's frame is masked, the echo is not, and
	// the bytes shown are the wire bytes.
	p.eval(ctx, `document.getElementById('text').value = 'Hello, lab'; document.querySelector('#text-form button').click()`, nil)
	p.waitFor(ctx, `labDebug.frames.some(f => f.dir === 'out' && f.opcode === 1)`)
	var in, out *browserFrame
	for _, f := range p.frames(ctx) {
		if f.Opcode == 1 && f.Dir == "in" && in == nil {
			in = &f
		}
		if f.Opcode == 1 && f.Dir == "out" && out == nil {
			out = &f
		}
	}
	require.NotNil(t, in)
	require.NotNil(t, out)
	assert.True(t, in.Masked)
	assert.True(t, in.Fin)
	assert.Equal(t, int64(10), in.Len)
	assert.Equal(t, hex.EncodeToString([]byte("Hello, lab")), in.Unmasked)
	key, err := hex.DecodeString(in.Key)
	require.NoError(t, err)
	require.Len(t, key, 4)
	masked := []byte("Hello, lab")
	wsframe.Mask([4]byte(key), 0, masked)
	assert.Equal(t, hex.EncodeToString(masked), in.Payload, "payload shown as masked on the wire")
	assert.Equal(t, "818a"+in.Key, in.Header)
	assert.False(t, out.Masked)
	assert.Equal(t, "810a", out.Header)
	assert.Equal(t, in.Unmasked, out.Payload)

	// Binary, a ping (answered by the browser), a fragmented message, and
	// a message long enough for the 64-bit length form.
	p.eval(ctx, `document.getElementById('bin').value = '00 ff 10'; document.querySelector('#bin-form button').click()`, nil)
	p.waitFor(ctx, `labDebug.frames.some(f => f.dir === 'out' && f.opcode === 2)`)
	p.eval(ctx, `document.getElementById('ping').click()`, nil)
	p.waitFor(ctx, `labDebug.frames.some(f => f.dir === 'in' && f.opcode === 10 && f.masked)`)
	p.eval(ctx, `document.getElementById('frag').click()`, nil)
	p.waitFor(ctx, `labDebug.frames.some(f => f.dir === 'out' && f.opcode === 0 && f.fin)`)
	p.eval(ctx, `document.getElementById('big').click()`, nil)
	p.waitFor(ctx, `labDebug.messages.some(m => m.dir === 'out' && m.len === 70000)`)

	var binFrame, ping, pong *browserFrame
	var fragments []browserFrame
	var big []browserFrame
	for _, f := range p.frames(ctx) {
		switch {
		case f.Opcode == 2 && f.Dir == "in" && f.Len == 3:
			binFrame = &f
		case f.Opcode == 9 && f.Dir == "out":
			ping = &f
		case f.Opcode == 10 && f.Dir == "in":
			pong = &f
		case f.Dir == "out" && f.Len == 70000:
			big = append(big, f)
		case f.Dir == "out" && (f.Opcode == 0 || f.Opcode == 1 && !f.Fin):
			fragments = append(fragments, f)
		}
	}
	require.NotNil(t, binFrame)
	assert.Equal(t, "00ff10", binFrame.Unmasked)
	require.NotNil(t, ping)
	require.NotNil(t, pong)
	assert.Equal(t, ping.Payload, pong.Unmasked, "the pong echoes the ping's payload")
	require.Len(t, fragments, 3, "40 000 bytes in 16 KiB fragments")
	assert.Equal(t, 1, fragments[0].Opcode)
	assert.False(t, fragments[0].Fin)
	assert.Equal(t, "017e4000", fragments[0].Header, "16-bit length form: 16384")
	assert.Equal(t, "16-bit", fragments[0].LenForm)
	assert.True(t, fragments[2].Fin)
	require.Len(t, big, 1)
	assert.Equal(t, "64-bit", big[0].LenForm)
	assert.Equal(t, "827f0000000000011170", big[0].Header)

	// Screenshot: the handshake and the first frames.
	if dir := os.Getenv(screenshotsEnv); dir != "" {
		p.eval(ctx, `document.getElementById('frames').scrollTop = 0`, nil)
		p.screenshot(ctx, dir, "lab-frames.png", "watch", "frames")
		// And the control frames and fragments further down.
		p.eval(ctx, `(() => { const f = document.getElementById('frames'), e = f.querySelector('[data-op="9"]'); f.scrollTop = e.offsetTop - f.offsetTop; })()`, nil)
		p.screenshot(ctx, dir, "lab-frames-control.png", "frames-h", "frames")
	}

	// Compression: reconnect with permessage-deflate, and the browser's
	// message arrives with RSV1 set, its deflate bytes shown.
	p.eval(ctx, `document.getElementById('deflate').click()`, nil)
	p.waitFor(ctx, `labDebug.connected && labDebug.handshake.response.includes('permessage-deflate')`)
	p.eval(ctx, `document.getElementById('text').value = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'; document.querySelector('#text-form button').click()`, nil)
	p.waitFor(ctx, `labDebug.messages.some(m => m.dir === 'in' && m.compressed && m.len === 40)`)
	var comp struct {
		Wire   int64 `json:"wire"`
		RSV1In bool  `json:"rsv1in"`
	}
	p.eval(ctx, `({wire: labDebug.messages.find(m => m.dir === 'in' && m.compressed).wire,
		rsv1in: labDebug.frames.some(f => f.dir === 'in' && f.opcode === 1 && f.rsv1 && f.masked)})`, &comp)
	assert.True(t, comp.RSV1In)
	assert.Less(t, comp.Wire, int64(40), "40 equal bytes deflate to fewer")

	// Close from the browser with a chosen code.
	p.eval(ctx, `document.getElementById('code').value = '4000'; document.getElementById('reason').value = 'done here'; document.getElementById('bclose').click()`, nil)
	p.waitFor(ctx, `labDebug.frames.some(f => f.dir === 'in' && f.opcode === 8) && !labDebug.connected`)
	var closeIn browserFrame
	p.eval(ctx, `labDebug.frames.filter(f => f.dir === 'in' && f.opcode === 8).pop()`, &closeIn)
	assert.Equal(t, hex.EncodeToString(append([]byte{0x0f, 0xa0}, "done here"...)), closeIn.Unmasked)

	// The measurement: every transport delivers every message, and the
	// chart is drawn.
	// (The screenshots show a run with the page's defaults: 200 messages.)
	n := 200
	if os.Getenv(screenshotsEnv) == "" {
		n = 60
		p.eval(ctx, `document.getElementById('m-n').value = '60'; document.getElementById('m-every').value = '10'; document.getElementById('m-poll').value = '50'`, nil)
	}
	p.eval(ctx, `document.getElementById('m-run').click()`, nil)
	p.waitFor(ctx, `labDebug.chartDrawn`)
	var m struct {
		Results []struct {
			Result
			Received int `json:"received"`
		} `json:"results"`
		Rects int `json:"rects"`
	}
	p.eval(ctx, `({results: labDebug.results.results, rects: document.querySelectorAll('#m-out svg rect').length})`, &m)
	require.Len(t, m.Results, 4)
	for _, r := range m.Results {
		assert.Equal(t, n, r.Received, r.Transport)
		assert.Equal(t, n, r.Delivered, r.Transport)
		assert.Equal(t, "socket", r.Counted, r.Transport)
		assert.Greater(t, r.Up+r.Down, r.Payload, r.Transport)
		switch r.Transport {
		case "ws", "sse":
			assert.Equal(t, 1, r.Requests, r.Transport)
		default:
			assert.GreaterOrEqual(t, r.Requests, 1, r.Transport)
		}
	}
	assert.GreaterOrEqual(t, m.Rects, 4+4+4)
	if dir := os.Getenv(screenshotsEnv); dir != "" {
		p.screenshot(ctx, dir, "lab-overhead.png", "measure", "m-out")
		if os.Getenv("LAB_SCREENSHOTS_DARK") != "" {
			require.NoError(t, b.Call(ctx, s, "Emulation.setEmulatedMedia", map[string]any{
				"features": []map[string]string{{"name": "prefers-color-scheme", "value": "dark"}}}, nil))
			p.screenshot(ctx, dir, "lab-overhead-dark.png", "measure", "m-out")
			p.screenshot(ctx, dir, "lab-frames-dark.png", "watch", "frames")
		}
	}

	assert.Empty(t, log.Failed(), "requests that failed")
}
