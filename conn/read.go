package conn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	maskPos   int     // position in mask of the next payload byte
	mask      [4]byte // the current frame's masking key (server side)
	frameFin  bool    // the current data frame is the last of its message
	masked    bool

	// The current message.
	inMessage  bool // a data message has started and its last frame not been read
	compressed bool // the message is compressed (RSV1 on its first frame)
	msgType    MessageType
	msgSize    int64         // payload bytes of the message so far (after inflation)
	rawSize    int64         // payload bytes of the message's frames so far
	inflate    *decompressor // nil unless permessage-deflate was negotiated
	utf8       wsframe.UTF8Validator
	gen        uint64          // counts messages, to retire old messageReaders
	ctx        context.Context // bounds the reads of the current message
	stopWatch  func() bool     // undoes watchCtx for ctx
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
// the connection stays usable; the payload reader, likewise, returns the
// error of a timed-out read without losing data, and can be read again.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, nil, c.readLockErr(err)
	}
	defer unlock(c.readMu)
	typ, err := c.beginMessage(ctx)
	if err != nil {
		return 0, nil, err
	}
	return typ, &messageReader{c: c, gen: c.rd.gen}, nil
}

// Read waits for the next data message and returns it whole, in a newly
// allocated slice. See ReadInto for a variant that reuses memory.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadInto(ctx, nil)
}

// ReadInto waits for the next data message and reads it into buf[:0],
// growing it when the message does not fit, and returns the result. Reusing
// the returned slice for the next call makes steady-state reads allocation
// free.
//
// If ctx ends while waiting for a message to start, ReadInto returns
// ctx.Err() and the connection stays usable; if it ends in the middle of a
// message, the part already read is lost, so the connection is closed with
// 1008 (policy violation).
func (c *Conn) ReadInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, buf[:0], c.readLockErr(err)
	}
	defer unlock(c.readMu)
	typ, err := c.beginMessage(ctx)
	if err != nil {
		return 0, buf[:0], err
	}
	buf = buf[:0]
	for {
		// Size the buffer for the rest of an uncompressed frame, whose
		// length was checked against the read limit (without a limit, only
		// up to a MiB ahead: a declared length is not a promise). Otherwise
		// let append grow it.
		if need := c.rd.frameLeft; need > 0 && !c.rd.compressed {
			if c.limit.Load() <= 0 {
				need = min(need, 1<<20)
			}
			if int64(cap(buf)-len(buf)) < need {
				buf = append(buf[:cap(buf)], make([]byte, int(need)-(cap(buf)-len(buf)))...)[:len(buf)]
			}
		}
		if cap(buf) == len(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.readMessage(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return typ, buf, nil
		}
		if err != nil {
			if !c.failed() {
				if ctx.Err() != nil || isTimeout(err) {
					c.failRead(&wsframe.Error{Code: wsframe.ClosePolicyViolation, Reason: "read timed out in a message"})
				}
			}
			return 0, buf, err
		}
	}
}

// lockRead takes readMu for a read, letting Close know that a reader
// waits for it.
func (c *Conn) lockRead(ctx context.Context) error {
	c.readWaiters.Add(1)
	defer c.readWaiters.Add(-1)
	return lock(ctx, c.readMu, c.closed)
}

func (c *Conn) readLockErr(err error) error {
	if err == net.ErrClosed {
		if e := c.getErr(); e != nil {
			return e
		}
	}
	return err
}

// failed reports whether the connection has a terminal error.
func (c *Conn) failed() bool { return c.getErr() != nil }

