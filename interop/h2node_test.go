package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// Node's http2 module (nghttp2) is an independent RFC 8441 implementation
// in both roles: node/h2peer.js is a server that advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL and echoes, and a client that opens one
// WebSocket with an extended CONNECT and runs a fixed exchange. It needs
// nothing from npm.

// h2Peer is an RFC 8441 test peer process (node/h2peer.js,
// python/h2peer.py) running, with its events.
type h2Peer struct {
	events chan map[string]any
	stderr *syncBuffer
}

func startH2Node(t *testing.T, args ...string) *h2Peer {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Node http2 interop tests")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missingH2Peer(t, "node not found (Debian: apt-get install nodejs): skipping the Node http2 (RFC 8441) interop tests")
	}
	return startH2Peer(t, node, append([]string{filepath.Join(sourceDir(t), "node", "h2peer.js")}, args...)...)
}

// startH2Peer starts bin with args and reads its events (JSON lines).
func startH2Peer(t *testing.T, bin string, args ...string) *h2Peer {
	t.Helper()
	p := &h2Peer{events: make(chan map[string]any, 256), stderr: &syncBuffer{}}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe() // the server exits when it ends
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = map[string]any{"ev": "garbage", "line": sc.Text()}
			}
			p.events <- ev
		}
	}()
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), p.stderr.String())
		}
	})
	return p
}

// next returns the next event, failing the test at ctx's end.
func (p *h2Peer) next(ctx context.Context, t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev, ok := <-p.events:
		if !ok {
			t.Fatalf("the peer exited; stderr:\n%s", p.stderr.String())
		}
		return ev
	case <-ctx.Done():
		t.Fatalf("no event from the peer; stderr:\n%s", p.stderr.String())
	}
	return nil
}

// expect returns the next event named ev, failing on any other.
func (p *h2Peer) expect(ctx context.Context, t *testing.T, ev string) map[string]any {
	t.Helper()
	e := p.next(ctx, t)
	require.Equal(t, ev, e["ev"], "peer event %v", e)
	return e
}

// TestNodeH2Server: our client (package h2) against Node's http2 server
// over h2c. Node sees an extended CONNECT with :protocol websocket and
// masked frames; every message of every size comes back intact; a ping is
// answered; our close is echoed and Node ends the stream.
func TestNodeH2Server(t *testing.T) {
	p := startH2Node(t, "server")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	port := p.expect(ctx, t, "listening")["port"].(float64)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	c, resp, err := d.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/echo?x=1", int(port)), &conn.DialOptions{
		Subprotocols: []string{"v2.interop", "v1.interop"}, Compression: conn.CompressionContextTakeover,
	})
	require.NoError(t, err)
	defer c.CloseNow()
	assert.Equal(t, 2, resp.ProtoMajor, "the answer came over HTTP/2")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "v1.interop", c.Subprotocol())

	req := p.expect(ctx, t, "request")["headers"].(map[string]any)
	assert.Equal(t, "CONNECT", req[":method"])
	assert.Equal(t, "websocket", req[":protocol"])
	assert.Equal(t, "/echo?x=1", req[":path"])
	assert.Equal(t, "http", req[":scheme"])
	assert.Equal(t, "13", req["sec-websocket-version"])
	assert.Nil(t, req["sec-websocket-key"], "RFC 8441 §5: no key")
	assert.Contains(t, req["sec-websocket-extensions"], "permessage-deflate", "we offered compression; Node did not accept it")

	seed := uint64(1)
	for _, typ := range []conn.MessageType{conn.MessageText, conn.MessageBinary} {
		for _, size := range sizes {
			msg := payload(typ, size, seed)
			seed++
			require.NoError(t, c.Write(ctx, typ, msg))
			ev := p.expect(ctx, t, "message")
			assert.Equal(t, typeName(typ), ev["type"])
			assert.Equal(t, float64(size), ev["len"])
			assert.Equal(t, sum(msg), ev["sha256"], "what Node received (%s %d)", typeName(typ), size)
			gt, got, err := c.Read(ctx)
			require.NoError(t, err)
			assert.Equal(t, typ, gt)
			assert.Equal(t, sum(msg), sum(got), "the echo (%s %d)", typeName(typ), size)
		}
	}
	// A pong is read by a Read: keep one waiting while we ping and close.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		readErr <- err
	}()
	require.NoError(t, c.Ping(ctx), "Node answers our ping")
	require.NoError(t, c.Close(wsframe.CloseNormal, "go says bye"), "Node echoes our close and ends the stream")
	assert.Equal(t, wsframe.CloseNormal, conn.CloseCode(<-readErr), "the Read waiting during the close")
	assert.Equal(t, map[string]any{"ev": "close", "code": float64(1000), "reason": "go says bye"}, p.expect(ctx, t, "close"))
	p.expectStreamEnd(ctx, t)
}

