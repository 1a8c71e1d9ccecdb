package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

type readResult struct {
	typ  MessageType
	data []byte
	err  error
}

// readAsync reads one message in the background.
func readAsync(c *Conn) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		typ, data, err := c.Read(context.Background())
		ch <- readResult{typ, data, err}
	}()
	return ch
}

func TestServerReadsMaskedMessages(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	p.sendFrame(true, wsframe.OpText, []byte("Hello"))
	typ, data, err := c.Read(context.Background())
	require.NoError(t, err)
	require.Equal(t, MessageText, typ)
	require.Equal(t, "Hello", string(data))

	// The server's frames are unmasked: the RFC's "Hello" example, byte for byte.
	require.NoError(t, c.Write(context.Background(), MessageText, []byte("Hello")))
	require.Equal(t, []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, p.recvRaw(7))
}

func TestClientMasksEveryFrame(t *testing.T) {
	c, p := clientWithPeer(t, nil)
	var keys [][4]byte
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Write(context.Background(), MessageBinary, []byte("abc")))
		raw := p.recvRaw(2 + 4 + 3)
		require.Equal(t, byte(0x82), raw[0])
		require.Equal(t, byte(0x80|3), raw[1], "mask bit and length")
		key := [4]byte(raw[2:6])
		payload := raw[6:]
		wsframe.Mask(key, 0, payload)
		require.Equal(t, "abc", string(payload))
		keys = append(keys, key)
	}
	require.NotEqual(t, keys[0], keys[1], "mask keys must not repeat")
	require.NotEqual(t, keys[1], keys[2], "mask keys must not repeat")

	// The server's frames are unmasked.
	p.sendFrame(true, wsframe.OpText, []byte("hi"))
	typ, data, err := c.Read(context.Background())
	require.NoError(t, err)
	require.Equal(t, MessageText, typ)
	require.Equal(t, "hi", string(data))
}

func TestFragmentedMessageWithPingInBetween(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	res := readAsync(c)
	p.sendFrame(false, wsframe.OpText, []byte("Hel"))
	p.sendFrame(true, wsframe.OpPing, []byte("ping!"))
	// The pong comes back before the message is complete.
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpPong, h.Opcode)
	require.False(t, h.Masked)
	require.Equal(t, "ping!", string(payload))
	p.sendFrame(false, wsframe.OpContinuation, []byte("lo, "))
	p.sendFrame(true, wsframe.OpPong, []byte("unsolicited")) // ignored
	p.sendFrame(true, wsframe.OpContinuation, []byte("world"))
	r := <-res
	require.NoError(t, r.err)
	require.Equal(t, "Hello, world", string(r.data))
}

// TestProtocolViolations sends each forbidden thing and checks the close
// code the Conn puts on the wire, and the error the read returns.
func TestProtocolViolations(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 126)
	tests := []struct {
		name     string
		client   bool // the Conn under test is the client
		send     func(p *rawPeer)
		code     wsframe.CloseCode
		noAnswer bool // the peer cannot answer the close (it is mid-frame)
	}{
		{"unmasked client frame", false, func(p *rawPeer) {
			p.send([]byte{0x81, 0x02, 'h', 'i'})
		}, wsframe.CloseProtocolError, false},
		{"masked server frame", true, func(p *rawPeer) {
			p.send([]byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2})
		}, wsframe.CloseProtocolError, false},
		{"RSV1 without extension", false, func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpText, []byte("x")))
		}, wsframe.CloseProtocolError, false},
		{"RSV2", false, func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV2, wsframe.OpBinary, nil))
		}, wsframe.CloseProtocolError, false},
		{"RSV3 on ping", false, func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV3, wsframe.OpPing, nil))
		}, wsframe.CloseProtocolError, false},
		{"reserved opcode 3", false, func(p *rawPeer) {
			p.sendFrame(true, 3, nil)
		}, wsframe.CloseProtocolError, false},
		{"reserved opcode 0xB", false, func(p *rawPeer) {
			p.sendFrame(true, 0xB, []byte("x"))
		}, wsframe.CloseProtocolError, false},
		{"ping longer than 125", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpPing, long)
		}, wsframe.CloseProtocolError, false},
		{"fragmented ping", false, func(p *rawPeer) {
			p.sendFrame(false, wsframe.OpPing, []byte("a"))
		}, wsframe.CloseProtocolError, false},
		{"continuation without message", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpContinuation, []byte("a"))
		}, wsframe.CloseProtocolError, false},
		{"new message inside a message", false, func(p *rawPeer) {
			p.sendFrame(false, wsframe.OpText, []byte("a"))
			p.sendFrame(true, wsframe.OpText, []byte("b"))
		}, wsframe.CloseProtocolError, false},
		{"64-bit length with top bit", false, func(p *rawPeer) {
			p.send([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		}, wsframe.CloseProtocolError, true}, // the stream cannot be resynchronised
		{"invalid UTF-8 text", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpText, []byte{'a', 0xff})
		}, wsframe.CloseInvalidPayload, false},
		{"text ending inside a sequence", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpText, []byte{'a', 0xce})
		}, wsframe.CloseInvalidPayload, false},
		{"one-byte close payload", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpClose, []byte{0x03})
		}, wsframe.CloseProtocolError, false},
		{"close code 1005 on the wire", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpClose, closePayload(1005, ""))
		}, wsframe.CloseProtocolError, false},
		{"close code 999", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpClose, closePayload(999, ""))
		}, wsframe.CloseProtocolError, false},
		{"close code 2999", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpClose, closePayload(2999, ""))
		}, wsframe.CloseProtocolError, false},
		{"close reason not UTF-8", false, func(p *rawPeer) {
			p.sendFrame(true, wsframe.OpClose, closePayload(1000, "\xed\xa0\x80"))
		}, wsframe.CloseInvalidPayload, false},
		{"message over the read limit", false, func(p *rawPeer) {
			// Only the header: the Conn must refuse before any payload.
			p.send(wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, Length: 1 << 40}))
		}, wsframe.CloseTooBig, true},
		{"fragments over the read limit", false, func(p *rawPeer) {
			p.sendFrame(false, wsframe.OpBinary, make([]byte, 600))
			p.sendFrame(true, wsframe.OpContinuation, make([]byte, 600))
		}, wsframe.CloseTooBig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{ReadLimit: 1000}
			c, p := withPeer(t, tt.client, opts)
			res := readAsync(c)
			tt.send(p)
			p.expectClose(tt.code)
			if !tt.noAnswer {
				// Answer the close; the Conn then ends the connection.
				p.sendFrame(true, wsframe.OpClose, closePayload(tt.code, ""))
			}
			if tt.client {
				p.nc.Close() // the server closes TCP first
			}
			r := <-res
			require.Error(t, r.err)
			require.Equal(t, tt.code, CloseCode(r.err), "error %v", r.err)
			if !tt.client {
				p.expectEOF()
			}
			<-c.Done()
		})
	}
}

