// Package streamconn makes a net.Conn of one HTTP stream (an RFC 8441
// WebSocket over HTTP/2): reads come from a body, writes go to a writer
// that is flushed after every write.
//
// HTTP/2 streams have no deadlines that leave the stream usable (net/http's
// per-stream read deadline closes the body for good), so the Conn keeps its
// own: a goroutine reads the body ahead, one buffer at a time, and a Read
// waits for it, for its deadline or for Close. A write cannot be taken back
// once it is under way, so a write deadline that passes during a write
// ends the stream (kill) and every later write fails: the Conn reports
// FragileWrites, as a TLS connection would.
package streamconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Writer is the write side of a stream: Write, then Flush to send.
type Writer interface {
	Write(p []byte) (int, error)
	Flush() error
}

// Conn is a net.Conn over one HTTP stream.
type Conn struct {
	body   io.ReadCloser
	w      Writer
	kill   func() // ends the stream abortively (unblocks a pending write)
	end    func() // ends the stream's write side gracefully (may be nil)
	local  net.Addr
	remote net.Addr

	// Read side. chunks carries what the pump read; consumed tells it
	// that the previous chunk has been copied out.
	chunks   chan chunk
	consumed chan struct{}
	rmu      sync.Mutex // one Read at a time; guards pending and rerr
	pending  []byte
	rerr     error
	rdl      deadline

	// Write side.
	wmu     sync.Mutex // one Write at a time
	smu     sync.Mutex // guards writing, broken, closed
	writing bool
	broken  bool // a write timed out: the stream was killed
	closed  bool
	wdl     deadline
	idle    *sync.Cond // signalled (under smu) when a write ends

	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

type chunk struct {
	b   []byte
	err error
}

// readSize is the most the pump reads ahead of the Conn's reader.
// idleReadSize is what it holds while the stream is quiet: a read that
// fills it takes a readSize buffer from a pool for the next read, and a
// read that leaves that mostly empty gives it back, so an idle WebSocket
// holds idleReadSize bytes rather than readSize.
const (
	readSize     = 16 << 10
	idleReadSize = 1 << 10
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

// New returns a Conn that reads body and writes to w. kill must end the
// stream at once, so that a write blocked in it returns (it may be called
// concurrently with Write). end, if not nil, is called by Close to end the
// write side once no write is under way.
func New(body io.ReadCloser, w Writer, kill, end func(), local, remote net.Addr) *Conn {
	c := &Conn{
		body: body, w: w, kill: kill, end: end, local: local, remote: remote,
		chunks:   make(chan chunk),
		consumed: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	c.idle = sync.NewCond(&c.smu)
	c.wdl.onExpire = c.writeExpired
	go c.pump()
	return c
}

// pump reads the body ahead of Read, one buffer at a time.
func (c *Conn) pump() {
	small := make([]byte, idleReadSize)
	var big *[]byte // from readBufs while data flows
	for {
		buf := small
		if big != nil {
			buf = *big
		}
		n, err := c.body.Read(buf)
		select {
		case c.chunks <- chunk{buf[:n], err}:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-c.consumed:
		case <-c.done:
			return
		}
		// The reader has copied buf out: it may be reused or given back.
		switch {
		case big == nil && n == len(small):
			big = readBufs.Get().(*[]byte)
		case big != nil && n < idleReadSize:
			readBufs.Put(big)
			big = nil
		}
	}
}

// Read reads what the peer sent on the stream.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			if len(c.pending) == 0 && c.rerr == nil {
				c.consumed <- struct{}{}
			}
			return n, nil
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		select {
		case <-c.done:
			return 0, net.ErrClosed
		default:
		}
		select {
		case ch := <-c.chunks:
			c.pending, c.rerr = ch.b, ch.err
			if len(ch.b) == 0 && ch.err == nil {
				c.consumed <- struct{}{}
			}
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.done:
			return 0, net.ErrClosed
		}
	}
}

// ErrBroken is returned by writes after a write timed out: the stream
// was ended, as a write cut short cannot be resumed.
var ErrBroken = errors.New("streamconn: an earlier write timed out; the stream was reset")

