package conn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/wsframe"
)

// reader is the read side of a Conn: the frame and message state machine.
// It is used only by the goroutine holding Conn.readMu.
type reader struct {
	buf bufReader

	// The current frame. (The small fields of frame and message are
	// grouped to keep the Conn small: it is what an idle connection costs.)
	frameLeft int64   // payload bytes of the current data frame not yet read
	mask      [4]byte // the current frame's masking key (server side)
	maskPos   uint8   // position in mask of the next payload byte
	frameFin  bool    // the current data frame is the last of its message
	masked    bool
	// pingLen is the payload length + 1 of a ping whose pong is due; the
	// payload waits at the front of the read buffer (see answerPing).
	pingLen uint8

	// The current message.
	inMessage  bool  // a data message has started and its last frame not been read
	compressed bool  // the message is compressed (RSV1 on its first frame)
	want       uint8 // bytes needed at the front of the buffer (see readHeader): at most 14 + 125
	// coalesce is shared with the writers: see coalesce.go. (Here it
	// fills padding: the Conn stays the same size.)
	coalesce atomic.Uint32
	msgType  MessageType
	msgSize  int64         // payload bytes of the message so far (after inflation)
	rawSize  int64         // payload bytes of the message's frames so far
	inflate  *decompressor // nil unless permessage-deflate was negotiated
	utf8     wsframe.UTF8Validator
	gen      uint64          // counts messages, to retire old messageReaders
	ctx      context.Context // bounds the reads of the current call, and of a Reader's message
}

func (r *reader) init(nc net.Conn, br *bufio.Reader) { r.buf.init(nc, br) }

// ErrMessageTooBig is wrapped by the error of a read whose message went
// over the read limit; the connection was closed with 1009.
var ErrMessageTooBig = wsframe.ErrTooLarge

// Reader waits for the next data message and returns its type and a reader
// for its payload, which returns io.EOF at the end of the message. Control
// frames that arrive meanwhile are handled (pings answered, close echoed).
// The returned reader is valid until the next call to Reader, Read or
// ReadInto, which discard what is left of it.
//
// ctx bounds the wait for the message and the reads of its payload. If ctx
// ends while waiting for a message to start, Reader returns ctx.Err() and
// the connection stays usable. The payload reader of an uncompressed
// message, likewise, returns ctx's error (or a NetConn timeout) without
// losing data, and can be read on where the deadline allows; a compressed
// message cannot be resumed (the inflater keeps its state), so there a read
// cut short fails the connection with 1011. The payload reader returns
// io.EOF only at the end of the message: if the message is abandoned (the
// next read begins, Close runs, the connection fails), it returns an error.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, nil, c.readLockErr(err)
	}
	defer c.unlockRead()
	typ, err := c.beginMessage(ctx)
	if err != nil {
		return 0, nil, err
	}
	return typ, &messageReader{c: c, gen: c.rd.gen}, nil
}

// Read waits for the next data message and returns it whole, in a newly
// allocated slice of its size: the message is read into pooled buffers
// and copied out once, so a small message costs a small allocation. See
// ReadMessage and ReadInto for variants that allocate nothing.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.readInto(ctx, nil, readCopy) // inlined: no frame added
}

// How readInto grows and returns its buffer.
const (
	readReuse  = iota // ReadInto: the caller's buffer, grown by allocation
	readPooled        // ReadMessage: pooled arrays (growPooled), which the caller gives back
	readCopy          // Read: pooled arrays, then a copy of the message's size
)

// ReadInto waits for the next data message and reads it into buf[:0],
// growing it when the message does not fit, and returns the result. Reusing
// the returned slice for the next call makes steady-state reads allocation
// free.
//
// If ctx ends while waiting for a message to start, ReadInto returns
// ctx.Err() and the connection stays usable; if it ends in the middle of a
// message, the part already read is lost, so the connection fails with
// 1011 (internal error; see "Calls cut short" in the package doc).
//
// The buffer grows as the payload arrives, never by more than it holds at
// a time (from 4 KiB): a peer that declares a large frame and sends
// little makes the Conn hold little.
func (c *Conn) ReadInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	return c.readInto(ctx, buf, readReuse) // inlined: no frame added
}

