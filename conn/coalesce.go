package conn

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/ws6455/ws6455/wsframe"
)

// Replies that are ready together leave together, without timers.
//
// A server that answers pipelined requests (many small messages that
// arrived in one read) would otherwise make one system call per reply. So
// when a read returns a message while more received bytes are already
// buffered, the read arms the Conn (coalArmed): the next frame written,
// a reply most likely, is not sent at once but appended, whole, to the
// writer's send buffer (w.pending), and the write returns nil. The buffered
// frames leave in one system call as soon as one of these happens:
//
//   - a read is about to wait for the socket, or returns a message with
//     nothing more buffered (so a reply waits only while the reader works
//     through messages that have already arrived);
//   - a frame that is not deferred is written (it goes out behind them);
//   - the send buffer is full, or CloseNow or Close runs.
//
// A lone message is never held: a read that finds nothing more buffered
// does not arm the Conn, and no timer is involved. One frame is deferred
// per arming, so a goroutine that writes many messages while the reader
// is busy sends them as usual.
//
// The reader is not the only way out: the write that starts a batch also
// starts a goroutine (flushHeld) that yields once and then sends what is
// still held, so a reader that stops reading (blocked elsewhere, perhaps
// waiting for the peer's answer to the held frame) holds nothing back.
//
// What "nil" means for such a write: the frame is committed. It is whole
// in the send buffer, ahead of every frame written after it, and it goes
// out without any further call unless the connection fails; its context
// no longer matters (as for a write whose rest was queued: ErrQueued). If
// the socket cannot take it at once when it is flushed, the rest is
// written by a goroutine of the Conn's (see kick), as a blocked Write
// would have.
//
// Only plain TCP and Unix sockets on Linux coalesce (see canCoalesce):
// there the flush can try the socket without blocking. Elsewhere every
// write goes out before it returns, as before.

// Bits of reader.coalesce.
const (
	// coalArmed: a read returned a message with more bytes buffered; the
	// next frame written may be deferred. Set by the reader, cleared by the
	// writer that defers and by the reader before it waits.
	coalArmed = 1
	// coalDeferred: w.pending holds frames that wait to be flushed. Set
	// and cleared under frameMu.
	coalDeferred = 2
	// coalReader: the reader will flush (it set coalArmed and has not
	// waited since). Cleared by the reader only, before it waits.
	coalReader = 4
	// coalNet: a flushHeld goroutine has been started and has not begun
	// its work yet: a frame deferred meanwhile is in its batch. Set by the
	// writer that starts it (under frameMu), cleared by flushHeld (and,
	// harmlessly early, by flushDeferred: a later deferral then starts
	// another).
	coalNet = 8
)

// sendBufSize is the size of the buffer deferred frames collect in.
const sendBufSize = 16 << 10

// sendBufPool holds those buffers. A buffer is held only while frames
// wait in it: an idle connection holds none.
var sendBufPool = newReservePool(4, func() *[sendBufSize]byte { return new([sendBufSize]byte) })

// messageDone is called by a read that is about to return a whole
// message: it arms the Conn when more received bytes are buffered (the
// next message can be read without waiting), and otherwise sends what was
// deferred. (Not inlined: it is off the stack of reads that do not
// coalesce.)
//
//go:noinline
func (c *Conn) messageDone() {
	r := &c.rd
	if r.buf.r < r.buf.w && r.buf.hs == nil && c.canCoalesce() {
		r.coalesce.Or(coalArmed | coalReader)
		return
	}
	c.flushDeferred()
}

// canCoalesce reports whether writes may be deferred on this Conn: on a
// socket that the writer can try without blocking (see coalesce.go), and
// never once a close frame went out.
func (c *Conn) canCoalesce() bool {
	return rawNoWait && c.writev && !c.fragile && !c.closeSent.Load()
}

// beforeWait is called by the reader before it waits for the socket: what
// was deferred goes out first. It costs one atomic load when nothing was.
func (c *Conn) beforeWait() {
	if c.rd.coalesce.Load() != 0 {
		c.flushDeferred()
	}
}

// flushDeferred disarms the Conn and sends the deferred frames, if any.
//
//go:noinline
func (c *Conn) flushDeferred() {
	r := &c.rd
	for {
		s := r.coalesce.Load()
		if s == 0 {
			return
		}
		if r.coalesce.CompareAndSwap(s, s&coalDeferred) {
			if s&coalDeferred != 0 {
				c.wr.kick()
			}
			return
		}
	}
}

// deferFrame appends a frame to the send buffer instead of sending it,
// if the Conn is armed and the frame fits; it reports whether it did. The
// caller holds frameMu and has checked that the frame may be deferred
// (a data frame that ends its message, or a pong). (Not inlined: see
// writeFrame.)
//
//go:noinline
func (w *writer) deferFrame(h *wsframe.Header, p []byte) bool {
	c := w.c
	need := wsframe.MaxHeaderSize + len(p)
	if w.pending == nil {
		if need > sendBufSize {
			return false
		}
	} else if cap(w.pending)-len(w.pending) < need {
		return false
	}
	if c.closeSent.Load() {
		return false // closing: the frame must meet the socket's error
	}
	var s uint32
	for {
		s = c.rd.coalesce.Load()
		if s&coalArmed == 0 {
			return false
		}
		if c.rd.coalesce.CompareAndSwap(s, s&^coalArmed|coalDeferred) {
			break
		}
	}
	n0 := len(w.pending)
	if w.pending == nil {
		w.pending = sendBufPool.Get()[:0]
	}
	w.pending = appendHeader(w.pending, h)
	n := len(w.pending)
	w.pending = append(w.pending, p...)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, w.pending[n:])
	}
	if c.closeSent.Load() {
		// CloseNow (or a failure) began meanwhile, and may not wait for
		// this frame: take it back, and let the write meet the error.
		w.pending = w.pending[:n0]
		w.consumePending(0)
		return false
	}
	// Every frame deferred is covered by a flushHeld that has not yet
	// begun (pending may already hold frames that are not a batch of its
	// own: the rest of a frame whose write timed out).
	if s&coalNet == 0 && !holdForTest.Load() {
		c.rd.coalesce.Or(coalNet)
		go w.flushHeld() // the safety net: see flushHeld
	}
	return true
}

