package conn

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/ws6455/ws6455/wsframe"
)

// TestNetConnConformance runs x/net's net.Conn conformance tests over the
// adapter, with a server Conn on one end and a client Conn on the other.
func TestNetConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := tcpPair(t)
		server := New(a, nil, false, "", &Options{ReadLimit: -1})
		client := New(b, nil, true, "", &Options{ReadLimit: -1})
		ctx := context.Background()
		c1 = NetConn(ctx, server, MessageBinary)
		c2 = NetConn(ctx, client, MessageBinary)
		return c1, c2, func() { server.CloseNow(); client.CloseNow() }, nil
	})
}

func TestNetConnEOFOnNormalClose(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	nc := NetConn(context.Background(), c, MessageText)
	p.sendFrame(true, wsframe.OpText, []byte("abc"))
	p.sendFrame(true, wsframe.OpText, nil) // empty messages add nothing
	p.sendFrame(true, wsframe.OpText, []byte("def"))
	p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseNormal, ""))
	got, err := io.ReadAll(nc)
	require.NoError(t, err)
	require.Equal(t, "abcdef", string(got))
}

func TestNetConnRefusesTheOtherType(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	nc := NetConn(context.Background(), c, MessageBinary)
	p.sendFrame(true, wsframe.OpText, []byte("text"))
	_, err := nc.Read(make([]byte, 10))
	require.Error(t, err)
	p.expectClose(wsframe.CloseUnsupportedData)
}

func TestNetConnContextEndsConnection(t *testing.T) {
	c, _ := serverWithPeer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	nc := NetConn(ctx, c, MessageBinary)
	cancel()
	<-c.Done()
	_, err := nc.Read(make([]byte, 1))
	require.Error(t, err)
}
