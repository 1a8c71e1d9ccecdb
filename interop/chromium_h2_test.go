//go:build linux

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/internal/chromium"
	"github.com/ws6455/ws6455/wsframe"
)

// TestChromiumH2: headless Chromium loads a page over HTTPS from our
// server, which speaks HTTP/2 (ALPN h2) and advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL (GODEBUG=http2xconnect=1); the page
// opens wss:// to the same origin, and Chromium sends it as an extended
// CONNECT on the HTTP/2 connection it already has (RFC 8441). Our handler
// sees the request as HTTP/2 (r.ProtoMajor == 2, CONNECT, :protocol
// websocket), and the same exchange as over HTTP/1.1 follows: every size
// of text and binary, compressed, echoed intact, a ping answered, and a
// clean close with the page's code and reason on both sides.
func TestChromiumH2(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Chromium interop test")
	}
	bin := chromium.Find()
	if bin == "" {
		missingH2Peer(t, "no chromium binary found (Debian: apt-get install chromium): skipping the Chromium RFC 8441 test")
	}
	if !inXConnectProcess(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()

	srv := newEchoServer(t, conn.AcceptOptions{
		Subprotocols: ourServerProtocols, Compression: conn.CompressionContextTakeover,
	})
	mux := srv.Config.Handler.(*http.ServeMux)
	page := filepath.Join(sourceDir(t), "testdata", "browser.html")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, page)
	})
	reqs := newProtoLog(mux)
	ts := startH2(t, reqs)
	d := chromium.Launch(ctx, t, bin)
	t.Cleanup(func() {
		for _, p := range d.Problems() {
			t.Errorf("the page threw: %s", p)
		}
	})
	// httptest's certificate is not trusted by the browser: accept it for
	// this browser only. (A certificate error does not stop Chromium from
	// using HTTP/2 or RFC 8441.)
	require.NoError(t, d.Call(ctx, "", "Security.setIgnoreCertificateErrors", map[string]any{"ignore": true}, nil))
	session, err := d.Open(ctx, ts.URL+"/", "window.interopReady", chromium.PageOptions{})
	require.NoError(t, err)
	wsURL := "wss" + strings.TrimPrefix(ts.URL, "https") + "/echo"

	type report struct {
		Protocol   string `json:"protocol"`
		Extensions string `json:"extensions"`
		Messages   []struct {
			Type     string `json:"type"`
			Size     int    `json:"size"`
			Sent     string `json:"sent"`
			EchoType string `json:"echoType"`
			EchoLen  int    `json:"echoLen"`
			Echo     string `json:"echo"`
		} `json:"messages"`
		Close browserClose `json:"close"`
	}
	sizesJSON, _ := json.Marshal(sizes)
	var rep report
	evalDone := make(chan error, 1)
	go func() {
		evalDone <- d.Eval(ctx, session, fmt.Sprintf("exchange(%q, %s)", wsURL, sizesJSON), &rep)
	}()
	sc := srv.accepted(ctx, t)

	// The proof that the WebSocket is an HTTP/2 stream: what our handler
	// was given.
	assert.Equal(t, 2, sc.req.ProtoMajor, "the WebSocket's request reached the handler as %s", sc.req.Proto)
	assert.Equal(t, http.MethodConnect, sc.req.Method, "RFC 8441: an extended CONNECT")
	assert.Equal(t, []string{"websocket"}, sc.req.Header[handshake.ProtocolHeader], ":protocol")
	assert.Empty(t, sc.req.Header.Get("Sec-WebSocket-Key"), "RFC 8441 §5: no key over HTTP/2")
	assert.Equal(t, "13", sc.req.Header.Get("Sec-WebSocket-Version"))

	require.NoError(t, sc.c.Ping(ctx), "Chromium answers our ping over HTTP/2")
	var got []received
	for range 2 * len(sizes) {
		got = append(got, recv(ctx, t, sc.got))
	}
	ce := closeErr(ctx, t, sc.end)
	select {
	case err := <-evalDone:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("the page did not report")
	}

	assert.Equal(t, wantProtocol, rep.Protocol, "the page's ws.protocol")
	assert.True(t, requireDeflate(t, rep.Extensions, &handshake.DeflateParams{}), "the page's ws.extensions")
	require.Len(t, rep.Messages, len(got))
	for i, m := range rep.Messages {
		typ := conn.MessageText
		if m.Type == "binary" {
			typ = conn.MessageBinary
		}
		assert.Equal(t, typ, got[i].typ, "message %d (%s %d): type we received", i, m.Type, m.Size)
		assert.Equal(t, m.Sent, sum(got[i].data), "message %d (%s %d): content we received", i, m.Type, m.Size)
		assert.Equal(t, m.Type, m.EchoType, "message %d: type of the echo in the page", i)
		assert.Equal(t, m.Size, m.EchoLen, "message %d: length of the echo in the page", i)
		assert.Equal(t, m.Sent, m.Echo, "message %d: the echo differs in the page", i)
	}
	fs := sc.log.take()
	compressed := 0
	for _, h := range dataFrames(fs, conn.Inbound) {
		assert.True(t, h.Masked, "RFC 8441 §5: frames stay masked inside the stream")
		if h.Rsv == wsframe.RSV1 {
			compressed++
		}
	}
	assert.Positive(t, compressed, "Chromium compressed over HTTP/2 too")
	assert.Equal(t, conn.CloseError{Code: 4000, Reason: "browser says bye ✓"}, ce, "what our server reports")
	assert.Equal(t, browserClose{Code: 4000, WasClean: true}, rep.Close, "what the page reports")

	// Every request the browser made (the page, the WebSocket) was HTTP/2.
	seen := reqs.seen()
	t.Logf("requests: %q", seen)
	assert.Contains(t, seen, "HTTP/2.0 GET /", "the page came over HTTP/2")
	assert.Contains(t, seen, "HTTP/2.0 CONNECT /echo", "the WebSocket came over HTTP/2")
	for _, s := range seen {
		assert.True(t, strings.HasPrefix(s, "HTTP/2.0 "), "a request over HTTP/1.1: %s", s)
	}
	// Same client address and port: the WebSocket is a stream of the TCP
	// connection that carried the page.
	assert.Equal(t, reqs.remote("/"), reqs.remote("/echo"), "the page and the WebSocket share one HTTP/2 connection")

	// Our server closes a second WebSocket: the close handshake, then the
	// end of the stream, reach the page as a clean close.
	var closed browserClose
	evalDone = make(chan error, 1)
	go func() {
		evalDone <- d.Eval(ctx, session, fmt.Sprintf("awaitServerClose(%q)", wsURL), &closed)
	}()
	sc = srv.accepted(ctx, t)
	assert.Equal(t, 2, sc.req.ProtoMajor)
	require.NoError(t, sc.c.Close(4001, "server says bye ✓"), "Chromium completes the close handshake over HTTP/2")
	assert.Equal(t, conn.CloseError{Code: 4001, Reason: "server says bye ✓"}, closeErr(ctx, t, sc.end))
	select {
	case err := <-evalDone:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("the page did not report")
	}
	assert.Equal(t, browserClose{Code: 4001, Reason: "server says bye ✓", WasClean: true}, closed, "what the page reports")
}

