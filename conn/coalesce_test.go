package conn

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// These tests check write coalescing (coalesce.go) at the byte level: a
// reply to a message that arrived with others behind it may wait in the
// send buffer, but it always reaches the wire whole and in order, without
// any further call, and a lone reply leaves at once.

// wirePeer is the raw TCP end of a Conn's connection, which writes frames
// as the peer's role requires (masked when the Conn is the server) and
// reads the Conn's frames back.
type wirePeer struct {
	t      *testing.T
	nc     net.Conn
	masked bool
}

// frame encodes one frame as this peer sends it.
func (p *wirePeer) frame(op wsframe.Opcode, fin bool, payload []byte) []byte {
	h := wsframe.Header{Fin: fin, Opcode: op, Length: int64(len(payload))}
	if p.masked {
		h.Masked, h.Mask = true, [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	}
	b := wsframe.AppendHeader(nil, h)
	n := len(b)
	b = append(b, payload...)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, b[n:])
	}
	return b
}

// send writes b in one write.
func (p *wirePeer) send(b ...[]byte) {
	p.t.Helper()
	var all []byte
	for _, f := range b {
		all = append(all, f...)
	}
	_, err := p.nc.Write(all)
	require.NoError(p.t, err)
}

// expect reads the next frame the Conn sent and checks its opcode and
// payload, waiting at most a generous bound (the test fails if the frame
// never comes, it does not measure time).
func (p *wirePeer) expect(op wsframe.Opcode, payload []byte) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer p.nc.SetReadDeadline(time.Time{})
	var hb [wsframe.MaxHeaderSize]byte
	_, err := io.ReadFull(p.nc, hb[:2])
	require.NoError(p.t, err, "waiting for a %v frame", op)
	n := 2
	for {
		h, size, err := wsframe.ParseHeader(hb[:n])
		if err == wsframe.ErrShortHeader {
			_, err = io.ReadFull(p.nc, hb[n:size])
			require.NoError(p.t, err)
			n = size
			continue
		}
		require.NoError(p.t, err)
		require.Equal(p.t, op, h.Opcode)
		require.True(p.t, h.Fin)
		require.Equal(p.t, !p.masked, h.Masked, "only the client masks")
		got := make([]byte, h.Length)
		_, err = io.ReadFull(p.nc, got)
		require.NoError(p.t, err)
		if h.Masked {
			wsframe.Mask(h.Mask, 0, got)
		}
		require.Equal(p.t, payload, got)
		return
	}
}

// expectNothing checks that nothing arrives within a short wait: used
// only where the frame is known to be held (see coalesceState), to check
// that what the state says is what the wire shows.
func (p *wirePeer) expectNothing() {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	defer p.nc.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := p.nc.Read(b[:])
	require.Zero(p.t, n, "a frame went out that should have been held")
	require.True(p.t, isTimeout(err), "%v", err)
}

// coalescePair returns a Conn of the given role over loopback TCP and its
// raw peer.
func coalescePair(t *testing.T, client bool) (*Conn, *wirePeer) {
	a, b := loopbackPair(t)
	c := New(a, nil, client, "", nil)
	t.Cleanup(func() { c.CloseNow() })
	return c, &wirePeer{t: t, nc: b, masked: !client}
}

// holdDeferred turns off the safety net of deferred frames (flushHeld)
// for the rest of the test, so that what the reader and the writers do is
// all that moves them, and the held state can be checked exactly.
func holdDeferred(t *testing.T) {
	holdForTest.Store(true)
	t.Cleanup(func() { holdForTest.Store(false) })
}

// deferred reports whether c holds deferred frames.
func deferred(c *Conn) bool { return c.rd.coalesce.Load()&coalDeferred != 0 }