// afterFrame runs after a writer let go of frameMu: if frames wait in the
// send buffer and the reader is not going to send them (it is waiting, or
// about to), it sends them. This closes the race between a writer that
// defers a frame and a reader that disarms at the same moment: one of the
// two sees the other's change (see kick).
func (w *writer) afterFrame() {
	if s := w.c.rd.coalesce.Load(); s&coalDeferred != 0 && s&coalReader == 0 {
		w.kick()
	}
}

// kick sends the deferred frames, without blocking. If frameMu is held,
// its holder sends them (a writer sends them ahead of its own frame, and
// calls afterFrame when done). If the socket cannot take all of them now,
// a goroutine waits for it to and writes the rest (flushLater): the
// caller, often the reading goroutine, must not block on a peer that
// might itself be waiting for it to read.
func (w *writer) kick() {
	c := w.c
	if !w.frameMu.state.CompareAndSwap(unlocked, locked) {
		return
	}
	later := false
	if len(w.pending) > 0 {
		n, err := w.sendPending(false)
		w.consumePending(n)
		switch {
		case err != nil:
			w.flushFailed(err)
		case len(w.pending) > 0:
			later = true
		}
	} else {
		c.rd.coalesce.And(^uint32(coalDeferred))
	}
	// Nothing was deferred meanwhile (that takes frameMu): no afterFrame.
	// A flush that timed out (the user's write deadline) leaves the rest
	// queued, to go out ahead of the next frame.
	w.frameMu.unlock(c)
	if later {
		go w.flushLater()
	}
}

// flushHeld is started with every batch of deferred frames (by the write
// that begins it), so that a batch never waits on the reader alone: a
// reader that stops after a read (its goroutine blocked on something else,
// perhaps on the peer's answer to the very frame held) must not keep a
// frame whose write returned nil from leaving. It first yields the
// processor, so that a reader working through messages that had already
// arrived can add their replies to the batch and send it itself, as it
// does under load; then it sends whatever is still held. Coalescing is
// therefore opportunistic: on an idle machine the batch may leave early,
// in more than one system call, never later than when the writing
// goroutine blocks or is descheduled.
func (w *writer) flushHeld() {
	runtime.Gosched()
	// From here on, a frame deferred is covered by a goroutine of its own.
	if w.c.rd.coalesce.And(^uint32(coalNet))&coalDeferred == 0 {
		return // the reader, or a writer, sent the batch
	}
	w.flushLater()
}

// holdForTest, when set, starts no flushHeld: tests of the mechanism then
// see exactly what the reader and the writers do.
var holdForTest atomic.Bool

// flushLater writes the deferred frames that the socket could not take at
// once, waiting for it as a Write would (bounded by the user's write
// deadline, if any, and by the end of the Conn).
func (w *writer) flushLater() {
	c := w.c
	if w.frameMu.lock(context.Background(), c) != nil {
		return // the Conn ended
	}
	if len(w.pending) > 0 {
		// beginIO puts the socket's write deadline back to the user's
		// (none, unless NetConn set one): a write cut short by its
		// context may have left a passed one behind.
		err := c.beginIO(context.Background(), false)
		if err == nil {
			var n int
			n, err = w.sendPending(true)
			w.consumePending(n)
		}
		c.endIO(false)
		if err != nil {
			w.flushFailed(err)
		}
	}
	w.frameMu.unlock(c)
}

// flushFailed handles a flush of committed frames that failed: a timeout
// (the user's write deadline) leaves them queued, to go out ahead of the
// next frame; any other error ends the connection, as for a write.
func (w *writer) flushFailed(err error) {
	if isTimeout(err) {
		return
	}
	c := w.c
	c.setErr(fmt.Errorf("conn: write failed: %w", err))
	c.closeTCP()
}

// consumePending drops the first n bytes of w.pending, which went out.
// A pooled send buffer keeps its start, and goes back to the pool once
// empty; the Conn then no longer has deferred frames. The caller holds
// frameMu.
func (w *writer) consumePending(n int) {
	if cap(w.pending) == sendBufSize {
		w.pending = w.pending[:copy(w.pending, w.pending[n:])]
	} else {
		w.pending = w.pending[n:]
	}
	if len(w.pending) > 0 {
		return
	}
	if cap(w.pending) == sendBufSize {
		sendBufPool.Put((*[sendBufSize]byte)(w.pending[:sendBufSize]))
	}
	w.pending = nil
	w.c.rd.coalesce.And(^uint32(coalDeferred))
}

// flushBeforeClose sends the deferred frames that the socket takes at
// once, before the connection is closed without a close frame (CloseNow):
// their writes returned nil. It does not wait: CloseNow is how a program
// drops a peer that stopped reading, and what such a peer has not made
// room for is dropped with it, as a reset drops a socket's buffer.
func (c *Conn) flushBeforeClose() {
	if c.rd.coalesce.Load()&coalDeferred != 0 {
		c.wr.kick()
	}
}
