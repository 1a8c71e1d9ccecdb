//go:build linux

package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// Headless Chromium is driven through the DevTools protocol, which is JSON
// over WebSocket: our own client speaks it (a second interop check).

// browserTimeout bounds the whole browser test, launch included: a guard
// against hangs, not an assertion about speed.
const browserTimeout = 2 * time.Minute

func findChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Chromium interop test")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary found (Debian: apt-get install chromium): skipping the Chromium interop test")
	return ""
}

// devtools is a DevTools connection to a running browser.
type devtools struct {
	c       *conn.Conn
	mu      sync.Mutex
	id      int64
	waiting map[int64]chan cdpMessage
	// problems collects exceptions thrown in the page.
	problems []string
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// launchChromium starts headless Chromium and connects to DevTools. Cleanup
// asks the browser to close and kills its process group.
func launchChromium(ctx context.Context, t *testing.T) *devtools {
	t.Helper()
	bin := findChromium(t)
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server", "--remote-debugging-port=0",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	found := make(chan string, 1)
	go func() {
		// Drain stderr for the DevTools address, and keep draining it so
		// the browser never blocks on a full pipe.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	var wsURL string
	select {
	case wsURL = <-found:
	case <-ctx.Done():
		t.Fatal("chromium did not print its DevTools address")
	}
	c, _, err := conn.Dial(ctx, wsURL, &conn.DialOptions{ReadLimit: 64 << 20, Proxy: noProxy})
	require.NoError(t, err)
	d := &devtools{c: c, waiting: make(map[int64]chan cdpMessage)}
	done := make(chan struct{})
	go d.readLoop(done)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.call(cctx, "", "Browser.close", struct{}{}, nil)
		c.CloseNow()
		<-done
	})
	return d
}

func (d *devtools) readLoop(done chan struct{}) {
	defer close(done)
	for {
		_, data, err := d.c.Read(context.Background())
		if err != nil {
			d.mu.Lock()
			for id, ch := range d.waiting {
				close(ch)
				delete(d.waiting, id)
			}
			d.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		d.mu.Lock()
		if ch, ok := d.waiting[m.ID]; ok && m.ID != 0 {
			ch <- m
			delete(d.waiting, m.ID)
		} else if m.Method == "Runtime.exceptionThrown" {
			d.problems = append(d.problems, string(m.Params))
		}
		d.mu.Unlock()
	}
}

// call sends a DevTools command and decodes its result. It is safe from any
// goroutine: it returns errors rather than failing the test.
func (d *devtools) call(ctx context.Context, session, method string, params, result any) error {
	d.mu.Lock()
	d.id++
	id := d.id
	ch := make(chan cdpMessage, 1)
	d.waiting[id] = ch
	d.mu.Unlock()
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: raw})
	if err != nil {
		return err
	}
	if err := d.c.Write(ctx, conn.MessageText, msg); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		switch {
		case !ok:
			return errors.New("devtools connection closed")
		case m.Error != nil:
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		case result != nil:
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		d.mu.Lock()
		delete(d.waiting, id)
		d.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// openPage opens a tab on url and returns its session, once the page's
// script has run.
func (d *devtools) openPage(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	require.NoError(t, d.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target))
	var att struct {
		SessionID string `json:"sessionId"`
	}
	require.NoError(t, d.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att))
	require.NoError(t, d.call(ctx, att.SessionID, "Runtime.enable", struct{}{}, nil))
	require.NoError(t, d.call(ctx, att.SessionID, "Page.navigate", map[string]any{"url": url}, nil))
	require.NoError(t, d.eval(ctx, att.SessionID,
		`new Promise((resolve) => { const f = () => window.interopReady ? resolve(true) : setTimeout(f, 20); f(); })`, nil))
	return att.SessionID
}

// eval evaluates a JavaScript expression in a page, awaiting a promise, and
// decodes its value into v.
func (d *devtools) eval(ctx context.Context, session, expr string, v any) error {
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
	err := d.call(ctx, session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("%s: %s", res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if v != nil {
		return json.Unmarshal(res.Result.Value, v)
	}
	return nil
}

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
	findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()

	srv := newEchoServer(t, conn.AcceptOptions{
		Subprotocols: ourServerProtocols, Compression: conn.CompressionContextTakeover,
	})
	page := filepath.Join(sourceDir(t), "testdata", "browser.html")
	srv.Config.Handler.(*http.ServeMux).HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, page)
	})
	d := launchChromium(ctx, t)
	t.Cleanup(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, p := range d.problems {
			t.Errorf("the page threw: %s", p)
		}
	})
	session := d.openPage(ctx, t, srv.URL+"/")
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
			evalDone <- d.eval(ctx, session, fmt.Sprintf("exchange(%q, %s)", wsURL, sizesJSON), &rep)
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
			evalDone <- d.eval(ctx, session, fmt.Sprintf("awaitServerClose(%q)", wsURL), &rep)
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
