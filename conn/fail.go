package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ws6455/ws6455/wsframe"
)

// This file decides, in one place, what a call cut short by its context or
// a deadline leaves behind. See "Calls cut short" in the package
// documentation for the rule; in short, such a call either
//
//   - left no trace (nothing of it reached the wire or changed the state
//     of the connection): it returns the context's error and the connection
//     stays usable; or
//   - committed its message (part of its frame went out, on a transport
//     that can resume): the rest of the frame goes out ahead of the next
//     one, and the error also matches ErrQueued; or
//   - left a trace that cannot be completed or undone: the connection
//     fails with CloseInternalError (1011).

// ErrQueued is matched (errors.Is) by the error of a write that was cut
// short after part of its frame went out: the rest of the frame is queued
// and goes out ahead of the next frame, so the message will be delivered
// whole. The error also matches the context's error (or, for NetConn, is a
// timeout). Do not send such a message again.
var ErrQueued = errors.New("conn: write cut short; the rest of its frame is queued and will be sent")

// queuedError is the error of a write that timed out after sending part of
// its frame (see ErrQueued).
type queuedError struct{ err error }

func (e *queuedError) Error() string        { return e.err.Error() + " (the rest of the frame is queued)" }
func (e *queuedError) Unwrap() error        { return e.err }
func (e *queuedError) Is(target error) bool { return target == ErrQueued }

// cutShort is the error of a call that ended early because of ctx or a
// deadline: ctx's error when ctx ended (or its deadline passed: the
// connection's deadline can pass a moment before the context's own timer
// fires), else err, the I/O error (a NetConn deadline).
func cutShort(ctx context.Context, err error) error {
	if ctx != nil {
		if e := ctx.Err(); e != nil {
			return e
		}
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return context.DeadlineExceeded
		}
	}
	return err
}

// isInterrupt reports whether err says that a call was cut short by its
// context or a deadline.
func isInterrupt(err error) bool {
	return isTimeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// interrupted returns the error of a call cut short with a trace that
// cannot be completed: it matches both a *wsframe.Error with
// CloseInternalError, for CloseCode, and cause.
func interrupted(reason string, cause error) error {
	return fmt.Errorf("%w: %w", &wsframe.Error{Code: wsframe.CloseInternalError, Reason: reason}, cause)
}

// failWrite fails the connection because a write left a trace that cannot
// be completed: err comes from interrupted. A close frame goes out when the
// stream can still carry one (sendClose), then the close handshake runs as
// Close runs it, in the background; otherwise the connection is closed at
// once. The work is done in the background, so the caller may hold the
// Conn's locks (endFrame holds frameMu).
func (c *Conn) failWrite(err error, sendClose bool) error {
	err = c.setErr(err)
	if !c.closeSent.Swap(true) {
		go func() {
			if !sendClose || c.fragile {
				c.closeFrameDone()
				c.closeTCP()
				return
			}
			var fe *wsframe.Error
			if !errors.As(err, &fe) {
				fe = &wsframe.Error{Code: wsframe.CloseInternalError}
			}
			if c.sendCloseFrame(fe.Code, fe.Reason) != nil {
				c.closeTCP()
				return
			}
			c.Close(0, "") // the close frame is out: wait for the peer's
		}()
	}
	return err
}

// fragileWrites reports whether nc refuses further writes once a write
// timed out: crypto/tls does (its record layer cannot know how much of a
// record went out), so there a timed-out write fails the connection.
func fragileWrites(nc net.Conn) bool {
	if f, ok := nc.(interface{ FragileWrites() bool }); ok { // an HTTP/2 stream (RFC 8441): accept_h2.go
		return f.FragileWrites()
	}
	_, ok := nc.(interface {
		ConnectionState() tls.ConnectionState
	})
	return ok
}

// writeFailedErr is the error of writes once the connection has failed or
// ended: it matches ErrClosed, and the failure's close code if there was
// one.
func (c *Conn) writeFailedErr() error {
	if e := c.getErr(); e != nil && e != ErrClosed && CloseCode(e) != wsframe.CloseAbnormal {
		return fmt.Errorf("%w: %w", ErrClosed, e)
	}
	return ErrClosed
}