// Write sends p on the stream and flushes it.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.smu.Lock()
	switch {
	case c.closed:
		c.smu.Unlock()
		return 0, net.ErrClosed
	case c.broken:
		c.smu.Unlock()
		return 0, ErrBroken
	}
	select {
	case <-c.wdl.wait():
		c.smu.Unlock()
		return 0, os.ErrDeadlineExceeded // nothing went out
	default:
	}
	c.writing = true
	c.smu.Unlock()

	n, err := c.w.Write(p)
	if err == nil {
		err = c.w.Flush()
	}

	c.smu.Lock()
	c.writing = false
	broken := c.broken
	c.idle.Broadcast()
	c.smu.Unlock()
	if broken {
		return n, os.ErrDeadlineExceeded
	}
	return n, err
}

// writeExpired runs when the write deadline passes: a write under way is
// cut short by ending the stream.
func (c *Conn) writeExpired() {
	c.smu.Lock()
	if !c.writing || c.closed || c.broken {
		c.smu.Unlock()
		return
	}
	c.broken = true
	c.smu.Unlock()
	c.kill()
}

// FragileWrites reports that a write cut short by its deadline cannot be
// resumed: the stream is reset and later writes fail.
func (c *Conn) FragileWrites() bool { return true }

// Close ends the stream: a write under way is cut short (the stream is
// reset), otherwise the write side ends gracefully; the body is closed.
// Reads and writes under way return net.ErrClosed. Once Close returns, the
// Conn no longer touches the stream's writer.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.done)
		c.smu.Lock()
		c.closed = true
		writing, broken := c.writing, c.broken
		c.smu.Unlock()
		if writing && !broken {
			c.kill()
		}
		c.smu.Lock()
		for c.writing {
			c.idle.Wait()
		}
		c.smu.Unlock()
		if !writing && !broken && c.end != nil {
			c.end()
		}
		c.rdl.set(time.Time{})
		c.wdl.set(time.Time{})
		c.body.Close()
	})
	if !first {
		return net.ErrClosed
	}
	return nil
}

// Closed is closed by Close.
func (c *Conn) Closed() <-chan struct{} { return c.done }

// LocalAddr returns the local address of the HTTP connection, if known.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address, if known.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline bounds Reads: a Read waiting when it passes returns
// os.ErrDeadlineExceeded, and no byte of the stream is lost.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline bounds Writes: a Write that has not begun when it
// passes returns os.ErrDeadlineExceeded with nothing sent; one under way
// when it passes ends the stream (see ErrBroken).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

// Addr is a net.Addr given by its network and string form.
type Addr struct{ Net, S string }

// Network returns a.Net.
func (a Addr) Network() string { return a.Net }

// String returns a.S.
func (a Addr) String() string { return a.S }

// deadline is a settable point in time with a channel that is closed once
// it has passed, and an optional callback run then.
type deadline struct {
	mu       sync.Mutex
	t        *time.Timer
	expired  chan struct{} // closed once the deadline passed; nil: not made yet
	gen      uint64        // bumped by every set, so a stale timer does nothing
	onExpire func()
}

// wait returns a channel that is closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired == nil {
		d.expired = make(chan struct{})
	}
	return d.expired
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.gen++
	gen := d.gen
	if d.t != nil {
		d.t.Stop()
		d.t = nil
	}
	if d.expired != nil {
		select {
		case <-d.expired:
			d.expired = make(chan struct{}) // a new deadline: not passed yet
		default:
		}
	} else {
		d.expired = make(chan struct{})
	}
	if t.IsZero() {
		d.mu.Unlock()
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.expired)
		d.mu.Unlock()
		if d.onExpire != nil {
			d.onExpire()
		}
		return
	}
	d.t = time.AfterFunc(dur, func() { d.fire(gen) })
	d.mu.Unlock()
}

func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	if gen != d.gen {
		d.mu.Unlock()
		return
	}
	select {
	case <-d.expired:
	default:
		close(d.expired)
	}
	d.mu.Unlock()
	if d.onExpire != nil {
		d.onExpire()
	}
}