func TestInvalidUTF8FailsBeforeLaterFragments(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	res := readAsync(c)
	p.sendFrame(false, wsframe.OpText, []byte("ok so far \xc0\xaf"))
	// Nothing else is sent: the close must come from the first fragment alone.
	p.expectClose(wsframe.CloseInvalidPayload)
	p.sendFrame(true, wsframe.OpClose, nil)
	r := <-res
	require.ErrorIs(t, r.err, wsframe.ErrInvalidUTF8)
}

func TestReadLimitBoundaries(t *testing.T) {
	for _, size := range []int{99, 100} {
		c, p := serverWithPeer(t, &Options{ReadLimit: 100})
		p.sendFrame(false, wsframe.OpBinary, make([]byte, size/2))
		p.sendFrame(true, wsframe.OpContinuation, make([]byte, size-size/2))
		_, data, err := c.Read(context.Background())
		require.NoError(t, err)
		require.Len(t, data, size)
	}
	c, p := serverWithPeer(t, &Options{ReadLimit: 100})
	res := readAsync(c)
	p.sendFrame(false, wsframe.OpBinary, make([]byte, 50))
	p.sendFrame(true, wsframe.OpContinuation, make([]byte, 51))
	p.expectClose(wsframe.CloseTooBig)
	p.sendFrame(true, wsframe.OpClose, nil)
	require.ErrorIs(t, (<-res).err, wsframe.ErrTooLarge)
}

func TestSetReadLimit(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	c.SetReadLimit(4)
	res := readAsync(c)
	p.sendFrame(true, wsframe.OpBinary, []byte("12345"))
	p.expectClose(wsframe.CloseTooBig)
	p.sendFrame(true, wsframe.OpClose, nil)
	require.Equal(t, wsframe.CloseTooBig, CloseCode((<-res).err))
}

func TestPeerCloseIsEchoed(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		echo    wsframe.CloseCode
		want    CloseError
	}{
		{"with code and reason", closePayload(wsframe.CloseGoingAway, "bye"), wsframe.CloseGoingAway, CloseError{wsframe.CloseGoingAway, "bye"}},
		{"private code", closePayload(4000, ""), 4000, CloseError{4000, ""}},
		{"without code", nil, wsframe.CloseNormal, CloseError{wsframe.CloseNoStatus, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := serverWithPeer(t, nil)
			res := readAsync(c)
			p.sendFrame(true, wsframe.OpClose, tt.payload)
			h, payload := p.recvFrame()
			require.Equal(t, wsframe.OpClose, h.Opcode)
			require.Equal(t, closePayload(tt.echo, ""), payload)
			p.expectEOF() // the server closes TCP first
			r := <-res
			var ce CloseError
			require.True(t, errors.As(r.err, &ce), "error %v", r.err)
			require.Equal(t, tt.want, ce)
			// Later calls keep returning the close.
			_, _, err := c.Read(context.Background())
			require.ErrorAs(t, err, &ce)
			require.ErrorIs(t, c.Write(context.Background(), MessageText, []byte("x")), ErrClosed)
		})
	}
}