// TestNodeH2Client: Node's http2 client against our server (conn.Accept),
// over h2c and over TLS. Node waits for our SETTINGS_ENABLE_CONNECT_PROTOCOL,
// sends an extended CONNECT, exchanges every size of text and binary,
// pings, and closes; our handler sees an HTTP/2 CONNECT and echoes.
func TestNodeH2Client(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil && !testing.Short() {
		missingH2Peer(t, "node not found (Debian: apt-get install nodejs): skipping the Node http2 (RFC 8441) interop tests")
	}
	if !inXConnectProcess(t) {
		return
	}
	for _, tlsOn := range []bool{false, true} {
		name := map[bool]string{false: "h2c", true: "tls"}[tlsOn]
		t.Run(name, func(t *testing.T) {
			srv := newEchoServer(t, conn.AcceptOptions{Subprotocols: ourServerProtocols})
			var ts *httptest.Server
			if tlsOn {
				ts = startH2(t, srv.Config.Handler)
			} else {
				ts = httptest.NewUnstartedServer(srv.Config.Handler)
				ts.Config.Protocols = new(http.Protocols)
				ts.Config.Protocols.SetHTTP1(true)
				ts.Config.Protocols.SetUnencryptedHTTP2(true)
				ts.Start()
				t.Cleanup(ts.Close)
			}
			scheme := map[bool]string{false: "ws", true: "wss"}[tlsOn]
			u := scheme + "://" + strings.TrimPrefix(strings.TrimPrefix(ts.URL, "https://"), "http://") + "/echo"
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			p := startH2Node(t, "client", u)
			sc := srv.accepted(ctx, t)
			assert.Equal(t, 2, sc.req.ProtoMajor, "Node's WebSocket reached our handler as %s", sc.req.Proto)
			assert.Equal(t, http.MethodConnect, sc.req.Method)
			assert.Equal(t, []string{"websocket"}, sc.req.Header[handshake.ProtocolHeader])
			assert.Equal(t, wantProtocol, sc.c.Subprotocol())
			ev := p.expect(ctx, t, "done")
			assert.Equal(t, true, ev["enableConnectProtocol"], "we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL")
			assert.Equal(t, float64(200), ev["status"])
			assert.Equal(t, wantProtocol, ev["protocol"])
			msgs := ev["messages"].([]any)
			require.Len(t, msgs, 2*len(sizes))
			for i, m := range msgs {
				assert.Equal(t, true, m.(map[string]any)["ok"], "echo %d in Node: %v", i, m)
			}
			assert.Equal(t, true, ev["pong"], "we answered Node's ping with its payload")
			assert.Equal(t, map[string]any{"code": float64(1000), "reason": ""}, ev["close"], "we echoed Node's close code")
			assert.Equal(t, true, ev["ended"], "we ended the stream")
			assert.Equal(t, conn.CloseError{Code: 1000, Reason: "node says bye"}, closeErr(ctx, t, sc.end))
			for _, h := range dataFrames(sc.log.take(), conn.Inbound) {
				assert.True(t, h.Masked, "Node masks inside the stream")
			}
		})
	}
}

// expectStreamEnd waits for the peer to see our half of the stream end:
// END_STREAM ("end"), or RST_STREAM with NO_ERROR ("reset", code 0), which
// x/net/http2's client sends when the server ended the stream first and
// the request body has not ended yet (RFC 9113 §8.1 allows it: the
// exchange is complete, nothing is lost).
func (p *h2Peer) expectStreamEnd(ctx context.Context, t *testing.T) {
	t.Helper()
	e := p.next(ctx, t)
	if e["ev"] == "reset" {
		require.Equal(t, float64(0), e["code"], "RST_STREAM with NO_ERROR")
		return
	}
	require.Equal(t, "end", e["ev"], "peer event %v", e)
}
