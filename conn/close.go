package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ws6455/ws6455/wsframe"
)

// CloseError is the error returned by reads once the peer has closed the
// connection with a close frame. Code is CloseNoStatus (1005) when the
// peer's close frame carried no code. Use errors.As to get it:
//
//	var ce conn.CloseError
//	if errors.As(err, &ce) && ce.Code == wsframe.CloseNormal { ... }
type CloseError struct {
	Code   wsframe.CloseCode
	Reason string
}

// Error returns a description with the code and reason.
func (e CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("conn: peer closed the connection: %v", e.Code)
	}
	return fmt.Sprintf("conn: peer closed the connection: %v: %q", e.Code, e.Reason)
}

// CloseCode returns the close code that describes how err ended a
// connection: the peer's code for a CloseError, the code this side sent for
// a protocol error it detected (1002, 1007, 1009, ...), CloseAbnormal (1006)
// for a connection lost without a close frame, and 0 for nil or for errors
// that did not end the connection (such as a read whose context expired
// while waiting for a message).
func CloseCode(err error) wsframe.CloseCode {
	if err == nil {
		return 0
	}
	var ce CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var fe *wsframe.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrQueued) || isTimeout(err) {
		return 0
	}
	return wsframe.CloseAbnormal
}

var errCloseTimeout = errors.New("conn: close handshake timed out")