func TestCoalescePipelinedReplies(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	holdDeferred(t)
	for _, client := range []bool{false, true} {
		t.Run(roleName(client), func(t *testing.T) {
			c, p := coalescePair(t, client)
			ctx := context.Background()
			p.send(p.frame(wsframe.OpText, true, []byte("one")), p.frame(wsframe.OpBinary, true, []byte("two")), p.frame(wsframe.OpText, true, []byte("three")))

			typ, msg, err := c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, MessageText, typ)
			require.Equal(t, "one", string(msg))
			require.NoError(t, c.Write(ctx, MessageText, []byte("re:one")))
			require.True(t, deferred(c), "the reply to a message with more behind it waits for them")
			p.expectNothing()

			_, msg, err = c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, "two", string(msg))
			require.NoError(t, c.Write(ctx, MessageBinary, []byte("re:two")))
			require.True(t, deferred(c))

			// The last message read leaves nothing buffered: the held
			// replies go out before Read returns it.
			_, msg, err = c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, "three", string(msg))
			require.False(t, deferred(c))
			p.expect(wsframe.OpText, []byte("re:one"))
			p.expect(wsframe.OpBinary, []byte("re:two"))

			// A reply with nothing more received leaves at once.
			require.NoError(t, c.Write(ctx, MessageText, []byte("re:three")))
			require.False(t, deferred(c))
			p.expect(wsframe.OpText, []byte("re:three"))
		})
	}
}

// TestCoalesceFlushBeforeWait: a held reply goes out when the reader has
// to wait for the rest of a message, so a peer that waits for the reply
// before sending more is not stuck.
func TestCoalesceFlushBeforeWait(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	holdDeferred(t)
	for _, split := range []int{1, 4} { // inside the header, inside the payload
		c, p := coalescePair(t, false)
		ctx := context.Background()
		second := p.frame(wsframe.OpBinary, true, []byte("second message"))
		p.send(p.frame(wsframe.OpBinary, true, []byte("first")), second[:split])
		_, msg, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, "first", string(msg))
		require.NoError(t, c.Write(ctx, MessageBinary, []byte("reply")))
		require.True(t, deferred(c))

		got := make(chan string, 1)
		go func() {
			_, msg, err := c.Read(ctx)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(msg)
		}()
		p.expect(wsframe.OpBinary, []byte("reply"))
		p.send(second[split:])
		require.Equal(t, "second message", <-got)
	}
}

// TestCoalesceOtherWrites: a held frame goes out ahead of the next frame
// written, whoever writes it; a ping and a close frame are never held.
func TestCoalesceOtherWrites(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	holdDeferred(t)
	c, p := coalescePair(t, false)
	ctx := context.Background()
	p.send(p.frame(wsframe.OpText, true, []byte("a")), p.frame(wsframe.OpText, true, []byte("b")))
	_, _, err := c.Read(ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // another goroutine: takes the one deferral of this read
		defer wg.Done()
		require.NoError(t, c.Write(ctx, MessageText, []byte("x")))
	}()
	wg.Wait()
	require.True(t, deferred(c))
	require.NoError(t, c.Write(ctx, MessageText, []byte("y")), "a second write is not held")
	require.False(t, deferred(c))
	p.expect(wsframe.OpText, []byte("x"))
	p.expect(wsframe.OpText, []byte("y"))

	// A write whose context has ended leaves no trace, and the held frame
	// still goes out.
	_, _, err = c.Read(ctx)
	require.NoError(t, err)
	p.send(p.frame(wsframe.OpText, true, []byte("c")), p.frame(wsframe.OpText, true, []byte("d")))
	_, _, err = c.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, MessageText, []byte("held")))
	require.True(t, deferred(c))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = c.Write(cancelled, MessageText, []byte("never"))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, CloseCode(err))
	closed := make(chan error, 1)
	go func() { closed <- c.Close(wsframe.CloseNormal, "bye") }()
	p.expect(wsframe.OpText, []byte("held"))
	p.expect(wsframe.OpClose, []byte{0x03, 0xe8, 'b', 'y', 'e'})
	p.send(p.frame(wsframe.OpClose, true, []byte{0x03, 0xe8}))
	require.NoError(t, <-closed)
}

