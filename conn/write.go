package conn

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"

	"github.com/ws6455/ws6455/wsframe"
)

// writeBufSize is the size of the pooled buffer used to mask client frames,
// to send small frames in one write on connections without writev (TLS),
// and to collect the fragments of a streamed message.
const writeBufSize = 16 << 10

// writeBufPool holds those buffers, with a small reserve (see reservePool):
// they are 16 KiB.
var writeBufPool = newReservePool(4, func() *[]byte { b := make([]byte, writeBufSize); return &b })

// frameVec is what writing one frame needs besides its payload: room for
// the header, and the state of a vectored write (see send). It is
// pooled rather than kept in the writer, so that a connection holds none of
// it while idle.
type frameVec struct {
	hdr [wsframe.MaxHeaderSize]byte
	vecState
}

var frameVecPool = newReservePool(reserveSize, newFrameVec)

// maskKeyPool holds ChaCha8 generators, each seeded from crypto/rand, that
// make the clients' mask keys: fast, never blocking, and unpredictable to a
// peer that sees some of the keys (RFC 6455 §5.3 asks for keys an attacker
// cannot predict). Pooled rather than one per connection, so that an idle
// client connection holds no generator (one is about 300 bytes).
var maskKeyPool = newReservePool(reserveSize, func() *rand.ChaCha8 {
	var seed [32]byte
	crand.Read(seed[:])
	return rand.NewChaCha8(seed)
})

// newMaskKey returns a fresh mask key.
func newMaskKey() [4]byte {
	g := maskKeyPool.Get()
	k := g.Uint64()
	maskKeyPool.Put(g)
	return [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
}

// ErrClosed is wrapped by errors of calls made after the connection (or
// its sending side, once a close frame went out) was closed. It matches
// net.ErrClosed with errors.Is.
var ErrClosed = fmt.Errorf("conn: %w", net.ErrClosed)

// writer is the write side of a Conn.
type writer struct {
	c       *Conn
	msgMu   waitLock    // held while one data message is being sent
	frameMu waitLock    // held while one frame is being written
	comp    *compressor // nil unless permessage-deflate was negotiated; used under msgMu
	// pending goes out ahead of the next frame: the rest of a frame whose
	// write timed out, and whole frames deferred by coalescing (a pooled
	// send buffer then: see coalesce.go). Used under frameMu.
	pending []byte
}

func (w *writer) init(c *Conn) {
	w.c = c
	c.writev = canWritev(&c.rd.buf)
	c.fragile = fragileWrites(c.nc)
}

// Write sends a whole message as one frame. It is safe to call from many
// goroutines; messages go out one at a time. ctx bounds the wait for the
// connection and the write itself. If ctx ends before any of the message
// went out, Write returns ctx's error and the connection stays usable. If
// it ends after part of the frame went out, the error also matches
// ErrQueued: the rest of the frame goes out ahead of the next frame, so the
// message is delivered whole, late. Where that cannot be (TLS refuses
// writes after a timeout; with context takeover the compressor has taken
// in the message), the connection fails with 1011 (see "Calls cut short"
// in the package documentation). Other write errors end the connection.
//
// A nil error means the message is committed: it went out, or it waits
// whole in the Conn's send buffer, ahead of every later frame, and goes out
// without any further call unless the connection fails or CloseNow drops
// it. It waits there only on a reply to pipelined messages (Linux TCP and
// Unix sockets): when the last read returned a message while more had
// already arrived, the reply leaves together with the next ones, when the
// reader has read what had arrived (before it waits for the socket), when
// another frame is written, or at Close; and in any case once the scheduler
// has let other goroutines run, as soon as the socket takes it (a goroutine
// started with each batch sends it), so a reader that stops reading never
// holds a reply back. A message written while nothing more has arrived goes
// out at once; there is no timer. CloseNow sends what the socket takes at
// once and drops the rest (a peer that does not read would not get it).
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != MessageText && typ != MessageBinary {
		return errMessageType(typ)
	}
	if c.closeSent.Load() {
		return c.writeFailedErr()
	}
	if c.wr.comp != nil {
		return c.writeCompressed(ctx, typ, p)
	}
	if err := c.wr.msgMu.lock(ctx, c); err != nil {
		return c.writeLockErr(err)
	}
	defer c.wr.msgMu.unlock(c)
	return c.wr.writeFrame(ctx, wsframe.Header{Fin: true, Opcode: wsframe.Opcode(typ)}, p)
}

