package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// TestReadBufferHeldOnlyWithBytes checks the read side's memory rule at the
// byte level, over every way a Conn reads: TCP (waiting for readability
// without a buffer), net.Pipe (through Read, with the small idle buffer),
// and TCP behind handshake leftovers. The peer sends a ping, a text message
// in two fragments with a ping between them, and binary messages around
// the pooled buffer's size, either in one write or a byte at a time. Every
// message must arrive intact, every ping must be answered with exactly its
// payload, and after each message the Conn must hold no pooled buffer (and,
// on TCP, never have made the small one).
func TestReadBufferHeldOnlyWithBytes(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 320) // 5120 bytes: more than readBufSize
	kib := big[:1024]
	peer := &rawPeer{client: true}
	var stream []byte
	stream = append(stream, peer.frame(true, 0, wsframe.OpPing, []byte("p1"))...)
	stream = append(stream, peer.frame(false, 0, wsframe.OpText, []byte("hel"))...)
	stream = append(stream, peer.frame(true, 0, wsframe.OpPing, []byte("p2"))...)
	stream = append(stream, peer.frame(true, 0, wsframe.OpContinuation, []byte("lo"))...)
	stream = append(stream, peer.frame(true, 0, wsframe.OpBinary, kib)...)
	stream = append(stream, peer.frame(true, 0, wsframe.OpBinary, big)...)
	stream = append(stream, peer.frame(true, 0, wsframe.OpBinary, nil)...)
	want := [][]byte{[]byte("hello"), kib, big, {}}
	// What the Conn must send back: the two pongs, byte for byte.
	pongs := []byte{0x8a, 2, 'p', '1', 0x8a, 2, 'p', '2'}

	transports := []struct {
		name     string
		pipe     bool // net.Pipe instead of TCP
		leftover int  // bytes of the stream handed over as handshake leftovers
		raw      bool // the Conn waits without a buffer
	}{
		{"tcp", false, 0, true},
		{"pipe", true, 0, false},
		{"tcp behind handshake leftovers", false, 9, true},
	}
	for _, tr := range transports {
		for _, bytewise := range []bool{false, true} {
			name := tr.name + "/one write"
			if bytewise {
				name = tr.name + "/byte by byte"
			}
			t.Run(name, func(t *testing.T) {
				var a, b net.Conn
				if tr.pipe {
					a, b = net.Pipe()
					t.Cleanup(func() { a.Close(); b.Close() })
				} else {
					a, b = tcpPair(t)
				}
				rest := stream[tr.leftover:]
				c := New(a, bufioReaderWith(a, stream[:tr.leftover]), false, "", nil)
				t.Cleanup(func() { c.CloseNow() })
				require.Equal(t, tr.raw, c.rd.buf.raw != nil, "waits without a buffer")

				sent := make(chan error, 1)
				go func() {
					var err error
					if bytewise {
						for i := 0; i < len(rest) && err == nil; i++ {
							_, err = b.Write(rest[i : i+1])
						}
					} else {
						_, err = b.Write(rest)
					}
					sent <- err
				}()
				echoed := make(chan []byte, 1)
				go func() {
					got := make([]byte, len(pongs))
					_, err := io.ReadFull(b, got)
					if err != nil {
						got = nil
					}
					echoed <- got
				}()

				var buf []byte
				for i, w := range want {
					typ, msg, err := c.ReadInto(context.Background(), buf)
					require.NoError(t, err, "message %d", i)
					require.Equal(t, w, msg, "message %d", i)
					if i == 0 {
						require.Equal(t, MessageText, typ)
					}
					held := c.rd.buf.pooled != nil
					require.False(t, held && len(c.rd.buf.buffered()) == 0, "empty pooled buffer held after message %d", i)
					buf = msg
				}
				require.True(t, c.rd.buf.pooled == nil, "pooled buffer held after the last message")
				require.NoError(t, <-sent)
				require.Equal(t, pongs, <-echoed, "pongs on the wire")
				if tr.raw {
					require.True(t, c.rd.buf.small == nil, "a TCP connection made the small idle buffer")
				}

				// A read that times out while waiting for a message holds
				// nothing afterwards, and leaves the connection usable.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				_, _, err := c.ReadInto(ctx, buf)
				cancel()
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.True(t, c.rd.buf.pooled == nil, "pooled buffer held after a timed-out wait")
				go b.Write(peer.frame(true, 0, wsframe.OpBinary, []byte("after")))
				_, msg, err := c.ReadInto(context.Background(), buf)
				require.NoError(t, err)
				require.Equal(t, []byte("after"), msg)
			})
		}
	}
}

// TestReadEndOfStream checks how the read side reports the peer going
// away: between frames and in the middle of a header or payload, both end
// the connection with an error that CloseCode maps to 1006, and no buffer
// is left held.
func TestReadEndOfStream(t *testing.T) {
	peer := &rawPeer{client: true}
	frame := peer.frame(true, 0, wsframe.OpBinary, []byte("payload"))
	for _, tc := range []struct {
		name string
		sent []byte
	}{
		{"between frames", nil},
		{"in the header", frame[:3]},
		{"in the payload", frame[:len(frame)-2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			c := New(a, nil, false, "", nil)
			t.Cleanup(func() { c.CloseNow() })
			_, err := b.Write(tc.sent)
			require.NoError(t, err)
			require.NoError(t, b.(*net.TCPConn).CloseWrite())
			_, _, err = c.Read(context.Background())
			require.Error(t, err)
			require.Equal(t, wsframe.CloseAbnormal, CloseCode(err), "%v", err)
			require.True(t, errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed), "%v", err)
			require.True(t, c.rd.buf.pooled == nil, "pooled buffer held after the end")
		})
	}
}

// TestTimedOutWaitThenRead repeats a read whose context expires while it
// waits for a message, then a read that gets one: the expiry must not leave
// a deadline in the past behind (context.AfterFunc runs its func in a
// goroutine of its own, which may start after the read has returned).
func TestTimedOutWaitThenRead(t *testing.T) {
	peer := &rawPeer{client: true}
	a, b := tcpPair(t)
	c := New(a, nil, false, "", nil)
	t.Cleanup(func() { c.CloseNow() })
	frame := peer.frame(true, 0, wsframe.OpBinary, []byte("x"))
	var buf []byte
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, _, err := c.ReadInto(ctx, buf)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "round %d", i)
		_, err = b.Write(frame)
		require.NoError(t, err)
		_, msg, err := c.ReadInto(context.Background(), buf)
		require.NoError(t, err, "round %d", i)
		require.Equal(t, []byte("x"), msg)
		buf = msg
	}
}