func TestReadTimeoutAtMessageBoundaryKeepsConnection(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A header arriving in pieces across a timed-out read is not lost either.
	frame := p.frame(true, 0, wsframe.OpText, []byte("still here"))
	p.send(frame[:3])
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, _, err = c.Read(ctx2)
	require.ErrorIs(t, err, context.Canceled)
	p.send(frame[3:])
	_, data, err := c.Read(context.Background())
	require.NoError(t, err)
	require.Equal(t, "still here", string(data))
}

// TestReadTimeoutInsideControlFrameLosesNothing: a control frame is taken
// from the buffer only once it is whole, so a read that times out while a
// ping's payload is still on its way leaves the ping to the next read,
// which answers it with the whole payload.
func TestReadTimeoutInsideControlFrameLosesNothing(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	ping := p.frame(true, 0, wsframe.OpPing, []byte("hello"))
	p.send(ping[:len(ping)-2]) // header, mask key and 3 of 5 payload bytes
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	p.send(ping[len(ping)-2:])
	p.sendFrame(true, wsframe.OpText, []byte("after"))
	_, data, err := c.Read(context.Background())
	require.NoError(t, err)
	require.Equal(t, "after", string(data))
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpPong, h.Opcode)
	require.Equal(t, "hello", string(payload))
}

func TestReadTimeoutInsideMessageFailsConnection(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	p.sendFrame(false, wsframe.OpText, []byte("part one"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, wsframe.CloseInternalError, CloseCode(err), "the connection failed")
	p.expectClose(wsframe.CloseInternalError)
	p.sendFrame(true, wsframe.OpClose, nil)
	p.expectEOF()
}

func TestStreamingReader(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	p.sendFrame(false, wsframe.OpBinary, []byte("abc"))
	p.sendFrame(false, wsframe.OpContinuation, nil)
	p.sendFrame(true, wsframe.OpContinuation, []byte("defg"))
	p.sendFrame(true, wsframe.OpText, []byte("next"))
	typ, r, err := c.Reader(context.Background())
	require.NoError(t, err)
	require.Equal(t, MessageBinary, typ)
	var got []byte
	buf := make([]byte, 2)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, "abcdefg", string(got))
	typ, r2, err := c.Reader(context.Background())
	require.NoError(t, err)
	require.Equal(t, MessageText, typ)
	// The old reader is retired.
	n, err := r.Read(buf)
	require.Equal(t, 0, n)
	require.Equal(t, io.EOF, err)
	b, err := io.ReadAll(r2)
	require.NoError(t, err)
	require.Equal(t, "next", string(b))
}

func TestUnreadMessageIsDiscarded(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	p.sendFrame(false, wsframe.OpText, []byte(strings.Repeat("a", 300)))
	p.sendFrame(true, wsframe.OpContinuation, []byte("b"))
	p.sendFrame(true, wsframe.OpBinary, []byte{1, 2})
	_, _, err := c.Reader(context.Background())
	require.NoError(t, err)
	typ, data, err := c.Read(context.Background())
	require.NoError(t, err)
	require.Equal(t, MessageBinary, typ)
	require.Equal(t, []byte{1, 2}, data)
}

func TestHandshakeLeftoversAreRead(t *testing.T) {
	a, b := tcpPair(t)
	p := &rawPeer{t: t, nc: b, client: true}
	// The first frame arrived together with the handshake: it sits in a
	// bufio.Reader that the Conn must read first.
	first := p.frame(true, 0, wsframe.OpText, []byte("early"))
	br := bufioReaderWith(a, first)
	c := New(a, br, false, "", nil)
	defer c.CloseNow()
	p.sendFrame(true, wsframe.OpText, []byte("late"))
	for _, want := range []string{"early", "late"} {
		_, data, err := c.Read(context.Background())
		require.NoError(t, err)
		require.Equal(t, want, string(data))
	}
}

// TestCloseNowRightAfterAFailedReadLetsTheCodeOut: the usual handler ends
// with CloseNow as soon as its read fails; the close frame that tells the
// peer why (here 1007, invalid UTF-8) must still reach it before TCP is
// closed. Repeated: it is a race between the failure's close frame, sent
// in the background, and CloseNow.
func TestCloseNowRightAfterAFailedReadLetsTheCodeOut(t *testing.T) {
	for i := 0; i < 20; i++ {
		c, p := serverWithPeer(t, nil)
		p.sendFrame(true, wsframe.OpText, []byte{'a', 0xff})
		_, _, err := c.Read(context.Background())
		require.Equal(t, wsframe.CloseInvalidPayload, CloseCode(err))
		c.CloseNow()
		p.expectClose(wsframe.CloseInvalidPayload)
		p.expectEOF()
	}
}