func errMessageType(typ MessageType) error {
	return fmt.Errorf("conn: cannot write a message of type %v", typ)
}

// writeCompressed is Write on a connection with permessage-deflate.
func (c *Conn) writeCompressed(ctx context.Context, typ MessageType, p []byte) error {
	if err := c.wr.msgMu.lock(ctx, c); err != nil {
		return c.writeLockErr(err)
	}
	defer c.wr.msgMu.unlock(c)
	h := wsframe.Header{Fin: true, Opcode: wsframe.Opcode(typ)}
	cp := c.wr.comp
	if len(p) < cp.cfg.threshold {
		return c.wr.writeFrame(ctx, h, p)
	}
	// Nothing may reach the compressor for a message that will not go out.
	if c.closeSent.Load() {
		return c.writeFailedErr()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	z, err := cp.compress(p)
	if err != nil {
		return err
	}
	defer cp.done()
	// Without context takeover a message that does not shrink can go as it
	// is; with it, the peer's window must see what ours saw.
	takeover := cp.cfg.writeTakeover && !cp.cfg.huffmanOnly()
	if len(z) < len(p) || takeover {
		h.Rsv = wsframe.RSV1
		p = z
	}
	err = c.wr.writeFrame(ctx, h, p)
	if takeover && unsent(err) {
		// The compressor's window holds a message the peer never saw:
		// every later message would inflate wrong.
		return c.failWrite(interrupted("compressed message cut short", err), true)
	}
	return err
}

// unsent reports whether err is that of a write cut short before any of
// its frame went out, which left the connection usable.
func unsent(err error) bool {
	return err != nil && CloseCode(err) == 0 && !errors.Is(err, ErrQueued)
}

// writeLockErr is the error of a write that could not take its lock. (Not
// inlined: see writeFrame.)
//
//go:noinline
func (c *Conn) writeLockErr(err error) error {
	// Whatever stopped the wait (the context too), a connection whose
	// sending side has closed or failed says so.
	if err == net.ErrClosed || c.closeSent.Load() {
		return c.writeFailedErr()
	}
	return err
}

// writeControl sends a control frame; it may go out between the frames of
// a message being streamed.
func (w *writer) writeControl(ctx context.Context, op wsframe.Opcode, p []byte) error {
	return w.writeFrame(ctx, wsframe.Header{Fin: true, Opcode: op}, p)
}

// writeFrame writes one frame with payload p, masking it on the client
// side. The caller holds msgMu for data frames.
//
// The write paths are kept flat (no closures, few and small frames): they
// run on the caller's goroutine, often under a read that answers a ping,
// and a goroutine whose frames ever go deeper than a 2 KiB stack allows
// keeps a 4 KiB stack for the rest of its life.
func (w *writer) writeFrame(ctx context.Context, h wsframe.Header, p []byte) error {
	if err := w.lockFrame(ctx, h.Opcode == wsframe.OpClose); err != nil {
		return err
	}
	defer w.unlockFrame()
	c := w.c
	if err := c.beginIO(ctx, false); err != nil {
		c.endIO(false)
		return err // nothing was written
	}
	h.Length = int64(len(p))
	if c.client {
		h.Masked = true
		h.Mask = newMaskKey()
	}
	if c.opts.OnFrame != nil {
		observe(c, &h, p)
	}
	if c.rd.coalesce.Load()&coalArmed != 0 && w.mayDefer(&h, p) {
		return w.endFrame(ctx, nil) // committed: see coalesce.go
	}
	var err error
	if len(w.pending) > 0 || c.watch.Load() != nil {
		err = w.beforeFrame()
	}
	if err == nil {
		switch {
		case !h.Masked && c.writev:
			err = w.send(&h, p)
		case c.writev && len(p) <= smallFrameMax:
			err = w.sendSmall(&h, p)
		default:
			err = w.writeCopy(&h, p)
		}
	}
	if err == nil && c.watch.Load() == nil {
		return nil
	}
	return w.endFrame(ctx, err)
}

// unlockFrame lets go of frameMu, then sends the deferred frames if the
// reader is no longer going to (see coalesce.go).
func (w *writer) unlockFrame() {
	w.frameMu.unlock(w.c)
	w.afterFrame()
}

// mayDefer defers the frame (see coalesce.go) if it may be: a data frame
// that ends its message, or a pong, with no pong stashed to go out first.
// (Not inlined: see writeFrame.)
//
//go:noinline
func (w *writer) mayDefer(h *wsframe.Header, p []byte) bool {
	if !(h.Opcode == wsframe.OpPong || h.Fin && !h.Opcode.IsControl()) {
		return false
	}
	if ws := w.c.watch.Load(); ws != nil && ws.stashed.Load() {
		return false
	}
	return w.deferFrame(h, p)
}

// observe tells the frame observer about a frame being sent.
func observe(c *Conn, h *wsframe.Header, p []byte) { c.opts.OnFrame(Outbound, *h, p) }

// lockFrame takes frameMu for one frame. Once a close frame went out only
// another close may follow.
func (w *writer) lockFrame(ctx context.Context, isClose bool) error {
	c := w.c
	if err := w.frameMu.lock(ctx, c); err != nil {
		return c.writeLockErr(err)
	}
	if c.closeSent.Load() && !isClose {
		w.frameMu.unlock(w.c)
		return c.writeFailedErr()
	}
	return nil
}

// endFrame finishes a frame's write under ctx: it ends the call's watch
// and turns the write's error into the one to return. This is where a
// write cut short is judged (see fail.go): a timed-out write that sent
// nothing left no trace; one that sent part of its frame has queued the
// rest (see queue), so the message is committed; on a connection that
// refuses writes after a timeout (TLS) it fails the connection. Other
// write errors leave a partial frame behind and end the connection.
func (w *writer) endFrame(ctx context.Context, err error) error {
	c := w.c
	c.endIO(false)
	if err == nil {
		return nil
	}
	if isTimeout(err) {
		var q *queuedError
		if errors.As(err, &q) {
			return &queuedError{cutShort(ctx, q.err)}
		}
		cause := cutShort(ctx, err)
		if c.fragile {
			return c.failWrite(interrupted("write timed out", cause), false)
		}
		if cause == err {
			return fmt.Errorf("conn: write: %w", err)
		}
		return cause
	}
	err = c.setErr(fmt.Errorf("conn: write failed: %w", err))
	c.closeTCP()
	return err
}

// beforeFrame sends what must go out ahead of the next frame: the rest of
// a frame whose write timed out, and a pong that a NetConn read could not
// send (see stashPong). An error means none of the next frame went out.
// (Not inlined: see writeFrame.)
//
//go:noinline
func (w *writer) beforeFrame() error {
	if len(w.pending) > 0 {
		if err := w.flushPending(); err != nil {
			return err
		}
	}
	ws := w.c.watch.Load()
	if ws == nil || !ws.stashed.Load() {
		return nil
	}
	ws.mu.Lock()
	var pong [wsframe.MaxControlPayload]byte
	n := copy(pong[:], ws.pong[:ws.pongLen])
	ws.stashed.Store(false)
	ws.mu.Unlock()
	if w.c.closeSent.Load() {
		return nil // no pong after a close frame
	}
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpPong, Length: int64(n)}
	if w.c.client {
		h.Masked, h.Mask = true, newMaskKey()
	}
	err := w.writeCopy(&h, pong[:n])
	var q *queuedError
	switch {
	case err == nil:
	case errors.As(err, &q):
		err = q.err // the pong's rest is queued; the next frame did not go out
	default:
		w.c.stashPong(pong[:n]) // still owed
	}
	return err
}

