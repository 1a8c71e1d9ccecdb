package conn

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

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

// TestNetConnWriteTimeoutQueuedOrNothing: a NetConn write cut short by its
// deadline either wrote nothing (n == 0, not ErrQueued) or had part of its
// message go out, in which case it reports the whole message written and
// its timeout also matches ErrQueued; the peer then receives exactly the
// messages reported written, whole and in order.
func TestNetConnWriteTimeoutQueuedOrNothing(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	nc := NetConn(context.Background(), c, MessageBinary)
	var written [][]byte
	var lastErr error
	for i := 0; i < 1000 && lastErr == nil; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, 100_000+i)
		nc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := nc.Write(msg)
		var ne net.Error
		switch {
		case err == nil:
			require.Equal(t, len(msg), n)
			written = append(written, msg)
		case n == len(msg):
			require.ErrorAs(t, err, &ne)
			require.True(t, ne.Timeout())
			require.ErrorIs(t, err, ErrQueued, "a message reported written after a timeout is queued")
			written = append(written, msg)
			lastErr = err
		default:
			require.Zero(t, n)
			require.ErrorAs(t, err, &ne)
			require.True(t, ne.Timeout())
			require.NotErrorIs(t, err, ErrQueued)
			lastErr = err
		}
	}
	require.Error(t, lastErr, "the peer never reads: a write must time out")
	nc.SetWriteDeadline(time.Time{})
	go nc.Write([]byte("end"))
	for i, want := range written {
		h, payload := p.recvFrame()
		require.Equal(t, wsframe.OpBinary, h.Opcode)
		require.True(t, bytes.Equal(want, payload), "message %d arrives whole", i)
	}
	_, payload := p.recvFrame()
	require.Equal(t, "end", string(payload))
}

// TestNetConnReadIgnoresWriteDeadline: a NetConn read is bound by the read
// deadline only. With the write deadline in the past (the usual way to
// stop a blocked Write, or to shut one direction of a proxy), a ping from
// the peer must not make Read fail: its pong is kept aside and goes out
// ahead of the next frame written (found in review).
func TestNetConnReadIgnoresWriteDeadline(t *testing.T) {
	for _, client := range []bool{false, true} {
		c, p := withPeer(t, client, nil)
		nc := NetConn(context.Background(), c, MessageBinary)
		require.NoError(t, nc.SetWriteDeadline(time.Unix(1, 0)))
		p.sendFrame(true, wsframe.OpPing, []byte("first"))
		p.sendFrame(true, wsframe.OpPing, []byte("latest"))
		p.sendFrame(true, wsframe.OpBinary, []byte("data"))
		buf := make([]byte, 16)
		n, err := nc.Read(buf)
		require.NoError(t, err, "no read deadline is set")
		require.Equal(t, "data", string(buf[:n]))
		require.NoError(t, nc.SetWriteDeadline(time.Time{}))
		_, err = nc.Write([]byte("after"))
		require.NoError(t, err)
		h, payload := p.recvFrame()
		require.Equal(t, wsframe.OpPong, h.Opcode)
		require.Equal(t, "latest", string(payload), "the pong answers the latest ping")
		h, payload = p.recvFrame()
		require.Equal(t, wsframe.OpBinary, h.Opcode)
		require.Equal(t, "after", string(payload))
	}
}