// TestChromiumH2Fallback: the same page and server, in a process without
// GODEBUG=http2xconnect=1 (Go 1.26/1.27's default). The page still comes
// over HTTP/2, but the server does not advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL, so Chromium opens the WebSocket as an
// HTTP/1.1 upgrade on a connection of its own: the same handler serves it.
func TestChromiumH2Fallback(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Chromium interop test")
	}
	bin := chromium.Find()
	if bin == "" {
		missingH2Peer(t, "no chromium binary found (Debian: apt-get install chromium): skipping the Chromium RFC 8441 test")
	}
	if !inDefaultXConnectProcess(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	srv := newEchoServer(t, conn.AcceptOptions{Subprotocols: ourServerProtocols})
	mux := srv.Config.Handler.(*http.ServeMux)
	page := filepath.Join(sourceDir(t), "testdata", "browser.html")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, page)
	})
	reqs := newProtoLog(mux)
	ts := httptest.NewUnstartedServer(reqs)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	d := chromium.Launch(ctx, t, bin)
	require.NoError(t, d.Call(ctx, "", "Security.setIgnoreCertificateErrors", map[string]any{"ignore": true}, nil))
	session, err := d.Open(ctx, ts.URL+"/", "window.interopReady", chromium.PageOptions{})
	require.NoError(t, err)
	var closed browserClose
	evalDone := make(chan error, 1)
	go func() {
		evalDone <- d.Eval(ctx, session, fmt.Sprintf("awaitServerClose(%q)", "wss"+strings.TrimPrefix(ts.URL, "https")+"/echo"), &closed)
	}()
	sc := srv.accepted(ctx, t)
	assert.Equal(t, 1, sc.req.ProtoMajor, "without extended CONNECT the WebSocket is an HTTP/1.1 upgrade (%s)", sc.req.Proto)
	assert.Equal(t, http.MethodGet, sc.req.Method)
	require.NoError(t, sc.c.Close(wsframe.CloseNormal, ""))
	closeErr(ctx, t, sc.end)
	require.NoError(t, <-evalDone)
	seen := reqs.seen()
	t.Logf("requests: %q", seen)
	assert.Contains(t, seen, "HTTP/2.0 GET /", "the page came over HTTP/2")
	assert.Contains(t, seen, "HTTP/1.1 GET /echo", "the WebSocket came over HTTP/1.1")
	assert.NotEqual(t, reqs.remote("/"), reqs.remote("/echo"), "on a connection of its own")
}