// readInto is ReadInto, Read and ReadMessage, as mode says.
func (c *Conn) readInto(ctx context.Context, buf []byte, mode uint8) (MessageType, []byte, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, buf[:0], c.readLockErr(err)
	}
	defer c.unlockRead()
	if err := c.startRead(ctx); err != nil {
		return 0, buf[:0], err
	}
	// beginMessage, written out: pongs go out from this frame, not deeper.
	typ, err := c.nextMessage()
	for err == errControl {
		if err = c.answerPing(); err == nil {
			typ, err = c.nextMessage()
		}
	}
	if err != nil {
		return 0, buf[:0], err
	}
	buf = buf[:0]
	for {
		// Grow the buffer only once it is full: memory follows the bytes
		// received (see growFor).
		if cap(buf) == len(buf) {
			buf = c.growFor(buf, mode != readReuse)
		}
		n, err := c.readMessage(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == nil {
			continue
		}
		if err == io.EOF {
			c.messageDone()
			if mode == readCopy {
				buf = copyOut(buf)
			}
			return typ, buf, nil
		}
		if err == errControl {
			err = c.answerPing()
		}
		if err != nil {
			if mode != readReuse {
				putPooled(buf)
				buf = nil
			}
			return 0, buf, c.readIntoErr(ctx, err)
		}
	}
}

// growFor makes room in a full buf for more of the message: for the rest
// of an uncompressed frame, but never more than buf already holds (at
// least minGrow) in one step, so that memory follows the bytes received,
// not the length a peer declared (a buffer is never more than about twice
// what arrived); else for at least one byte, letting append choose how
// much. (Not inlined: its temporaries would enlarge ReadInto's frame,
// which is on every read's stack.)
//
//go:noinline
func (c *Conn) growFor(buf []byte, pooled bool) []byte {
	if r := &c.rd; r.frameLeft == 0 && r.frameFin && !r.compressed {
		if buf == nil {
			buf = []byte{} // an empty message is an empty slice, not nil
		}
		return buf // the message is all in buf: the next read says so
	}
	if pooled {
		if b := growPooled(buf); b != nil {
			return b
		}
	}
	var b []byte
	if need := c.rd.frameLeft; need > 0 && !c.rd.compressed {
		need = min(need, max(int64(cap(buf)), minGrow))
		b = append(buf[:cap(buf)], make([]byte, int(need))...)
	} else {
		b = append(buf, 0)
	}
	if pooled {
		putPooled(buf) // copied by append: its array is free
	}
	return b[:len(buf)]
}

// minGrow is the least growFor adds to a buffer for a frame that needs it.
const minGrow = 4096

// readIntoErr fails the connection when a read of ReadInto was cut short
// in the middle of a message: the part already read is lost.
func (c *Conn) readIntoErr(ctx context.Context, err error) error {
	if !c.failed() && (ctx.Err() != nil || isInterrupt(err)) {
		return c.failRead(interrupted("read cut short in a message", err))
	}
	return err
}

// lockRead takes readMu for a read, letting Close know that a reader
// waits for it.
func (c *Conn) lockRead(ctx context.Context) error {
	c.readWaiters.Add(1)
	defer c.readWaiters.Add(-1)
	return c.readMu.lock(ctx, c)
}

// readLockErr is the error of a read that could not take readMu. (Not
// inlined, like the other cold paths of ReadInto: see nextDataFrame.)
//
//go:noinline
func (c *Conn) readLockErr(err error) error {
	// Whatever stopped the wait (the context too), a connection that has
	// failed or ended says so: every call after that must.
	if e := c.getErr(); e != nil {
		return e
	}
	return err
}

// failed reports whether the connection has a terminal error.
func (c *Conn) failed() bool { return c.getErr() != nil }

// beginMessage discards what is left of the previous message and reads
// frames until the first frame of a new data message.
func (c *Conn) beginMessage(ctx context.Context) (MessageType, error) {
	if err := c.startRead(ctx); err != nil {
		return 0, err
	}
	typ, err := c.nextMessage()
	for err == errControl {
		if err = c.answerPing(); err == nil {
			typ, err = c.nextMessage()
		}
	}
	return typ, err
}