// Close runs the close handshake: it sends a close frame with code and
// reason (code 0 or CloseNoStatus sends an empty close frame; a reason that
// is too long or not UTF-8 is left out), waits (at most the close timeout) for the peer's close frame, and
// closes the TCP connection (a client first waits, briefly, for the server
// to close it, as RFC 6455 §7.1.1 asks). It returns nil when the peer
// answered. Close may be called from any goroutine, and more than once.
//
// If another goroutine is reading (or waiting to read), that goroutine gets
// the messages the peer still sends and then the peer's close frame (its
// read returns a CloseError). Otherwise Close reads, discarding data
// messages until the peer's close, and hands over to a reader that turns up
// in the meantime.
func (c *Conn) Close(code wsframe.CloseCode, reason string) error {
	if code != 0 && code != wsframe.CloseNoStatus && !code.ValidOnWire() {
		return fmt.Errorf("conn: close code %d may not be sent", uint16(code))
	}
	deadline := time.Now().Add(c.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := c.writeCloseFrame(code, reason); err != nil {
		if !errors.Is(err, errCloseSent) {
			c.closeTCP()
			return err
		}
		if c.isEnded() {
			return ErrClosed
		}
		// A close handshake is under way (a failure's, or another
		// Close's): wait for it too, from the moment its close frame is
		// out, so that TCP is not closed under it.
		select {
		case <-c.closeOutChan():
		case <-ctx.Done():
		}
	}
	closed, closeRcvd := c.done(), c.closeRcvdChan()
	timedOut := false
	// Take the read lock, unless the peer's close arrives (a reader got
	// it) or the Conn ends first.
	switch err := c.readMu.lockOr(ctx, c, closeRcvd); err {
	case net.ErrClosed:
	case errLockGaveUp:
		// The reading goroutine finishes the handshake (closes TCP).
		select {
		case <-closed:
		case <-ctx.Done():
			timedOut = true
			c.closeTCP()
		}
	case nil:
		// Nobody is reading: read until the peer's close, unless a reader
		// turns up, which then gets the rest.
		yielded := c.drainUntilClosed(true)
		if !yielded {
			c.rd.buf.close()
		}
		c.readMu.unlock(c)
		if !yielded {
			// The drain ran out of time? (Asked of the clock: ctx's timer
			// may not have fired yet at the very instant.)
			if !time.Now().Before(deadline) {
				timedOut = true
			}
			c.closeTCP()
			break
		}
		select {
		case <-closed:
		case <-ctx.Done():
			timedOut = true
			c.closeTCP()
		}
	default: // the close timeout
		timedOut = true
		c.closeTCP()
	}
	if c.gotPeerClose() {
		return nil
	}
	if timedOut {
		return errCloseTimeout
	}
	return errNoCloseFrame
}

// errNoCloseFrame: the connection ended (the peer dropped it, or a read
// failed) before the peer's close frame came. CloseCode maps it to 1006.
var errNoCloseFrame = errors.New("conn: connection ended without the peer's close frame (1006)")

// CloseNow closes the TCP connection without a close handshake. A close
// frame already on its way is let out first, within the close timeout:
// when a read has just failed on the peer's protocol error, or a call cut
// short has just failed the connection, that frame tells the peer why
// (1002, 1007, 1009, 1011, ...), and when Close or Group.Shutdown runs in
// another goroutine it carries their code; a handler that closes as soon
// as its call fails must not swallow it. Replies held for coalescing (see
// Write) go out first if the socket takes them at once; CloseNow does not
// wait for a peer that does not read.
func (c *Conn) CloseNow() error {
	if c.closeSent.Load() {
		t := time.NewTimer(c.opts.CloseTimeout)
		select {
		case <-c.closeOutChan():
		case <-t.C:
		}
		t.Stop()
	}
	c.flushBeforeClose() // writes that returned nil (coalesce.go)
	c.abort()
	return nil
}

// abort closes the connection at once, whatever is on its way.
func (c *Conn) abort() {
	c.setErr(ErrClosed)
	c.closeTCP()
}

var errCloseSent = errors.New("conn: close frame already sent")

// writeCloseFrame sends a close frame, once.
func (c *Conn) writeCloseFrame(code wsframe.CloseCode, reason string) error {
	if c.closeSent.Swap(true) {
		return errCloseSent
	}
	return c.sendCloseFrame(code, reason)
}

// sendCloseFrame writes the close frame that the caller claimed by setting
// closeSent, and then says it is out (closeFrameDone), whether the write
// worked or not. Invalid codes or reasons are replaced rather than
// refused: a close must always be possible.
func (c *Conn) sendCloseFrame(code wsframe.CloseCode, reason string) error {
	defer c.closeFrameDone()
	var b [2 + 123]byte
	p, err := wsframe.AppendClosePayload(b[:0], code, reason)
	if err != nil {
		if !code.ValidOnWire() && code != wsframe.CloseNoStatus && code != 0 {
			return fmt.Errorf("conn: %v cannot be sent: %w", code, err)
		}
		// The reason is too long or not UTF-8: send the code alone.
		p, err = wsframe.AppendClosePayload(b[:0], code, "")
		if err != nil {
			return err
		}
	}
	deadline := time.Now().Add(c.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return c.wr.writeFrame(ctx, wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, p)
}

// closeFrameDone records that the claimed close frame has been written,
// or will not be, and wakes the Close calls waiting for it.
func (c *Conn) closeFrameDone() {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if !c.closeWritten {
		c.closeWritten = true
		if c.closeOut != nil {
			close(c.closeOut)
		}
	}
}

// closeOutChan returns the channel closed by closeFrameDone, making it on
// first use.
func (c *Conn) closeOutChan() <-chan struct{} {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return lazyChan(&c.closeOut, c.closeWritten)
}

// gotClose handles the peer's close frame, read by the holder of readMu:
// code, reason and err are what wsframe.ParseClosePayload made of it.
func (c *Conn) gotClose(code wsframe.CloseCode, reason string, err error) error {
	if err != nil {
		return c.failRead(err)
	}
	ce := CloseError{Code: code, Reason: reason}
	c.notePeerClose()
	if !c.closeSent.Load() {
		echo := code
		if echo == wsframe.CloseNoStatus {
			echo = wsframe.CloseNormal
		}
		c.writeCloseFrame(echo, "")
	}
	err = c.setErr(ce)
	c.finishAfterClose()
	return err
}

// notePeerClose records the peer's close frame and wakes Close.
func (c *Conn) notePeerClose() {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.peerClosed {
		return
	}
	c.peerClosed = true
	if c.closeRcvd != nil {
		close(c.closeRcvd)
	}
}

// closeRcvdChan returns the channel that is closed when the peer's close
// frame has arrived, making it on first use.
func (c *Conn) closeRcvdChan() <-chan struct{} {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return lazyChan(&c.closeRcvd, c.peerClosed)
}

// gotPeerClose reports whether the peer's close frame has arrived.
func (c *Conn) gotPeerClose() bool {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.peerClosed
}

// finishAfterClose ends the connection once both close frames have been
// exchanged: the server closes TCP at once; the client gives the server
// the close timeout to do it first. The caller holds readMu.
func (c *Conn) finishAfterClose() {
	if c.client {
		c.setInternalDeadline(true, time.Now().Add(c.opts.CloseTimeout))
		bp := readBufPool.Get()
		for {
			if _, err := c.rd.buf.read(*bp); err != nil {
				break
			}
		}
		readBufPool.Put(bp)
	}
	c.rd.buf.close()
	c.closeTCP()
}

// maxDrain is the most payload drainUntilClosed skips in one frame while
// waiting for the peer's close frame.
const maxDrain = 1 << 20

// drainUntilClosed reads and discards frames until the peer's close frame
// (then finishes the connection), an error, or the close timeout. It is
// used after this side sent a close frame, by the holder of readMu. With
// yield, it stops at the start of a frame when a reader is waiting for
// readMu, and reports true: that reader is to get the frame.
func (c *Conn) drainUntilClosed(yield bool) (yielded bool) {
	c.setInternalDeadline(true, time.Now().Add(c.opts.CloseTimeout))
	b := &c.rd.buf
	if n := int(c.rd.pingLen) - 1; n >= 0 {
		// An owed pong's ping: no pong after our close frame.
		c.rd.pingLen = 0
		b.discard(min(n, len(b.buffered())))
	}
	// The rest of a message being read is skipped: its reader must not
	// take that for the message's end. Until its last frame has gone by,
	// no reader can take over.
	midMessage := c.rd.inMessage && !c.rd.frameFin
	// With context takeover, a compressed message skipped here leaves the
	// peer's later messages referring to bytes this side never inflated:
	// no reader may take over after one (it would read altered data).
	window := c.rd.inflate != nil && c.rd.inflate.takeover
	noYield := window && c.rd.inMessage && c.rd.compressed
	c.abandonMessage()
	skip := c.rd.frameLeft
	c.rd.frameLeft = 0
	for {
		if skip > maxDrain {
			return false // not worth waiting for: the peer is sending too much
		}
		for skip > 0 {
			if err := b.need(1); err != nil {
				return false
			}
			n := int(min(skip, int64(len(b.buffered()))))
			b.discard(n)
			skip -= int64(n)
		}
		if err := b.need(2); err != nil {
			return false
		}
		if yield && !midMessage && !noYield && c.readWaiters.Load() > 0 {
			c.restoreDeadline(true)
			return true
		}
		h, n, err := wsframe.ParseHeader(b.buffered())
		if err == wsframe.ErrShortHeader {
			if b.need(n) != nil {
				return false
			}
			h, n, err = wsframe.ParseHeader(b.buffered())
		}
		if err != nil {
			return false
		}
		b.discard(n)
		if h.Opcode != wsframe.OpClose {
			if !h.Opcode.IsControl() {
				midMessage = !h.Fin
				if window && h.Rsv&wsframe.RSV1 != 0 {
					noYield = true
				}
			}
			skip = h.Length
			continue
		}
		if h.Length > wsframe.MaxControlPayload || b.need(int(h.Length)) != nil {
			return false
		}
		p := b.buffered()[:h.Length]
		if h.Masked {
			wsframe.Mask(h.Mask, 0, p)
		}
		if c.opts.OnFrame != nil {
			c.opts.OnFrame(Inbound, h, p)
		}
		code, reason, err := wsframe.ParseClosePayload(p) // reason is a copy
		b.discard(int(h.Length))
		if err != nil {
			code, reason = wsframe.CloseProtocolError, ""
		}
		c.notePeerClose()
		c.setErr(CloseError{Code: code, Reason: reason})
		c.finishAfterClose()
		return false
	}
}

// closeTCP closes the network connection and marks the Conn finished.
func (c *Conn) closeTCP() {
	c.closeOnce.Do(func() {
		c.setErr(ErrClosed)
		c.closeSent.Store(true) // nothing more can be sent: writes say so at once
		c.nc.Close()
		c.errMu.Lock()
		c.ended = true
		if c.closed != nil {
			close(c.closed)
		}
		if !c.closeWritten {
			// No close frame will go out now: nothing to wait for.
			c.closeWritten = true
			if c.closeOut != nil {
				close(c.closeOut)
			}
		}
		f := c.onCloseFn
		c.errMu.Unlock()
		c.stopKeepalive()
		c.endWatches()
		if f != nil {
			f()
		}
	})
}