// flushPending sends what waits in w.pending: the rest of a frame whose
// write timed out, and frames deferred by coalescing (coalesce.go).
func (w *writer) flushPending() error {
	n, err := w.sendPending(true)
	w.consumePending(n)
	return err
}

// queue keeps the unsent rest of a frame after a write timed out: rest is
// already encoded; more is payload still to be masked from position pos.
func (w *writer) queue(err error, rest []byte, more []byte, h wsframe.Header, pos int) error {
	if !isTimeout(err) || w.c.fragile {
		return err // the connection fails (see endFrame)
	}
	w.pending = append(w.pending, rest...)
	start := len(w.pending)
	w.pending = append(w.pending, more...)
	if h.Masked {
		wsframe.Mask(h.Mask, pos, w.pending[start:])
	}
	return &queuedError{err}
}

// smallFrameMax is the largest payload of a masked frame that sendSmall
// copies into a small pooled buffer (control frames and short messages of a
// client), rather than writeCopy into a 16 KiB one.
const smallFrameMax = 512 - wsframe.MaxHeaderSize

var smallFramePool = newReservePool(reserveSize, func() *[512]byte { return new([512]byte) })

// sendSmall sends a masked frame with a short payload: header and masked
// payload copied into a small pooled buffer, then one send. Its frames are
// small: a client answers pings with it from under a read.
func (w *writer) sendSmall(h *wsframe.Header, p []byte) error {
	sb := smallFramePool.Get()
	b := appendHeader(sb[:0], h)
	n := len(b)
	b = append(b, p...)
	wsframe.Mask(h.Mask, 0, b[n:])
	err := w.send(nil, b)
	smallFramePool.Put(sb)
	return err
}