// TestCoalesceCloseNow: CloseNow sends what is held before it closes.
func TestCoalesceCloseNow(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	holdDeferred(t)
	c, p := coalescePair(t, true)
	ctx := context.Background()
	p.send(p.frame(wsframe.OpText, true, []byte("a")), p.frame(wsframe.OpText, true, []byte("b")))
	_, _, err := c.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, MessageText, []byte("last words")))
	require.True(t, deferred(c))
	require.NoError(t, c.CloseNow())
	p.expect(wsframe.OpText, []byte("last words"))
	_, err = p.nc.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

// TestCoalescePongWithReply: a pong due while a reply is held goes out
// behind it, and both arrive whole.
func TestCoalescePongWithReply(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	c, p := coalescePair(t, false)
	ctx := context.Background()
	p.send(p.frame(wsframe.OpText, true, []byte("a")), p.frame(wsframe.OpPing, true, []byte("ping!")), p.frame(wsframe.OpText, true, []byte("b")))
	_, _, err := c.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, MessageText, []byte("re:a")))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "b", string(msg))
	p.expect(wsframe.OpText, []byte("re:a"))
	p.expect(wsframe.OpPong, []byte("ping!"))
}

// TestCoalesceFullBuffer: replies that do not fit the send buffer go out
// behind what it holds, in order.
func TestCoalesceFullBuffer(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	c, p := coalescePair(t, false)
	ctx := context.Background()
	big := make([]byte, sendBufSize) // larger than the send buffer with its header
	for i := range big {
		big[i] = byte(i)
	}
	var frames [][]byte
	for range 4 {
		frames = append(frames, p.frame(wsframe.OpBinary, true, big[:100]))
	}
	p.send(frames...)
	replies := [][]byte{big[:sendBufSize/2], big[:sendBufSize/2], big, big[:10]}
	go func() {
		for i := range replies {
			_, _, err := c.Read(ctx)
			if err != nil {
				return
			}
			if c.Write(ctx, MessageBinary, replies[i]) != nil {
				return
			}
		}
	}()
	for _, r := range replies {
		p.expect(wsframe.OpBinary, r)
	}
}

// TestCoalesceReaderStops: a reply held after a read that had more behind
// it leaves even when the reader does not read again: here the reading
// goroutine waits for the peer to answer that very reply, which it would
// never get if the reply waited for the next read.
func TestCoalesceReaderStops(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	for _, client := range []bool{false, true} {
		t.Run(roleName(client), func(t *testing.T) {
			c, p := coalescePair(t, client)
			ctx := context.Background()
			p.send(p.frame(wsframe.OpText, true, []byte("question")), p.frame(wsframe.OpText, true, []byte("later")))
			_, msg, err := c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, "question", string(msg))
			answered := make(chan struct{})
			go func() { // the peer answers once it has the reply
				p.expect(wsframe.OpText, []byte("answer"))
				close(answered)
			}()
			require.NoError(t, c.Write(ctx, MessageText, []byte("answer")))
			select { // the reader blocks here, not in Read
			case <-answered:
			case <-time.After(30 * time.Second):
				t.Fatal("the reply waited for the next read")
			}
			_, msg, err = c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, "later", string(msg))
		})
	}
}

// fillSocket makes c's socket unable to take more: small buffers on both
// sides, and a large write that times out with its rest queued
// (ErrQueued) while the peer does not read.
func fillSocket(t *testing.T, c *Conn, p *wirePeer) {
	t.Helper()
	require.NoError(t, c.nc.(*net.TCPConn).SetWriteBuffer(4096))
	require.NoError(t, p.nc.(*net.TCPConn).SetReadBuffer(4096))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Write(ctx, MessageBinary, make([]byte, 256<<10)), ErrQueued)
}

