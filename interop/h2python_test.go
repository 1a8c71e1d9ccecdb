package interop

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// Python's h2 (HTTP/2) with wsproto (WebSocket frames), the pair that
// Hypercorn serves RFC 8441 with, is a second independent implementation
// in both roles: python/h2peer.py. Both come from Debian (python3-h2,
// python3-wsproto).

// findPythonH2 returns a Python 3 that imports h2 and wsproto, or skips
// (fails under CI=true).
func findPythonH2(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Python h2 interop tests")
	}
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		bin, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(bin, "-c", "import h2.connection, h2.settings, wsproto").Run() == nil {
			return bin
		}
	}
	missingH2Peer(t, "no python3 with h2 and wsproto (Debian: apt-get install python3-h2 python3-wsproto): skipping the Python h2 (RFC 8441) interop tests")
	return ""
}

func startH2Python(t *testing.T, args ...string) *h2Peer {
	t.Helper()
	py := findPythonH2(t)
	return startH2Peer(t, py, append([]string{filepath.Join(sourceDir(t), "python", "h2peer.py")}, args...)...)
}

// TestPythonH2Server: our client (package h2) against an h2 + wsproto
// server over h2c: an extended CONNECT that h2 validates (it refuses
// :protocol unless it advertised SETTINGS_ENABLE_CONNECT_PROTOCOL), masked
// frames that wsproto checks, every size echoed intact, a ping answered,
// and our close echoed before the stream ends.
func TestPythonH2Server(t *testing.T) {
	p := startH2Python(t, "server")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	port := p.expect(ctx, t, "listening")["port"].(float64)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	c, resp, err := d.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/echo", int(port)), nil)
	require.NoError(t, err)
	defer c.CloseNow()
	assert.Equal(t, 2, resp.ProtoMajor)
	req := p.expect(ctx, t, "request")["headers"].(map[string]any)
	assert.Equal(t, "CONNECT", req[":method"])
	assert.Equal(t, "websocket", req[":protocol"])
	assert.Equal(t, "/echo", req[":path"])
	assert.Equal(t, "13", req["sec-websocket-version"])

	seed := uint64(1)
	for _, typ := range []conn.MessageType{conn.MessageText, conn.MessageBinary} {
		for _, size := range sizes {
			msg := payload(typ, size, seed)
			seed++
			require.NoError(t, c.Write(ctx, typ, msg))
			ev := p.expect(ctx, t, "message")
			assert.Equal(t, typeName(typ), ev["type"])
			assert.Equal(t, sum(msg), ev["sha256"], "what Python received (%s %d)", typeName(typ), size)
			gt, got, err := c.Read(ctx)
			require.NoError(t, err)
			assert.Equal(t, typ, gt)
			assert.Equal(t, sum(msg), sum(got), "the echo (%s %d)", typeName(typ), size)
		}
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		readErr <- err
	}()
	require.NoError(t, c.Ping(ctx), "Python answers our ping")
	require.NoError(t, c.Close(wsframe.CloseNormal, "go says bye"))
	assert.Equal(t, wsframe.CloseNormal, conn.CloseCode(<-readErr))
	assert.Equal(t, map[string]any{"ev": "close", "code": float64(1000), "reason": "go says bye"}, p.expect(ctx, t, "close"))
	p.expectStreamEnd(ctx, t)
}

// TestPythonH2Client: an h2 + wsproto client against our server over h2c.
func TestPythonH2Client(t *testing.T) {
	findPythonH2(t)
	if !inXConnectProcess(t) {
		return
	}
	srv := newEchoServer(t, conn.AcceptOptions{Subprotocols: ourServerProtocols})
	ts := httptest.NewUnstartedServer(srv.Config.Handler)
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := startH2Python(t, "client", "ws://"+strings.TrimPrefix(ts.URL, "http://")+"/echo")
	sc := srv.accepted(ctx, t)
	assert.Equal(t, 2, sc.req.ProtoMajor, "Python's WebSocket reached our handler as %s", sc.req.Proto)
	assert.Equal(t, http.MethodConnect, sc.req.Method)
	assert.Equal(t, []string{"websocket"}, sc.req.Header[handshake.ProtocolHeader])
	ev := p.expect(ctx, t, "done")
	assert.Nil(t, ev["error"], "Python's report: %v", ev)
	assert.Equal(t, true, ev["enableConnectProtocol"])
	assert.Equal(t, float64(200), ev["status"])
	assert.Equal(t, wantProtocol, ev["protocol"])
	msgs, _ := ev["messages"].([]any)
	require.Len(t, msgs, 2*len(sizes))
	for i, m := range msgs {
		assert.Equal(t, true, m.(map[string]any)["ok"], "echo %d in Python: %v", i, m)
	}
	assert.Equal(t, true, ev["pong"])
	assert.Equal(t, map[string]any{"code": float64(1000), "reason": ""}, ev["close"])
	assert.Equal(t, true, ev["ended"])
	assert.Equal(t, conn.CloseError{Code: 1000, Reason: "python says bye"}, closeErr(ctx, t, sc.end))
	for _, h := range dataFrames(sc.log.take(), conn.Inbound) {
		assert.True(t, h.Masked, "wsproto masks inside the stream")
	}
}