// writeCopy writes a frame through a pooled buffer, the header and as much
// of the payload as fits (masked on the client side) in each write.
func (w *writer) writeCopy(h *wsframe.Header, p []byte) error {
	bp := writeBufPool.Get()
	st := copyState{h: h, rest: p, first: true}
	buf := appendHeader((*bp)[:0], h)
	var err error
	for {
		n := copy(buf[len(buf):cap(buf)], st.rest)
		if h.Masked {
			st.pos = wsframe.Mask(h.Mask, st.pos, buf[len(buf):len(buf)+n])
		}
		buf = buf[:len(buf)+n]
		st.rest = st.rest[n:]
		if w.c.writev {
			err = w.send(nil, buf)
		} else {
			err = w.writeChunk(buf)
		}
		if err != nil {
			err = w.copyFailed(err, &st, buf)
			break
		}
		if len(st.rest) == 0 {
			break
		}
		st.first = false
		buf = buf[:0]
	}
	writeBufPool.Put(bp)
	return err
}

// writeChunk writes an encoded frame, or a chunk of one from writeCopy,
// with nc.Write, for connections without send: on a timeout after part of
// it went out, the rest is queued.
func (w *writer) writeChunk(buf []byte) error {
	if m, err := w.c.nc.Write(buf); err != nil {
		return w.partial(err, m, buf, nil)
	}
	return nil
}

// copyState is where writeCopy is in its frame: kept together so that
// copyFailed takes a pointer rather than six arguments (writeCopy is on the
// stack under a read that answers a ping).
type copyState struct {
	h     *wsframe.Header
	rest  []byte // the payload not yet copied, still to be masked from pos
	pos   int
	first bool // the chunk being written is the first
}

