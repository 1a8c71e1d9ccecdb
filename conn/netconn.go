package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ws6455/ws6455/wsframe"
)

// NetConn returns a net.Conn that carries a byte stream over c: each Write
// sends one message of type typ, and Read returns the payloads of the
// messages received, one after the other, as a continuous stream. A
// message of the other type fails the read. Read returns io.EOF once the
// peer has closed with 1000 (normal) or 1001 (going away). Close runs the
// close handshake with 1000. Deadlines work as net.Conn says: an expired
// deadline fails the call with an error whose Timeout method reports true,
// and the connection stays usable; a Write cut short after part of its
// message went out reports the whole message written (the rest is queued
// and goes out first, see ErrQueued). The deadlines belong to the
// connection's user: calls with contexts on the same Conn (Ping,
// keepalive, a Read answering a ping) never overwrite them. A Read is
// bound by the read deadline only: a pong it owes the peer while the write
// deadline has passed is kept aside and goes out ahead of the next frame
// written. A read cut
// short inside a compressed message, and a write cut short on TLS, cannot
// be resumed: there the connection fails with 1011 and the call returns
// that error (see "Calls cut short" in the package documentation).
//
// ctx bounds the life of the returned net.Conn: when it ends, the
// connection is closed.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	nc := &netConn{c: c, typ: typ, ctx: ctx}
	if ctx.Done() != nil {
		nc.stop = context.AfterFunc(ctx, func() { c.CloseNow() })
		c.stopAtEnd(nc.stop) // no registration outlives the Conn
	}
	return nc
}

type netConn struct {
	c    *Conn
	typ  MessageType
	ctx  context.Context
	stop func() bool

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	eof           bool // the peer closed normally
	closed        bool // Close was called
}

// Deadlines are the Conn's user deadlines (see watch.go): they are set on
// the underlying connection at once, so that a new deadline also reaches a
// call already blocked in it, and put back after calls with contexts.

// timeoutErr is what a call past its deadline returns.
func timeoutErr(op string) error {
	return &net.OpError{Op: op, Net: "websocket", Err: os.ErrDeadlineExceeded}
}

// queuedTimeout is the error of a NetConn write that timed out after part
// of its message went out: a timeout, as net.Conn says, that also matches
// ErrQueued, since the rest of the message will be sent.
type queuedTimeout struct{}

func (queuedTimeout) Error() string {
	return "i/o timeout (the rest of the message is queued and will be sent)"
}
func (queuedTimeout) Timeout() bool   { return true }
func (queuedTimeout) Temporary() bool { return true }
func (queuedTimeout) Is(target error) bool {
	return target == ErrQueued || target == os.ErrDeadlineExceeded
}

func (nc *netConn) Read(p []byte) (int, error) {
	nc.mu.Lock()
	dl, eof := nc.readDeadline, nc.eof
	nc.mu.Unlock()
	if eof {
		return 0, io.EOF
	}
	c := nc.c
	if err := c.getErr(); err != nil {
		return 0, nc.readErr(err) // the connection has ended: say how
	}
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, timeoutErr("read")
	}
	ctx := context.Background()
	if err := c.lockRead(ctx); err != nil {
		return 0, nc.readErr(c.readLockErr(err))
	}
	defer c.unlockRead()
	if err := c.getErr(); err != nil {
		return 0, nc.readErr(err)
	}
	for {
		if !c.rd.inMessage {
			typ, err := c.beginMessage(ctx)
			if err != nil {
				return 0, nc.readErr(err)
			}
			if typ != nc.typ {
				return 0, c.failRead(&wsframe.Error{Code: wsframe.CloseUnsupportedData, Reason: fmt.Sprintf("expected %v messages", nc.typ)})
			}
		}
		c.rd.ctx = ctx
		if err := c.beginIO(ctx, true); err != nil {
			return 0, nc.readErr(err)
		}
		n, err := c.readAnswering(p)
		if err == io.EOF {
			if n > 0 || len(p) == 0 {
				return n, nil
			}
			continue // an empty message: go on to the next
		}
		if err != nil {
			return n, nc.readErr(err)
		}
		return n, nil
	}
}

func (nc *netConn) readErr(err error) error {
	var ce CloseError
	if errors.As(err, &ce) && (ce.Code == wsframe.CloseNormal || ce.Code == wsframe.CloseGoingAway) {
		nc.mu.Lock()
		nc.eof = true
		nc.mu.Unlock()
		return io.EOF
	}
	if CloseCode(err) == 0 && isTimeout(err) {
		return timeoutErr("read")
	}
	return err
}

func (nc *netConn) Write(p []byte) (int, error) {
	nc.mu.Lock()
	dl := nc.writeDeadline
	nc.mu.Unlock()
	if nc.c.closeSent.Load() {
		return 0, nc.c.writeFailedErr()
	}
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, timeoutErr("write")
	}
	if err := nc.c.Write(context.Background(), nc.typ, p); err != nil {
		if CloseCode(err) == 0 && isTimeout(err) {
			// A message cut short is queued whole: it counts as written.
			if errors.Is(err, ErrQueued) {
				return len(p), &net.OpError{Op: "write", Net: "websocket", Err: queuedTimeout{}}
			}
			return 0, timeoutErr("write")
		}
		return 0, err
	}
	return len(p), nil
}

func (nc *netConn) Close() error {
	nc.mu.Lock()
	again := nc.closed
	nc.closed = true
	nc.mu.Unlock()
	if again {
		return ErrClosed
	}
	if nc.stop != nil {
		nc.stop()
	}
	// The connection may already have ended (the peer closed it): closing
	// it once more is not an error.
	nc.c.Close(wsframe.CloseNormal, "")
	return nil
}

func (nc *netConn) LocalAddr() net.Addr  { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.readDeadline, nc.writeDeadline = t, t
	nc.mu.Unlock()
	if err := nc.c.setUserDeadline(true, t); err != nil {
		return err
	}
	return nc.c.setUserDeadline(false, t)
}

func (nc *netConn) SetReadDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.readDeadline = t
	nc.mu.Unlock()
	return nc.c.setUserDeadline(true, t)
}

func (nc *netConn) SetWriteDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.writeDeadline = t
	nc.mu.Unlock()
	return nc.c.setUserDeadline(false, t)
}
