package conn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// valueCtx is a context passed by value whose type is not comparable (it
// holds a map), as some frameworks' request contexts are. Comparing two
// interfaces holding it panics.
type valueCtx struct {
	context.Context
	vals map[string]string
}

// A cancellable context of an uncomparable type must work as any other:
// the watch compares contexts with == (watch.go beginWatched/fire), which
// panics at run time for such a type.
func TestReviewUncomparableContext(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	// Cancelled only after the Conn ended (cleanups run last-in first-out):
	// cancelled while the registration is in place, the AfterFunc's
	// goroutine panics the same way in watch.fire, which no recover can
	// catch, and the test binary dies.
	t.Cleanup(cancel)
	c, p := serverWithPeer(t, nil)
	ctx := valueCtx{Context: base, vals: map[string]string{"k": "v"}}
	p.sendFrame(true, wsframe.OpText, []byte("hi"))
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = errors.New("panic: " + strings.TrimSpace(fmtAny(r)))
			}
		}()
		_, _, err = c.Read(ctx)
	}()
	require.NoError(t, err)
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = errors.New("panic: " + strings.TrimSpace(fmtAny(r)))
			}
		}()
		err = c.Write(ctx, MessageText, []byte("x"))
	}()
	require.NoError(t, err)
}

func fmtAny(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "non-string panic"
}

// A write cut short that fails the connection (here: a streamed message
// whose first fragment went out) sends a close frame with 1011 "when the
// stream can still carry one". The usual handler reaction to a failed
// write is CloseNow; CloseNow lets out a failed read's close frame first
// (failClosing) but not a failed write's, so the 1011 is swallowed.
func TestReviewCloseNowAfterFailedWriteSends1011(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // let CloseNow run before failWrite's goroutine
	c, p := serverWithPeer(t, &Options{CloseTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Writer(ctx, MessageBinary)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, writeBufSize+1)) // one full fragment goes out
	require.NoError(t, err)
	cancel()
	err = w.Close()
	require.Error(t, err)
	require.Equal(t, wsframe.CloseInternalError, CloseCode(err))
	c.CloseNow()

	h, _ := p.recvFrame()
	require.Equal(t, wsframe.OpBinary, h.Opcode)
	require.False(t, h.Fin)
	p.expectClose(wsframe.CloseInternalError)
}

// deadlineSpy is a net.Conn that reports the read deadlines set on it.
type deadlineSpy struct {
	net.Conn
	rd chan time.Time
}

func (s *deadlineSpy) SetReadDeadline(t time.Time) error {
	err := s.Conn.SetReadDeadline(t)
	select {
	case s.rd <- t:
	default:
	}
	return err
}

// Close's wait for the peer's close frame is bounded by the close timeout,
// a read deadline that drainUntilClosed sets on the connection directly,
// outside the watch. A NetConn user clearing (or extending) its read
// deadline meanwhile, from another goroutine, as net.Conn users such as
// http.Server do, overwrites it: setUserDeadline sees no call in progress.
// Close then waits for as long as the peer likes.
func TestReviewUserDeadlineDoesNotUnboundClose(t *testing.T) {
	a, b := tcpPair(t)
	spy := &deadlineSpy{Conn: a, rd: make(chan time.Time, 16)}
	const closeTimeout = 200 * time.Millisecond
	c := New(spy, nil, false, "", &Options{CloseTimeout: closeTimeout})
	t.Cleanup(func() { c.CloseNow() })
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
	nc := NetConn(context.Background(), c, MessageBinary)

	done := make(chan error, 1)
	go func() { done <- c.Close(wsframe.CloseNormal, "") }()
	h, _ := p.recvFrame()
	require.Equal(t, wsframe.OpClose, h.Opcode)
	// Wait for the drain's deadline (the first non-zero read deadline).
	for dl := range spy.rd {
		if !dl.IsZero() {
			break
		}
	}
	require.NoError(t, nc.SetReadDeadline(time.Time{})) // the user clears its own deadline
	select {
	case err := <-done:
		require.ErrorIs(t, err, errCloseTimeout)
	case <-time.After(50 * closeTimeout):
		c.CloseNow()
		<-done
		t.Fatalf("Close did not return within 50 close timeouts: the user's deadline replaced the close timeout")
	}
}

// The watches' registrations on a long-lived cancellable context are kept
// between calls and dropped when the Conn ends (endWatches).
func TestReviewPinsWatchRegistrationsEndWithConn(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	ctx := newCountingCtx(t)
	p.sendFrame(true, wsframe.OpBinary, []byte("a"))
	_, _, err := c.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, MessageBinary, []byte("b")))
	require.NoError(t, c.Write(ctx, MessageBinary, []byte("c")))
	// Registrations of contexts without a deadline are made on a goroutine
	// of their own (watch.register): wait for them, boundedly.
	require.Eventually(t, func() bool { return ctx.registrations() == 2 }, 10*time.Second, time.Millisecond,
		"one per direction, kept between calls: %d", ctx.registrations())
	p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseNormal, ""))
	_, _, err = c.Read(ctx)
	require.Equal(t, wsframe.CloseNormal, CloseCode(err))
	<-c.Done()
	require.Eventually(t, func() bool { return ctx.registrations() == 0 }, 10*time.Second, time.Millisecond,
		"registrations left on the caller's context after the Conn ended")
}

// "No registration outlives the Conn" (doc.go, ARCHITECTURE.md): NetConn
// registers context.AfterFunc(ctx, CloseNow) and drops it only in its own
// Close. A NetConn whose peer closed (Read returned io.EOF) and which the
// user drops without Close keeps the Conn reachable from a long-lived ctx.
func TestReviewNetConnRegistrationOutlivesConn(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	ctx := newCountingCtx(t)
	nc := NetConn(ctx, c, MessageBinary)
	p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseNormal, ""))
	_, err := nc.Read(make([]byte, 8))
	require.ErrorIs(t, err, io.EOF)
	<-c.Done()
	require.Zero(t, ctx.registrations(), "registrations left on the caller's context after the Conn ended")
}