// TestCoalesceBehindQueuedRest: a reply deferred behind the queued rest of
// a frame whose write timed out is still sent without a further call (a
// review found it held for ever: the safety net only started with an
// empty send buffer).
func TestCoalesceBehindQueuedRest(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	c, p := coalescePair(t, false)
	fillSocket(t, c, p)
	ctx := context.Background()
	p.send(p.frame(wsframe.OpText, true, []byte("question")), p.frame(wsframe.OpText, true, []byte("later")))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "question", string(msg))
	found := make(chan error, 1)
	go func() { // the peer reads everything, and looks for the reply at the end
		want := []byte{0x81, 6, 'a', 'n', 's', 'w', 'e', 'r'}
		var tail []byte
		buf := make([]byte, 64<<10)
		for {
			// Tiny socket buffers make loopback crawl: a hang detector
			// per read, not a bound on the whole.
			p.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := p.nc.Read(buf)
			tail = append(tail, buf[:n]...)
			if len(tail) > 64 {
				tail = tail[len(tail)-64:]
			}
			if bytes.HasSuffix(tail, want) {
				found <- nil
				return
			}
			if err != nil {
				found <- err
				return
			}
		}
	}()
	require.NoError(t, c.Write(ctx, MessageText, []byte("answer")))
	require.NoError(t, <-found, "the reply never arrived") // the reader waits here, not in Read
}

// TestCoalesceCloseNowRace: a write that was under way when CloseNow ran
// returns an error, not nil for a frame that can no longer be sent (a
// review found it deferred into the send buffer after the socket closed).
func TestCoalesceCloseNowRace(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	a, b := loopbackPair(t)
	inObserver, release := make(chan struct{}), make(chan struct{})
	c := New(a, nil, false, "", &Options{OnFrame: func(d Direction, h wsframe.Header, _ []byte) {
		if d == Outbound && h.Opcode == wsframe.OpText {
			close(inObserver)
			<-release
		}
	}})
	t.Cleanup(func() { c.CloseNow() })
	p := &wirePeer{t: t, nc: b, masked: true}
	ctx := context.Background()
	p.send(p.frame(wsframe.OpText, true, []byte("a")), p.frame(wsframe.OpText, true, []byte("b")))
	_, _, err := c.Read(ctx) // arms the Conn
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Write(ctx, MessageText, []byte("xyz")) }()
	<-inObserver // the write holds frameMu
	require.NoError(t, c.CloseNow())
	close(release)
	require.Error(t, <-done)
}

// TestCoalesceCloseNowDoesNotWait: CloseNow with replies held behind a
// peer that does not read returns at once; it does not wait the close
// timeout (an hour here) for room that will not come.
func TestCoalesceCloseNowDoesNotWait(t *testing.T) {
	if !rawNoWait {
		t.Skip("writes are coalesced on Linux only")
	}
	a, b := loopbackPair(t)
	c := New(a, nil, false, "", &Options{CloseTimeout: time.Hour})
	p := &wirePeer{t: t, nc: b, masked: true}
	fillSocket(t, c, p)
	ctx := context.Background()
	p.send(p.frame(wsframe.OpText, true, []byte("a")), p.frame(wsframe.OpText, true, []byte("b")))
	_, _, err := c.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, MessageText, []byte("reply"))) // held behind the queued rest
	closed := make(chan struct{})
	go func() { c.CloseNow(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute): // a hang detector, not a measure of speed
		t.Fatal("CloseNow waited for a peer that does not read")
	}
}

// TestReadIntoEmptyMessage: an empty message read into a nil buffer is an
// empty slice, not nil, as before reads went through pooled buffers.
func TestReadIntoEmptyMessage(t *testing.T) {
	c, p := coalescePair(t, false)
	p.send(p.frame(wsframe.OpBinary, true, nil), p.frame(wsframe.OpText, true, nil))
	for _, want := range []MessageType{MessageBinary, MessageText} {
		typ, msg, err := c.ReadInto(context.Background(), nil)
		require.NoError(t, err)
		require.Equal(t, want, typ)
		require.NotNil(t, msg)
		require.Empty(t, msg)
	}
}
