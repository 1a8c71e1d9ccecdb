package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/ws6455/ws6455/wsframe"
)

// Ping sends a ping and waits for the pong that answers it, or for ctx to
// end. Another goroutine must be reading: pongs are seen by reads. Pings
// may be sent while a message is being streamed.
func (c *Conn) Ping(ctx context.Context) error {
	return c.ping(ctx, 0)
}

// ping writes a ping under ctx and waits for its pong, until ctx ends or,
// when wait > 0, for at most wait after the ping went out.
func (c *Conn) ping(ctx context.Context, wait time.Duration) error {
	if c.closeSent.Load() {
		return c.writeFailedErr()
	}
	var p [4]byte
	ch := make(chan struct{})
	c.errMu.Lock()
	pg := c.pingStateLocked()
	pg.counter++
	binary.BigEndian.PutUint32(p[:], pg.counter)
	if pg.pings == nil {
		pg.pings = make(map[[4]byte]chan struct{})
	}
	pg.pings[p] = ch
	c.errMu.Unlock()
	defer func() {
		c.errMu.Lock()
		delete(pg.pings, p)
		c.errMu.Unlock()
	}()
	if err := c.wr.writeControl(ctx, wsframe.OpPing, p[:]); err != nil {
		return err
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timeout:
		return errPongTimeout
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done():
		if err := c.getErr(); err != nil {
			return err
		}
		return ErrClosed
	}
}

var errPongTimeout = errors.New("conn: no pong in time")

// pingState is what Ping and keepalive keep: made on first use, so that a
// connection that never pings holds none of it.
type pingState struct {
	pings     map[[4]byte]chan struct{} // the pings waiting for their pong
	counter   uint32                    // makes ping payloads
	keepalive *time.Timer
}

// pingStateLocked returns the ping state, making it first if needed. The
// caller holds errMu.
func (c *Conn) pingStateLocked() *pingState {
	if c.pg == nil {
		c.pg = new(pingState)
	}
	return c.pg
}

// gotPong wakes the Ping waiting for this payload; other pongs are ignored.
func (c *Conn) gotPong(p []byte) {
	if len(p) != 4 {
		return
	}
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.pg == nil {
		return
	}
	if ch, ok := c.pg.pings[[4]byte(p)]; ok {
		close(ch)
		delete(c.pg.pings, [4]byte(p))
	}
}

// startKeepalive arms the keepalive timer. A timer, not a goroutine: an
// idle connection costs no stack for it.
func (c *Conn) startKeepalive() {
	if c.opts.PingTimeout <= 0 {
		c.opts.PingTimeout = c.opts.PingInterval
	}
	c.lastRead.Store(time.Now().UnixNano())
	c.errMu.Lock()
	c.pingStateLocked().keepalive = time.AfterFunc(c.opts.PingInterval, c.keepaliveTick)
	c.errMu.Unlock()
}

func (c *Conn) stopKeepalive() {
	c.errMu.Lock()
	if c.pg != nil && c.pg.keepalive != nil {
		c.pg.keepalive.Stop()
	}
	c.errMu.Unlock()
}

// keepaliveTick runs when nothing has been received for a while: it pings,
// and closes the connection if the pong does not come in time.
func (c *Conn) keepaliveTick() {
	if c.isEnded() {
		return
	}
	idle := time.Since(time.Unix(0, c.lastRead.Load()))
	if wait := c.opts.PingInterval - idle; wait > 0 {
		c.errMu.Lock()
		c.pg.keepalive.Reset(wait)
		c.errMu.Unlock()
		return
	}
	// The ping may wait for the connection (a message being written) as
	// long as a close would; PingTimeout counts once it went out.
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout+c.opts.PingTimeout)
	sent := time.Now().UnixNano()
	err := c.ping(ctx, c.opts.PingTimeout)
	cancel()
	if err == errPongTimeout && c.lastRead.Load() > sent {
		// Bytes kept arriving: the peer is alive, and its pong waits
		// behind the frame it is sending.
		err = nil
	}
	if err != nil {
		c.Close(wsframe.CloseGoingAway, "keepalive timeout")
		return
	}
	c.errMu.Lock()
	c.pg.keepalive.Reset(c.opts.PingInterval)
	c.errMu.Unlock()
}