// startRead prepares a read under ctx: it watches ctx (the caller ends
// the watch with unlockRead), and discards what is left of the previous
// message.
func (c *Conn) startRead(ctx context.Context) error {
	if err := c.getErr(); err != nil {
		return err
	}
	r := &c.rd
	r.ctx = ctx
	if err := c.beginIO(ctx, true); err != nil {
		return err
	}
	if r.inMessage {
		if err := c.discardMessage(); err != nil {
			return err
		}
	}
	return nil
}

// unlockRead ends a read call: its watch, then readMu.
func (c *Conn) unlockRead() {
	c.endIO(true)
	c.readMu.unlock(c)
}

// nextMessage reads frames until the first frame of a data message and
// starts the message. After a control frame it returns errControl: the
// caller answers with answerPing and calls again.
func (c *Conn) nextMessage() (MessageType, error) {
	r := &c.rd
	h, err := c.nextDataFrame()
	for err == errMore {
		// Wait here, not inside nextDataFrame: the shallower the wait, the
		// smaller the stack.
		c.beforeWait()
		if err = r.buf.need(int(r.want)); err != nil {
			return 0, c.readErr(err)
		}
		h, err = c.nextDataFrame()
	}
	if err != nil {
		return 0, err
	}
	if h.Opcode == wsframe.OpContinuation {
		return 0, c.failRead(errContinuationFirst)
	}
	r.inMessage = true
	r.gen++
	r.msgType = MessageType(h.Opcode)
	r.msgSize, r.rawSize = 0, 0
	r.utf8.Reset()
	r.compressed = h.Rsv&wsframe.RSV1 != 0
	if r.compressed {
		r.inflate.begin(c)
	}
	if err := c.startFrame(h); err != nil {
		return 0, err
	}
	return r.msgType, nil
}

var (
	errContinuationFirst = &wsframe.Error{Code: wsframe.CloseProtocolError, Reason: "continuation frame without a message to continue"}
	errDataInMessage     = &wsframe.Error{Code: wsframe.CloseProtocolError, Reason: "new data frame before the previous message ended"}
	errRSV               = &wsframe.Error{Code: wsframe.CloseProtocolError, Reason: "reserved bits set without a negotiated extension"}
	errUnmasked          = &wsframe.Error{Code: wsframe.CloseProtocolError, Reason: "client frame is not masked"}
	errMasked            = &wsframe.Error{Code: wsframe.CloseProtocolError, Reason: "server frame is masked"}
)

