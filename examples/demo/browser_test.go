//go:build linux

package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/internal/chromium"
)

// browserTimeout bounds the whole test, launch included: a guard against
// hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

type page struct {
	t       *testing.T
	b       *chromium.Browser
	session string
}

func openPage(ctx context.Context, t *testing.T, b *chromium.Browser, url, ready string) *page {
	t.Helper()
	s, err := b.Open(ctx, url, "document.readyState === 'complete' && ("+ready+")", chromium.PageOptions{NewWindow: true, LogErrors: true})
	require.NoError(t, err)
	p := &page{t: t, b: b, session: s}
	require.NoError(t, b.Call(ctx, s, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 1280, "height": 860, "deviceScaleFactor": 1, "mobile": false}, nil))
	return p
}

func (p *page) eval(ctx context.Context, expr string, v any) {
	p.t.Helper()
	require.NoError(p.t, p.b.Eval(ctx, p.session, expr, v))
}

func (p *page) waitFor(ctx context.Context, cond string) {
	p.t.Helper()
	require.NoError(p.t, p.b.WaitFor(ctx, p.session, cond), "waiting for %s", cond)
}

// screenshot saves the page as dir/name when WS6455_SCREENSHOTS names a
// directory: examples/demo/docs holds the pictures made this way.
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

// links returns the page's links: those to this server, each with the
// status a fetch of it gets (after redirects), and the others.
func (p *page) links(ctx context.Context) (local map[string]int, external []string) {
	p.t.Helper()
	var ls []struct {
		Href   string `json:"href"`
		Status int    `json:"status"`
	}
	p.eval(ctx, `Promise.all([...document.querySelectorAll('a[href]')].map(async (a) => {
		if (new URL(a.href).origin !== location.origin) return {href: a.href, status: 0};
		const r = await fetch(a.href);
		await r.arrayBuffer();
		return {href: a.href, status: r.status};
	}))`, &ls)
	local = make(map[string]int)
	for _, l := range ls {
		if l.Status == 0 {
			external = append(external, l.Href)
		} else {
			local[l.Href] = l.Status
		}
	}
	return local, external
}

// TestBrowserDemo loads the index, echo and Pong pages of the demo in
// Chromium: every link on them works (those to this server fetched, those
// to the source well formed), each page links to the index and to its
// source, and nothing any of them loads fails.
func TestBrowserDemo(t *testing.T) {
	bin := chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := chromium.Launch(ctx, t, bin)

	d := newDemo(config{ChatToken: "tok"})
	rl := chromium.NewRequestLog(d)
	_, ts := serveDemo(t, d, rl)
	root := ts.URL + "/"

	checkLinks := func(p *page, source string, want ...string) {
		t.Helper()
		local, external := p.links(ctx)
		for href, status := range local {
			assert.Equal(t, http.StatusOK, status, "link %s", href)
		}
		for _, w := range want {
			assert.Contains(t, local, ts.URL+w, "a link to %s", w)
		}
		assert.Contains(t, external, source, "a link to the source")
		for _, e := range external {
			ok := strings.HasPrefix(e, "https://github.com/ws6455/ws6455") || strings.HasPrefix(e, "https://www.rfc-editor.org/rfc/rfc")
			assert.True(t, ok, "external link %s", e)
		}
	}

	index := openPage(ctx, t, b, root, "true")
	var title string
	index.eval(ctx, `document.querySelector('h1').textContent`, &title)
	assert.Equal(t, "WebSocket for Go, from the wire up", title)
	checkLinks(index, "https://github.com/ws6455/ws6455/tree/main/examples/demo", "/", "/echo/", "/pong/", "/chat/?token=tok", "/lab/")
	index.screenshot(ctx, "index.png")

	echo := openPage(ctx, t, b, root+"echo/", "window.echoDebug && echoDebug.state === 'open'")
	checkLinks(echo, "https://github.com/ws6455/ws6455/tree/main/examples/echo", "/", "/lab/", "/chat/", "/pong/", "/echo/")
	echo.eval(ctx, `(() => {
		const m = document.getElementById('msg');
		m.value = 'Hello, WebSocket'; document.getElementById('send-text').click();
		m.value = 'bytes \u2713'; document.getElementById('send-binary').click();
		m.value = 'Hello again';
		m.dispatchEvent(new Event('input'));
	})()`, nil)
	echo.waitFor(ctx, `document.querySelectorAll('#log .in').length === 2`)
	var hexLine string
	echo.eval(ctx, `document.querySelectorAll('#log .in')[1].textContent`, &hexLine)
	assert.True(t, strings.HasSuffix(hexLine, "binary 9 B62 79 74 65 73 20 e2 9c 93"), "binary echo shown as hex: %q", hexLine)
	echo.screenshot(ctx, "echo.png")

	pong := openPage(ctx, t, b, root+"pong/", "!!window.pongDebug")
	checkLinks(pong, "https://github.com/ws6455/ws6455/tree/main/examples/pong", "/", "/lab/", "/chat/", "/echo/", "/pong/")

	// On a 390-px-wide phone, no page is wider than the screen; in the
	// dark scheme the pages take the dark colours.
	for name, p := range map[string]*page{"index": index, "echo": echo, "pong": pong} {
		require.NoError(t, b.Call(ctx, p.session, "Emulation.setDeviceMetricsOverride",
			map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}, nil))
		var width int
		p.eval(ctx, `new Promise((r) => requestAnimationFrame(() => r(document.documentElement.scrollWidth)))`, &width)
		assert.LessOrEqual(t, width, 390, "%s is wider than a phone", name)
		require.NoError(t, b.Call(ctx, p.session, "Emulation.setEmulatedMedia",
			map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "dark"}}}, nil))
		var bg string
		p.eval(ctx, `getComputedStyle(document.body).backgroundColor`, &bg)
		assert.Equal(t, "rgb(11, 15, 20)", bg, "%s in the dark scheme", name)
		if name == "index" {
			p.screenshot(ctx, "index-phone-dark.png")
		}
	}

	assert.Empty(t, rl.Failed(), "requests that failed")
	for _, p := range b.Problems() {
		t.Errorf("a page reported: %s", p)
	}
}