// appendHeader is wsframe.AppendHeader, not inlined, to keep its callers'
// frames small.
//
//go:noinline
func appendHeader(b []byte, h *wsframe.Header) []byte { return wsframe.AppendHeader(b, *h) }

// copyFailed handles a chunk of writeCopy whose write failed: buf is the
// chunk. If part of the chunk went out before a timeout, the rest of it was
// queued (a queuedError), and the rest of the payload is queued behind it;
// if none of it went out but earlier chunks did, all of it is.
func (w *writer) copyFailed(err error, st *copyState, buf []byte) error {
	var q *queuedError
	switch {
	case errors.As(err, &q):
		return w.queue(q.err, nil, st.rest, *st.h, st.pos)
	case st.first || !isTimeout(err):
		return err // nothing of the frame went out, or the connection fails
	}
	return w.queue(err, buf, st.rest, *st.h, st.pos)
}

// partial handles a write of a and then b (the parts of one frame) that
// failed after m bytes went out: if it timed out, the rest is queued (see
// queue).
func (w *writer) partial(err error, m int, a, b []byte) error {
	if m == 0 {
		return err // nothing of the frame went out
	}
	if m < len(a) {
		return w.queue(err, a[m:], b, wsframe.Header{}, 0)
	}
	return w.queue(err, nil, b[m-len(a):], wsframe.Header{}, 0)
}

// Writer returns a writer for one message of the given type, sent as the
// caller writes: each time its buffer fills, a frame (a fragment of the
// message) goes out. Close sends the last frame and must be called; until
// then no other message can be sent (control frames can). ctx bounds every
// frame written. If ctx ends before any of the message went out, the
// writer's calls return ctx's error and the connection stays usable (Close
// must still be called); once part of the message went out, a message that
// cannot be finished fails the connection with 1011: the peer is never
// left inside an unfinished message with a connection that looks usable.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("conn: cannot write a message of type %v", typ)
	}
	if c.closeSent.Load() {
		return nil, c.writeFailedErr()
	}
	if err := c.wr.msgMu.lock(ctx, c); err != nil {
		return nil, c.writeLockErr(err)
	}
	bp := writeBufPool.Get()
	m := &messageWriter{c: c, ctx: ctx, op: wsframe.Opcode(typ), bp: bp, buf: (*bp)[:0]}
	if c.wr.comp != nil {
		m.comp = c.wr.comp
		m.comp.begin()
		m.rsv = wsframe.RSV1
	}
	return m, nil
}

// messageWriter streams one message as fragments.
type messageWriter struct {
	c      *Conn
	ctx    context.Context
	op     wsframe.Opcode // opcode of the next frame: the type, then continuation
	bp     *[]byte
	buf    []byte
	closed bool
	sent   bool        // a frame of the message went out (or is queued)
	fed    bool        // the compressor took in bytes of the message
	comp   *compressor // compressing the message, when not nil
	rsv    byte        // RSV bits of the next frame: RSV1 on the first of a compressed message
	err    error       // the error that ended the message, returned by later calls
}

var errWriterClosed = errors.New("conn: write to a closed message writer")