// discardMessage reads what is left of the current message, with the
// usual checks (UTF-8, read limit), into a pooled scratch buffer.
func (c *Conn) discardMessage() error {
	bp := readBufPool.Get()
	defer readBufPool.Put(bp)
	for {
		_, err := c.readMessage(*bp)
		if err == errControl {
			err = c.answerPing()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// startFrame accounts for a data frame whose header was just read.
func (c *Conn) startFrame(h wsframe.Header) error {
	r := &c.rd
	// Compared before adding: a length near 2^63 must not wrap the sum
	// around and slip under the limit.
	if limit := c.limit.Load(); limit > 0 && h.Length > maxRaw(limit, r.compressed)-r.rawSize {
		r.frameLeft = h.Length
		return c.failRead(wsframe.ErrTooLarge)
	}
	r.rawSize += h.Length
	r.frameLeft = h.Length
	r.frameFin = h.Fin
	r.masked = h.Masked
	r.mask = h.Mask
	r.maskPos = 0
	return nil
}

// maxRaw is the most payload a message may carry on the wire under limit.
// A compressed message is limited by what it inflates to, checked as it
// inflates; its compressed form may exceed that by deflate's worst-case
// overhead (stored blocks), and no more.
func maxRaw(limit int64, compressed bool) int64 {
	if compressed {
		extra := limit/64 + 1024
		if limit > math.MaxInt64-extra {
			return math.MaxInt64
		}
		return limit + extra
	}
	return limit
}

// endMessageCheck runs the checks due at the end of a message.
func (c *Conn) endMessageCheck() error {
	r := &c.rd
	if r.msgType == MessageText {
		if err := r.utf8.Done(); err != nil {
			return c.failRead(wsframe.ErrInvalidUTF8)
		}
	}
	return nil
}

// nextDataFrame reads the next frame header. A control frame is handled
// (see handleControl) and reported with errControl: the caller answers a
// ping with answerPing and calls again. The loop over control frames is
// left to the callers near the top of a read so that the deepest call
// chains (a read that waits, a pong that is written) stay short: a
// goroutine's stack, once grown past 2 KiB, is never given back.
func (c *Conn) nextDataFrame() (wsframe.Header, error) {
	if c.rd.pingLen != 0 {
		// A pong is still owed (its write was cut short): it goes first.
		return wsframe.Header{}, errControl
	}
	h, err := c.readHeader()
	if err != nil {
		return h, err
	}
	if h.Opcode.IsControl() {
		return h, c.handleControl(h)
	}
	if h.Opcode == wsframe.OpContinuation {
		if !c.rd.inMessage {
			c.rd.frameLeft = h.Length // for drainUntilClosed to skip
			return h, c.failRead(errContinuationFirst)
		}
	} else if c.rd.inMessage {
		c.rd.frameLeft = h.Length
		return h, c.failRead(errDataInMessage)
	}
	return h, nil
}

// errControl is returned by nextDataFrame, and by the reads that call it,
// after a control frame: the caller runs answerPing and reads on. It never
// reaches the user.
var errControl = errors.New("conn: control frame handled")

// answerPing sends the pong due for a ping that handleControl left at the
// front of the read buffer, and consumes the ping. The caller holds readMu.
// If the read's context ends before any of the pong went out, the ping
// stays where it is and the pong stays owed: the next read sends it first
// (see nextDataFrame), and this one returns the context's error.
func (c *Conn) answerPing() error {
	r := &c.rd
	if r.pingLen == 0 {
		return nil
	}
	n := int(r.pingLen) - 1
	if n > len(r.buf.buffered()) {
		r.pingLen = 0
		return nil // the connection failed meanwhile and dropped its buffer
	}
	var err error
	if !c.closeSent.Load() {
		err = c.wr.writeControl(r.ctx, wsframe.OpPong, r.buf.buffered()[:n])
	}
	if err != nil {
		return c.pongFailed(err)
	}
	r.pingLen = 0
	r.buf.discard(n)
	return nil
}

// pongFailed handles a pong whose write failed. (Not inlined: see
// nextDataFrame.)
//
//go:noinline
func (c *Conn) pongFailed(err error) error {
	r := &c.rd
	if unsent(err) && r.ctx != nil && r.ctx.Done() == nil && isTimeout(err) {
		// A read that cannot be cut short (a NetConn read) met a pong
		// that the user's write deadline keeps from going out: the read is
		// not to fail for it. The pong is kept aside, owed, and goes out
		// ahead of the next frame written.
		n := int(r.pingLen) - 1
		c.stashPong(r.buf.buffered()[:n])
		r.pingLen = 0
		r.buf.discard(n)
		return nil
	}
	n := int(r.pingLen) - 1
	if unsent(err) {
		return err // still owed
	}
	r.pingLen = 0
	r.buf.discard(n)
	if errors.Is(err, ErrQueued) {
		return nil // it will go out; the read goes on (or times out itself)
	}
	return c.setErr(err)
}

// readHeader parses the frame header at the front of the read buffer and
// checks the rules that need no message state. It does not wait: when the
// header, or a control frame's payload, is not all buffered yet it returns
// errMore with the number of bytes it needs in rd.want, and the caller
// waits for them (bufReader.need) and calls again. Nothing is consumed
// until the header is complete, so a wait that times out loses nothing.
func (c *Conn) readHeader() (wsframe.Header, error) {
	b := &c.rd.buf
	h, n, err := wsframe.ParseHeader(b.buffered())
	if err == wsframe.ErrShortHeader {
		c.rd.want = uint8(max(n, 2))
		return h, errMore
	}
	if err == nil {
		err = c.checkHeader(&h)
	}
	if err != nil {
		return h, c.failRead(err)
	}
	if h.Opcode.IsControl() && len(b.buffered()) < n+int(h.Length) {
		// h.Length <= 125 (checked): wait for the whole frame.
		c.rd.want = uint8(n + int(h.Length))
		return h, errMore
	}
	b.discard(n)
	if c.opts.PingInterval > 0 || c.opts.OnFrame != nil {
		c.sawHeader(h)
	}
	return h, nil
}

// errMore is returned by readHeader (and nextDataFrame) when the next
// frame header is not all buffered: rd.want bytes are needed.
var errMore = errors.New("conn: more bytes needed")

// checkHeader checks the rules on a frame header that need no message
// state.
func (c *Conn) checkHeader(h *wsframe.Header) error {
	if err := h.Check(0); err != nil {
		return err
	}
	if h.Rsv != 0 && !(h.Rsv == wsframe.RSV1 && c.rd.inflate != nil && (h.Opcode == wsframe.OpText || h.Opcode == wsframe.OpBinary)) {
		// RSV1 marks a compressed message, on its first frame only.
		return errRSV
	}
	if c.client && h.Masked {
		return errMasked
	}
	if !c.client && !h.Masked {
		return errUnmasked
	}
	return nil
}

// sawHeader notes a received frame for keepalive and tells the observer
// about data frames (control frames are told with their payload).
func (c *Conn) sawHeader(h wsframe.Header) {
	if c.opts.PingInterval > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	if c.opts.OnFrame != nil && !h.Opcode.IsControl() {
		c.opts.OnFrame(Inbound, h, nil)
	}
}

// sawBytes notes that payload bytes arrived, for keepalive: a peer that is
// sending a long frame is alive even though its pong must wait for the
// frame's end. (Not inlined: see nextDataFrame.)
//
//go:noinline
func (c *Conn) sawBytes() { c.lastRead.Store(time.Now().UnixNano()) }

// handleControl acts on a control frame whose payload readHeader left
// buffered. A ping's payload stays there for answerPing to send back; it
// returns errControl, or the peer's close as an error.
func (c *Conn) handleControl(h wsframe.Header) error {
	b := &c.rd.buf
	n := int(h.Length)
	p := b.buffered()[:n]
	if h.Masked {
		wsframe.Mask(h.Mask, 0, p)
	}
	if c.opts.OnFrame != nil {
		c.opts.OnFrame(Inbound, h, p)
	}
	switch h.Opcode {
	case wsframe.OpPing:
		c.rd.pingLen = uint8(n + 1)
		return errControl
	case wsframe.OpPong:
		c.gotPong(p)
		b.discard(n)
		return errControl
	}
	code, reason, err := wsframe.ParseClosePayload(p) // reason is a copy
	b.discard(n)
	return c.gotClose(code, reason, err)
}

// readErr turns an I/O error of the read side into the error to return.
// Timeouts are returned as they are (the connection stays usable); other
// errors end the connection.
func (c *Conn) readErr(err error) error {
	if isTimeout(err) {
		if e := c.getErr(); e != nil {
			return e
		}
		return cutShort(c.rd.ctx, err)
	}
	if e := c.getErr(); e != nil {
		return e
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("conn: connection closed without a close frame (1006): %w", io.ErrUnexpectedEOF)
	}
	err = c.setErr(err)
	c.rd.buf.close()
	c.closeTCP()
	return err
}

// messageReader is the io.Reader returned by Reader: a handle on one
// message, which stops working once the next message is started.
type messageReader struct {
	c   *Conn
	gen uint64
	eof bool // the whole message was read
}

// errMessageAbandoned is returned by a message reader whose message was
// not read to its end before the next read began.
var errMessageAbandoned = errors.New("conn: the message was abandoned before its end (the next read began)")

// Read reads the message's payload; io.EOF at its end, and only there.
func (m *messageReader) Read(p []byte) (int, error) {
	if m.eof {
		return 0, io.EOF
	}
	c := m.c
	// Hold readMu: Close, from another goroutine, may be reading too.
	if err := c.lockRead(context.Background()); err != nil {
		return 0, c.readLockErr(err)
	}
	defer c.unlockRead()
	if err := c.getErr(); err != nil {
		return 0, err
	}
	if m.gen != c.rd.gen {
		return 0, errMessageAbandoned
	}
	if err := c.beginIO(c.rd.ctx, true); err != nil {
		return 0, err
	}
	n, err := c.readAnswering(p)
	if err == io.EOF {
		m.eof = true
	}
	return n, err
}

// readAnswering is readMessage, answering pings on the way.
func (c *Conn) readAnswering(p []byte) (int, error) {
	for {
		n, err := c.readMessage(p)
		if err != errControl {
			return n, err
		}
		if err := c.answerPing(); err != nil {
			return 0, err
		}
	}
}

// readMessage reads the current message's payload (inflated, when it is
// compressed), reading the frames of its continuation as needed, and
// checks it: UTF-8 for text, the read limit. io.EOF at its end.
func (c *Conn) readMessage(p []byte) (int, error) {
	r := &c.rd
	if !r.inMessage {
		return 0, io.EOF
	}
	var n int
	var err error
	if r.compressed {
		n, err = r.inflate.read(p)
	} else {
		n, err = c.readRaw(p)
	}
	if n > 0 {
		r.msgSize += int64(n)
		if limit := c.limit.Load(); r.compressed && limit > 0 && r.msgSize > limit {
			return 0, c.failRead(wsframe.ErrTooLarge)
		}
		if r.msgType == MessageText {
			if _, verr := r.utf8.Write(p[:n]); verr != nil {
				return 0, c.failRead(wsframe.ErrInvalidUTF8)
			}
		}
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if err := c.endMessageCheck(); err != nil {
			return 0, err
		}
		c.endMessage()
		return n, io.EOF
	}
	var fe *wsframe.Error
	if errors.As(err, &fe) && !c.failed() {
		return 0, c.failRead(err)
	}
	if r.compressed && !c.failed() && isInterrupt(err) {
		// The inflater keeps the first error it sees: it cannot resume.
		return 0, c.failRead(interrupted("read cut short in a compressed message", err))
	}
	return 0, err
}

// readRaw reads the current message's payload as it was sent (unmasked,
// still compressed if it is), across its frames; io.EOF after the last.
func (c *Conn) readRaw(p []byte) (int, error) {
	r := &c.rd
	for r.frameLeft == 0 {
		if r.frameFin {
			return 0, io.EOF
		}
		if err := c.getErr(); err != nil {
			return 0, err
		}
		h, err := c.nextDataFrame()
		if err == errMore {
			c.beforeWait()
			if err := r.buf.need(int(r.want)); err != nil {
				return 0, c.readErr(err)
			}
			continue
		}
		if err != nil {
			return 0, err // errControl included: the caller answers and calls again
		}
		if err := c.startFrame(h); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > r.frameLeft {
		p = p[:r.frameLeft]
	}
	if r.buf.r == r.buf.w {
		c.beforeWait()
	}
	n, err := r.buf.read(p)
	if n > 0 {
		if c.opts.PingInterval > 0 {
			c.sawBytes()
		}
		if r.masked {
			r.maskPos = uint8(wsframe.Mask(r.mask, int(r.maskPos), p[:n]))
		}
		r.frameLeft -= int64(n)
		return n, nil
	}
	if err != nil {
		return 0, c.readErr(err)
	}
	return 0, nil
}

// endMessage ends the current message: the next one may start.
func (c *Conn) endMessage() {
	c.rd.inMessage = false
	if c.rd.compressed {
		c.rd.inflate.end()
		c.rd.compressed = false
	}
}

// abandonMessage ends the current message before its end (the close
// handshake skips the rest): its message reader then reports an error,
// not io.EOF.
func (c *Conn) abandonMessage() {
	if c.rd.inMessage {
		c.endMessage()
		c.rd.gen++
	}
}

// failRead fails the connection because of a protocol error found while
// reading, and returns the error. In the background it sends a close frame
// with the error's code, completes the close handshake as far as the peer
// allows (bounded by the close timeout) and closes the TCP connection. The
// caller holds readMu; the background work takes it once the caller is done.
func (c *Conn) failRead(err error) error {
	if e := c.getErr(); e != nil {
		return e
	}
	var fe *wsframe.Error
	if !errors.As(err, &fe) {
		fe = &wsframe.Error{Code: wsframe.CloseProtocolError, Reason: "protocol error"}
	}
	err = c.setErr(err)
	// Claim the close frame now, so that a Close called as soon as this
	// returns does not send another code.
	claimed := !c.closeSent.Swap(true)
	go func() {
		sent := claimed && c.sendCloseFrame(fe.Code, fe.Reason) == nil
		// Once the failed read has returned; unless the Conn was ended
		// meanwhile, which leaves nothing to do.
		if c.readMu.lock(context.Background(), c) != nil {
			c.closeTCP()
			return
		}
		defer c.readMu.unlock(c)
		if sent {
			c.drainUntilClosed(false)
		}
		c.rd.buf.close()
		c.closeTCP()
	}()
	return err
}
