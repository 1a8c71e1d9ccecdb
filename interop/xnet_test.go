package interop

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
	"golang.org/x/net/websocket"
)

// xnetMessage is one message as x/net/websocket sees it: its frame type
// (websocket.TextFrame or websocket.BinaryFrame) and payload.
type xnetMessage struct {
	typ  byte
	data []byte
}

// rawCodec sends and receives xnetMessages, keeping the frame type, which
// websocket.Message hides.
var rawCodec = websocket.Codec{
	Marshal: func(v any) ([]byte, byte, error) {
		m := v.(xnetMessage)
		return m.data, m.typ, nil
	},
	Unmarshal: func(data []byte, typ byte, v any) error {
		*v.(*xnetMessage) = xnetMessage{typ, append([]byte(nil), data...)}
		return nil
	},
}

func xnetType(t conn.MessageType) byte {
	if t == conn.MessageText {
		return websocket.TextFrame
	}
	return websocket.BinaryFrame
}

// TestXNetClient: golang.org/x/net/websocket's client against our echo
// server, text and binary of every size, then its close.
func TestXNetClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newEchoServer(t, conn.AcceptOptions{Subprotocols: ourServerProtocols})
	cfg, err := websocket.NewConfig(srv.wsURL(), srv.URL) // same origin
	require.NoError(t, err)
	cfg.Protocol = []string{"v1.interop"}
	ws, err := websocket.DialConfig(cfg)
	require.NoError(t, err)
	defer ws.Close()
	sc := srv.accepted(ctx, t)
	assert.Equal(t, "v1.interop", sc.c.Subprotocol())

	seed := uint64(5000)
	for _, typ := range messageTypes {
		for _, size := range sizes {
			seed++
			data := payload(typ, size, seed)
			require.NoError(t, rawCodec.Send(ws, xnetMessage{xnetType(typ), data}), "%s %d", typeName(typ), size)
			requireReceived(t, recv(ctx, t, sc.got), typ, data)
			var m xnetMessage
			require.NoError(t, rawCodec.Receive(ws, &m))
			assert.Equal(t, xnetType(typ), m.typ, "%s %d: frame type of the echo", typeName(typ), size)
			assert.True(t, sum(data) == sum(m.data), "%s %d: echo differs", typeName(typ), size)
			fs := sc.log.take()
			requireMessageFrames(t, dataFrames(fs, conn.Inbound), typ, rsvNever)
			for _, h := range dataFrames(fs, conn.Inbound) {
				assert.True(t, h.Masked, "x/net masks what its client sends")
			}
		}
	}

	// x/net's Close sends a close frame (1000) and drops the connection at
	// once, without waiting for our answer: our side still reports the
	// close frame it read.
	require.NoError(t, ws.Close())
	assert.Equal(t, conn.CloseError{Code: wsframe.CloseNormal}, closeErr(ctx, t, sc.end))
}

// xnetEchoServer is x/net/websocket's server echoing each message with its
// frame type. With closeOnExit its handler ends with ws.Close, which sends a
// close frame (1000); without, x/net drops the TCP connection with no close
// frame when the handler returns.
func xnetEchoServer(t *testing.T, closeOnExit bool) (*httptest.Server, <-chan error) {
	handlerDone := make(chan error, 1)
	hs := httptest.NewServer(websocket.Server{Handler: func(ws *websocket.Conn) {
		ws.MaxPayloadBytes = 4 << 20
		for {
			var m xnetMessage
			err := rawCodec.Receive(ws, &m)
			if err == nil {
				err = rawCodec.Send(ws, m)
			}
			if err != nil {
				if closeOnExit {
					ws.Close()
				}
				handlerDone <- err
				return
			}
		}
	}})
	t.Cleanup(hs.Close)
	return hs, handlerDone
}

func dialXNet(ctx context.Context, t *testing.T, hs *httptest.Server) (*conn.Conn, *frameLog) {
	t.Helper()
	log := &frameLog{}
	c, resp, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/", &conn.DialOptions{
		// x/net's default server handshake refuses requests without Origin.
		HTTPHeader: map[string][]string{"Origin": {hs.URL}},
		OnFrame:    log.observe, Proxy: noProxy,
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	assert.Equal(t, "101 Switching Protocols", resp.Status)
	return c, log
}

func waitHandler(ctx context.Context, t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		assert.Error(t, err, "the handler's read ended")
	case <-ctx.Done():
		t.Fatal("the x/net handler did not end")
	}
}

// TestXNetServer: our client against golang.org/x/net/websocket's server,
// text and binary of every size, then our close.
func TestXNetServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hs, handlerDone := xnetEchoServer(t, true)
	c, log := dialXNet(ctx, t, hs)
	rl := startReadLoop(c)

	seed := uint64(6000)
	for _, typ := range messageTypes {
		for _, size := range sizes {
			seed++
			data := payload(typ, size, seed)
			require.NoError(t, c.Write(ctx, typ, data))
			requireReceived(t, rl.next(ctx, t), typ, data)
			fs := log.take()
			in := dataFrames(fs, conn.Inbound)
			requireMessageFrames(t, in, typ, rsvNever)
			for _, h := range in {
				assert.False(t, h.Masked, "%s %d: a server does not mask", typeName(typ), size)
			}
			for _, h := range dataFrames(fs, conn.Outbound) {
				assert.True(t, h.Masked, "%s %d: our client masks", typeName(typ), size)
			}
		}
	}

	// Our close: x/net's reader sees the close frame and ends the handler,
	// whose ws.Close answers with 1000 (and no reason).
	assert.NoError(t, c.Close(wsframe.CloseNormal, "bye"), "x/net answers our close")
	waitHandler(ctx, t, handlerDone)
	assert.Equal(t, conn.CloseError{Code: wsframe.CloseNormal}, closeErr(ctx, t, rl.end), "x/net's answer")
	fs := log.take()
	assert.Equal(t, [][]byte{closePayload(wsframe.CloseNormal, "bye")}, controlFrames(fs, conn.Outbound, wsframe.OpClose))
	assert.Equal(t, [][]byte{closePayload(wsframe.CloseNormal, "")}, controlFrames(fs, conn.Inbound, wsframe.OpClose))
}

// TestXNetServerDropsConnection: an x/net handler that returns without
// ws.Close drops TCP with no close frame. Our side must report an abnormal
// closure (1006), not hang or claim a clean close.
func TestXNetServerDropsConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hs, handlerDone := xnetEchoServer(t, false)
	c, _ := dialXNet(ctx, t, hs)
	rl := startReadLoop(c)
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte("hi")))
	requireReceived(t, rl.next(ctx, t), conn.MessageText, []byte("hi"))

	assert.Error(t, c.Close(wsframe.CloseNormal, ""), "no close frame came back")
	waitHandler(ctx, t, handlerDone)
	select {
	case err := <-rl.end:
		assert.Equal(t, wsframe.CloseAbnormal, conn.CloseCode(err), "our reader reports %v", err)
	case <-ctx.Done():
		t.Fatal("our reader did not end")
	}
}