// Write buffers p, sending full buffers as fragments.
func (m *messageWriter) Write(p []byte) (int, error) {
	if m.closed {
		return 0, errWriterClosed
	}
	if m.err != nil {
		return 0, m.failedErr()
	}
	if m.comp != nil {
		return m.writeCompressed(p)
	}
	n := 0
	for len(p) > 0 {
		if len(m.buf) == cap(m.buf) {
			if err := m.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(m.buf[len(m.buf):cap(m.buf)], p)
		m.buf = m.buf[:len(m.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// writeCompressed compresses p and sends what deflate has produced, in
// fragments, holding back the last four bytes: the stream's end is
// stripped of 00 00 ff ff, so they may be part of it.
func (m *messageWriter) writeCompressed(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if m.c.closeSent.Load() {
		return 0, m.c.writeFailedErr()
	}
	if err := m.ctx.Err(); err != nil {
		// Nothing more goes into the compressor for a message that will
		// not go out; what went in already may have to fail the
		// connection (see cutShort).
		m.err = m.cutShort(err, false)
		return 0, m.err
	}
	m.fed = true
	if err := m.comp.write(p); err != nil {
		return 0, err
	}
	for out := m.comp.out.b; len(out) > writeBufSize+len(deflateTail); out = m.comp.out.b {
		n := len(out) - len(deflateTail)
		if err := m.frame(false, out[:n]); err != nil {
			return 0, err
		}
		m.comp.out.b = append(out[:0], out[n:]...)
	}
	return len(p), nil
}

// ReadFrom sends what r yields, to let io.Copy skip its own buffer.
func (m *messageWriter) ReadFrom(r io.Reader) (int64, error) {
	if m.closed {
		return 0, errWriterClosed
	}
	if m.err != nil {
		return 0, m.failedErr()
	}
	if m.comp != nil {
		return io.Copy(struct{ io.Writer }{m}, r)
	}
	var total int64
	for {
		if len(m.buf) == cap(m.buf) {
			if err := m.flush(false); err != nil {
				return total, err
			}
		}
		n, err := r.Read(m.buf[len(m.buf):cap(m.buf)])
		m.buf = m.buf[:len(m.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (m *messageWriter) flush(fin bool) error {
	err := m.frame(fin, m.buf)
	m.buf = m.buf[:0]
	return err
}

// frame sends one fragment of the message.
func (m *messageWriter) frame(fin bool, p []byte) error {
	if m.err != nil {
		return m.failedErr()
	}
	err := m.c.wr.writeFrame(m.ctx, wsframe.Header{Fin: fin, Rsv: m.rsv, Opcode: m.op}, p)
	if err == nil {
		m.sent = true
		m.op, m.rsv = wsframe.OpContinuation, 0
		return nil
	}
	m.err = m.cutShort(err, fin)
	return m.err
}

// cutShort judges a fragment whose write failed (see fail.go). Nothing of
// the message out and nothing in the compressor's window: no trace, the
// connection stays usable. The last frame queued: the message is
// committed. Otherwise the peer is inside a message that will not be
// finished, or its window will not match ours: the connection fails.
func (m *messageWriter) cutShort(err error, fin bool) error {
	queued := errors.Is(err, ErrQueued)
	if CloseCode(err) != 0 || queued && fin {
		return err
	}
	advanced := m.fed && m.comp.cfg.writeTakeover && !m.comp.cfg.huffmanOnly()
	if !m.sent && !queued && !advanced {
		return err
	}
	return m.c.failWrite(interrupted("message cut short", err), true)
}

// failedErr is what a call on a Writer whose message was cut short
// returns: the error that cut it short, unless that error left the
// connection usable (CloseCode 0) and the connection has ended since, in
// which case the call says so, as every call on an ended Conn does.
func (m *messageWriter) failedErr() error {
	if CloseCode(m.err) == 0 && m.c.getErr() != nil {
		return m.c.writeFailedErr()
	}
	return m.err
}

// Close sends the final frame of the message and lets the next message go.
func (m *messageWriter) Close() error {
	if m.closed {
		return errWriterClosed
	}
	m.closed = true
	var err error
	if m.err != nil {
		err = m.failedErr()
		if m.comp != nil {
			m.comp.release()
			m.comp.done()
		}
	} else if m.comp != nil {
		if err = m.comp.end(); err == nil {
			err = m.frame(true, m.comp.out.b)
		}
		m.comp.done()
	} else {
		err = m.flush(true)
	}
	writeBufPool.Put(m.bp)
	m.bp, m.buf = nil, nil
	m.c.wr.msgMu.unlock(m.c)
	return err
}
