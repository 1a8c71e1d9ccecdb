package main

import (
	"context"
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

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 20 * time.Second

func startDemo(t *testing.T) (*demo, *httptest.Server) {
	t.Helper()
	return serveDemo(t, newDemo(config{ChatToken: "tok"}), nil)
}

// serveDemo serves d on 127.0.0.1 as main does (with the lab's counting
// listener) until the test ends; h, if not nil, serves in its place (a
// wrapper of d).
func serveDemo(t *testing.T, d *demo, h http.Handler) (*demo, *httptest.Server) {
	t.Helper()
	if h == nil {
		h = d
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = listener(ts.Listener)
	configure(ts.Config)
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		d.Shutdown(ctx)
		ts.Close()
	})
	return d, ts
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestPages(t *testing.T) {
	_, ts := startDemo(t)
	tests := []struct {
		path     string
		contains []string
	}{
		{"/", []string{`href="echo/"`, `href="chat/?token=tok"`, `href="pong/"`, "ws://" + strings.TrimPrefix(ts.URL, "http://") + "/echo/echo"}},
		{"/echo/", []string{"new URL('echo', location.href)"}},
		{"/chat/", []string{"new URL('ws', location.href)"}},
		{"/pong/", []string{"<html"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, ts.URL+tt.path)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
			for _, s := range tt.contains {
				assert.Contains(t, body, s)
			}
		})
	}
	// Without the trailing slash, the page's relative URLs would resolve
	// one level too high: the mux redirects.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/echo", "/chat", "/pong"} {
		resp, err := client.Get(ts.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		// 301 up to Go 1.25, 307 from Go 1.26.
		assert.Contains(t, []int{http.StatusMovedPermanently, http.StatusTemporaryRedirect}, resp.StatusCode, p)
		assert.Equal(t, p+"/", resp.Header.Get("Location"), p)
	}
	resp, _ := get(t, ts.URL+"/nope")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func dial(t *testing.T, url string) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readJSON(t *testing.T, c *conn.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, p, err := c.Read(ctx)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(p, &m), "%s", p)
	return m
}

// TestWebSockets reaches each example's WebSocket under its prefix, then
// shuts the demo down: every client gets 1001.
func TestWebSockets(t *testing.T) {
	d, ts := startDemo(t)
	ws := "ws" + strings.TrimPrefix(ts.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	echo := dial(t, ws+"/echo/echo")
	require.NoError(t, echo.Write(ctx, conn.MessageText, []byte("hi")))
	_, p, err := echo.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(p))

	_, resp, err := conn.Dial(ctx, ws+"/chat/ws?nick=ada&token=wrong", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	chat := dial(t, ws+"/chat/ws?nick=ada&token=tok")
	assert.Equal(t, "welcome", readJSON(t, chat)["type"])

	pong := dial(t, ws+"/pong/ws")
	require.NoError(t, pong.Write(ctx, conn.MessageText, []byte(`{"type":"create","data":{"game":"demo-test"}}`)))
	assert.Equal(t, "created", readJSON(t, pong)["type"])

	errs := make(chan wsframe.CloseCode, 3)
	for _, c := range []*conn.Conn{echo, chat, pong} {
		go func() {
			for range 1000 {
				if _, _, err := c.Read(ctx); err != nil {
					errs <- conn.CloseCode(err)
					return
				}
			}
			errs <- 0
		}()
	}
	require.NoError(t, d.Shutdown(ctx))
	for range 3 {
		assert.Equal(t, wsframe.CloseGoingAway, <-errs)
	}
}