// beginMessage discards what is left of the previous message and reads
// frames until the first frame of a new data message.
func (c *Conn) beginMessage(ctx context.Context) (MessageType, error) {
	if err := c.getErr(); err != nil {
		return 0, err
	}
	r := &c.rd
	c.stopReadWatch()
	r.ctx = ctx
	r.stopWatch = watchCtx(ctx, c.nc, true)
	if r.inMessage {
		if err := c.discardMessage(); err != nil {
			c.stopReadWatch()
			return 0, err
		}
		r.stopWatch = watchCtx(ctx, c.nc, true)
	}
	h, err := c.nextDataFrame(ctx)
	if err != nil {
		c.stopReadWatch()
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
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	for {
		_, err := c.readMessage(*bp)
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
	r.rawSize += h.Length
	if limit := c.limit.Load(); limit > 0 && r.rawSize > maxRaw(limit, r.compressed) {
		r.frameLeft = h.Length
		return c.failRead(wsframe.ErrTooLarge)
	}
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
		return limit + limit/64 + 1024
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

// nextDataFrame reads frames until a data frame header, handling control
// frames on the way.
func (c *Conn) nextDataFrame(ctx context.Context) (wsframe.Header, error) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return h, err
		}
		if h.Opcode.IsControl() {
			if err := c.handleControl(ctx, h); err != nil {
				return h, err
			}
			continue
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
}

// readHeader reads one frame header and checks the rules that need no
// message state. The header's bytes are consumed only once it is complete,
// so a read that times out loses nothing.
func (c *Conn) readHeader() (wsframe.Header, error) {
	b := &c.rd.buf
	if err := b.need(2); err != nil {
		return wsframe.Header{}, c.readErr(err)
	}
	h, n, err := wsframe.ParseHeader(b.buffered())
	if err == wsframe.ErrShortHeader {
		if err := b.need(n); err != nil {
			return wsframe.Header{}, c.readErr(err)
		}
		h, n, err = wsframe.ParseHeader(b.buffered())
	}
	if err != nil {
		return h, c.failRead(err)
	}
	if err := h.Check(0); err != nil {
		return h, c.failRead(err)
	}
	if h.Rsv != 0 && !(h.Rsv == wsframe.RSV1 && c.rd.inflate != nil && (h.Opcode == wsframe.OpText || h.Opcode == wsframe.OpBinary)) {
		// RSV1 marks a compressed message, on its first frame only.
		return h, c.failRead(errRSV)
	}
	if c.client && h.Masked {
		return h, c.failRead(errMasked)
	}
	if !c.client && !h.Masked {
		return h, c.failRead(errUnmasked)
	}
	b.discard(n)
	if c.opts.PingInterval > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	if c.opts.OnFrame != nil && !h.Opcode.IsControl() {
		c.opts.OnFrame(Inbound, h, nil)
	}
	return h, nil
}

// handleControl reads a control frame's payload and acts on it.
func (c *Conn) handleControl(ctx context.Context, h wsframe.Header) error {
	b := &c.rd.buf
	n := int(h.Length)
	if err := b.need(n); err != nil {
		return c.readErr(err)
	}
	// The payload is used where it lies in the read buffer, and consumed
	// (discard may give the buffer back) once nothing refers to it.
	p := b.buffered()[:n]
	if h.Masked {
		wsframe.Mask(h.Mask, 0, p)
	}
	if c.opts.OnFrame != nil {
		c.opts.OnFrame(Inbound, h, p)
	}
	switch h.Opcode {
	case wsframe.OpPing:
		var err error
		if !c.closeSent.Load() {
			err = c.wr.writeControl(ctx, wsframe.OpPong, p)
		}
		b.discard(n)
		if err != nil {
			return c.setErr(err)
		}
	case wsframe.OpPong:
		c.gotPong(p)
		b.discard(n)
	case wsframe.OpClose:
		code, reason, err := wsframe.ParseClosePayload(p) // reason is a copy
		b.discard(n)
		return c.gotClose(code, reason, err)
	}
	return nil
}

// readErr turns an I/O error of the read side into the error to return.
// Timeouts are returned as they are (the connection stays usable); other
// errors end the connection.
func (c *Conn) readErr(err error) error {
	if isTimeout(err) {
		if e := c.getErr(); e != nil {
			return e
		}
		if ctx := c.rd.ctx; ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			// The connection's deadline can pass a moment before the
			// context's own timer fires.
			if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
				return context.DeadlineExceeded
			}
		}
		return err
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
}

// Read reads the message's payload; io.EOF at its end.
func (m *messageReader) Read(p []byte) (int, error) {
	c := m.c
	// Hold readMu: Close, from another goroutine, may be reading too.
	if err := c.lockRead(context.Background()); err != nil {
		return 0, c.readLockErr(err)
	}
	defer unlock(c.readMu)
	if m.gen != c.rd.gen {
		return 0, io.EOF
	}
	return c.readMessage(p)
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
		h, err := c.nextDataFrame(r.ctx)
		if err != nil {
			return 0, err
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
	n, err := r.buf.read(p)
	if n > 0 {
		if r.masked {
			r.maskPos = wsframe.Mask(r.mask, r.maskPos, p[:n])
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
	c.stopReadWatch()
}

// stopReadWatch undoes the context watch of the current read.
func (c *Conn) stopReadWatch() {
	if c.rd.stopWatch != nil {
		c.rd.stopWatch()
		c.rd.stopWatch = nil
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
	c.stopReadWatch()
	// Claim the close frame now, so that a Close called as soon as this
	// returns does not send another code.
	claimed := !c.closeSent.Swap(true)
	go func() {
		sent := claimed && c.sendCloseFrame(fe.Code, fe.Reason) == nil
		c.readMu <- struct{}{} // once the failed read has returned
		defer unlock(c.readMu)
		if sent {
			c.drainUntilClosed(false)
		}
		c.rd.buf.close()
		c.closeTCP()
	}()
	return err
}
