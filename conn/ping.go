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
	var p [4]byte
	ch := make(chan struct{})
	c.errMu.Lock()
	c.pingCounter++
	binary.BigEndian.PutUint32(p[:], c.pingCounter)
	if c.pings == nil {
		c.pings = make(map[[4]byte]chan struct{})
	}
	c.pings[p] = ch
	c.errMu.Unlock()
	defer func() {
		c.errMu.Lock()
		delete(c.pings, p)
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

// gotPong wakes the Ping waiting for this payload; other pongs are ignored.
func (c *Conn) gotPong(p []byte) {
	if len(p) != 4 {
		return
	}
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if ch, ok := c.pings[[4]byte(p)]; ok {
		close(ch)
		delete(c.pings, [4]byte(p))
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
	c.keepalive = time.AfterFunc(c.opts.PingInterval, c.keepaliveTick)
	c.errMu.Unlock()
}

func (c *Conn) stopKeepalive() {
	c.errMu.Lock()
	if c.keepalive != nil {
		c.keepalive.Stop()
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
		c.keepalive.Reset(wait)
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
	c.keepalive.Reset(c.opts.PingInterval)
	c.errMu.Unlock()
}
