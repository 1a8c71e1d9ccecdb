//go:build linux

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/internal/chromium"
	"github.com/ws6455/ws6455/wsframe"
)

// Headless Chromium is driven through the DevTools protocol, which is JSON
// over WebSocket: our own client speaks it (a second interop check; see
// internal/chromium).

// browserTimeout bounds the whole browser test, launch included: a guard
// against hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

type browserClose struct {
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	WasClean bool   `json:"wasClean"`
}

// TestChromium: a page served by our server opens a WebSocket to it (with
// the permessage-deflate offer Chromium always makes), exchanges text and
// binary of every size, and closes with 4000 and a reason; then our server
// closes a second connection. Both sides report, and must agree.
func TestChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Chromium interop test")
	}
	bin := chromium.Find()
	if bin == "" {
		t.Skip("no chromium binary found (Debian: apt-get install chromium): skipping the Chromium interop test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()

	srv := newEchoServer(t, conn.AcceptOptions{
		Subprotocols: ourServerProtocols, Compression: conn.CompressionContextTakeover,
	})
	page := filepath.Join(sourceDir(t), "testdata", "browser.html")
	srv.Config.Handler.(*http.ServeMux).HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, page)
	})
	d := chromium.Launch(ctx, t, bin)
	t.Cleanup(func() {
		for _, p := range d.Problems() {
			t.Errorf("the page threw: %s", p)
		}
	})
	session, err := d.Open(ctx, srv.URL+"/", "window.interopReady", chromium.PageOptions{})
	require.NoError(t, err)
	wsURL := srv.wsURL()

	t.Run("exchange", func(t *testing.T) {
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
				Ms       int    `json:"ms"`
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

		// While the page works, our server pings it: browsers answer.
		require.NoError(t, sc.c.Ping(ctx), "Chromium answers our ping")

		// What our server received, in order.
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

		// Handshake: Chromium offers permessage-deflate, we accept it.
		offer := sc.req.Header.Get("Sec-WebSocket-Extensions")
		offers, err := handshake.ParseExtensions([]string{offer})
		require.NoError(t, err, "Chromium's offer %q", offer)
		require.NotEmpty(t, offers)
		assert.Equal(t, handshake.DeflateName, offers[0].Name, "Chromium's offer %q", offer)
		assert.Equal(t, wantProtocol, rep.Protocol, "the page's ws.protocol")
		assert.Equal(t, wantProtocol, sc.c.Subprotocol())
		assert.True(t, requireDeflate(t, rep.Extensions, &handshake.DeflateParams{}), "the page's ws.extensions")

		// Messages: what the page sent is what we received, and the echo
		// came back intact.
		require.Len(t, rep.Messages, len(got))
		for i, m := range rep.Messages {
			t.Logf("%s %d: %d ms in the page", m.Type, m.Size, m.Ms)
			typ := conn.MessageText
			if m.Type == "binary" {
				typ = conn.MessageBinary
			}
			assert.Equal(t, typ, got[i].typ, "message %d (%s %d): type we received", i, m.Type, m.Size)
			assert.Equal(t, m.Size, len(got[i].data), "message %d (%s %d): length we received", i, m.Type, m.Size)
			assert.Equal(t, m.Sent, sum(got[i].data), "message %d (%s %d): content we received", i, m.Type, m.Size)
			assert.Equal(t, m.Type, m.EchoType, "message %d: type of the echo in the page", i)
			assert.Equal(t, m.Size, m.EchoLen, "message %d: length of the echo in the page", i)
			assert.Equal(t, m.Sent, m.Echo, "message %d: the echo differs in the page", i)
		}

		// Frames: Chromium masks and compresses; we compress text above
		// our threshold.
		fs := sc.log.take()
		var compressedIn, compressedOut int
		for _, h := range dataFrames(fs, conn.Inbound) {
			assert.True(t, h.Masked, "a browser masks its frames")
			if h.Rsv == wsframe.RSV1 {
				compressedIn++
			}
		}
		for _, h := range dataFrames(fs, conn.Outbound) {
			if h.Rsv == wsframe.RSV1 {
				compressedOut++
			}
		}
		assert.Positive(t, compressedIn, "Chromium sent compressed messages")
		assert.Positive(t, compressedOut, "we sent compressed messages")
		pings, pongs := controlFrames(fs, conn.Outbound, wsframe.OpPing), controlFrames(fs, conn.Inbound, wsframe.OpPong)
		require.Len(t, pings, 1)
		assert.Equal(t, pings, pongs, "Chromium's pong carries our ping's payload")

		// Close: the page closed with 4000 and a reason; we echoed 4000.
		assert.Equal(t, conn.CloseError{Code: 4000, Reason: "browser says bye ✓"}, ce, "what our server reports")
		assert.Equal(t, browserClose{Code: 4000, WasClean: true}, rep.Close, "what the page reports")
		assert.Equal(t, [][]byte{closePayload(4000, "browser says bye ✓")}, controlFrames(fs, conn.Inbound, wsframe.OpClose))
	})

	t.Run("server-close", func(t *testing.T) {
		var rep browserClose
		evalDone := make(chan error, 1)
		go func() {
			evalDone <- d.Eval(ctx, session, fmt.Sprintf("awaitServerClose(%q)", wsURL), &rep)
		}()
		sc := srv.accepted(ctx, t)
		assert.Empty(t, sc.c.Subprotocol(), "the page offered no subprotocol")
		require.NoError(t, sc.c.Close(4001, "server says bye ✓"), "Chromium completes the close handshake")
		assert.Equal(t, conn.CloseError{Code: 4001, Reason: "server says bye ✓"}, closeErr(ctx, t, sc.end), "Chromium echoes our close")
		select {
		case err := <-evalDone:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Fatal("the page did not report")
		}
		assert.Equal(t, browserClose{Code: 4001, Reason: "server says bye ✓", WasClean: true}, rep, "what the page reports")
	})
}
