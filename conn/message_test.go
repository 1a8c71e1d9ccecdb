package conn

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// TestReadMessage: ReadMessage delivers each message whole and exact,
// across fragments and a ping between them (answered), in buffers that
// grow through the pooled sizes, and, like ReadInto, fails the connection
// on bad input.
func TestReadMessage(t *testing.T) {
	c, p := coalescePair(t, false)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 000 bytes: past every pooled size
	mid := bytes.Repeat([]byte("x"), 9000)
	p.send(
		p.frame(wsframe.OpText, false, []byte("héllo ")),
		p.frame(wsframe.OpPing, true, []byte("p")),
		p.frame(wsframe.OpContinuation, true, []byte("wörld")),
	)
	p.send(p.frame(wsframe.OpBinary, true, big), p.frame(wsframe.OpBinary, true, mid), p.frame(wsframe.OpBinary, true, nil))
	var got []string
	for range 4 {
		m, err := c.ReadMessage(ctx)
		require.NoError(t, err)
		got = append(got, m.Type.String()+":"+string(m.Payload))
		m.Release()
		require.Nil(t, m.Payload, "Release forgets the payload")
		m.Release() // a second Release of the same value does nothing
	}
	p.expect(wsframe.OpPong, []byte("p"))
	require.Equal(t, []string{"text:héllo wörld", "binary:" + string(big), "binary:" + string(mid), "binary:"}, got)

	// Released buffers are reused: a message read after another sees its
	// own bytes only.
	p.send(p.frame(wsframe.OpBinary, true, []byte("short")))
	m, err := c.ReadMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, "short", string(m.Payload))
	m.Release()

	// Invalid UTF-8: the connection fails with 1007, and the Message is empty.
	p.send(p.frame(wsframe.OpText, true, []byte{0xff}))
	m, err = c.ReadMessage(ctx)
	require.Equal(t, wsframe.CloseInvalidPayload, CloseCode(err))
	require.Nil(t, m.Payload)
	m.Release()
	p.expect(wsframe.OpClose, append([]byte{0x03, 0xef}, "invalid UTF-8 in text"...))
}

// TestReadMessageCancelledWaiting: a ReadMessage whose context ends while
// it waits for a message leaves no trace, like ReadInto.
func TestReadMessageCancelledWaiting(t *testing.T) {
	c, p := coalescePair(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.ReadMessage(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, CloseCode(err))
	p.send(p.frame(wsframe.OpBinary, true, []byte("still usable")))
	m, err := c.ReadMessage(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "still usable", string(m.Payload))
	m.Release()
}

// TestReadMessageAllocs asserts that the simplest read loop of the docs
// allocates nothing per message: ReadMessage and Release, as ReadInto
// with a reused buffer (TestSteadyStateAllocs).
func TestReadMessageAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts are meaningless")
	}
	for _, kind := range []string{"background", "cancel"} {
		for _, size := range []int{16, 1 << 10, 64 << 10} {
			for _, client := range []bool{false, true} {
				t.Run(kind+"/"+roleName(client)+"/"+sizeName(size), func(t *testing.T) {
					o := newOneWay(t, client, size)
					o.useCtx(t, kind)
					for range 10 {
						o.readMessage(t)
					}
					allocs := testing.AllocsPerRun(200, func() { o.readMessage(t) })
					assert.Zero(t, allocs, "allocations per ReadMessage of a %d-byte message", size)
				})
			}
		}
	}
}

// readMessage sends one frame from the peer and reads it with
// ReadMessage, checking its payload.
func (o *oneWay) readMessage(tb testing.TB) {
	if _, err := o.peer.Write(o.frame); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := o.context()
	m, err := o.c.ReadMessage(ctx)
	cancel()
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(m.Payload, o.msg) {
		tb.Fatal(errWrongPayload)
	}
	m.Release()
}

// errWrongPayload is reported for a payload that is not the message sent.
var errWrongPayload = errors.New("the payload read differs from the one sent")

// TestReadAllocatesMessageSize: Read returns a new slice of the message's
// size, read through pooled buffers: a 16-byte message costs one small
// allocation (it used to cost a 4 KiB buffer), a 64 KiB one a 64 KiB
// slice (not the 4+8+16+32+64 KiB of growing one).
func TestReadAllocatesMessageSize(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts are meaningless")
	}
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		t.Run(sizeName(size), func(t *testing.T) {
			o := newOneWay(t, false, size)
			read := func() {
				if _, err := o.peer.Write(o.frame); err != nil {
					t.Fatal(err)
				}
				_, got, err := o.c.Read(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, o.msg) || cap(got) > size+size/8+16 {
					t.Fatalf("read %d bytes (cap %d), want the %d-byte message in a slice of its size", len(got), cap(got), size)
				}
			}
			for range 10 {
				read()
			}
			allocs := testing.AllocsPerRun(100, read)
			assert.LessOrEqual(t, allocs, 1.0, "allocations per Read of a %d-byte message", size)
		})
	}
}
