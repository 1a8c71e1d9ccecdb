package conn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Blocking reads and writes honour two kinds of limits: the context of the
// call, and the deadlines a NetConn user sets. Both end up as deadlines on
// the underlying connection, one per direction, and neither may overwrite
// the other. A watch keeps them apart, for one direction:
//
//   - the user's deadline (NetConn.SetReadDeadline and friends) is the
//     connection's deadline whenever no call with a context of its own is
//     in progress, and stays in force during such a call when it is earlier;
//   - a call with a deadline context sets the earlier of the two for the
//     call, and puts the user's back when it ends;
//   - a call with a context that can be cancelled is interrupted by a
//     deadline in the past, set by a context.AfterFunc registration. For a
//     context without a deadline the registration is kept between calls
//     and reused while the calls use the same context (the r.Context() of
//     a server, a client's long-lived context), so that steady-state calls
//     allocate nothing; it is dropped when a call comes with another
//     context, and when the Conn ends, so that no registration outlives
//     the Conn on a caller's context. A context with a deadline is usually
//     made for one call (context.WithTimeout) and cancelled right after
//     it: its registration is dropped when the call ends, or the
//     cancellation would start the registration's goroutine for nothing.
//   - the close handshake's waits have a deadline of the Conn's own
//     (internal), which the user's deadline cannot lift.
//
// Contexts are told apart by their Done channel (a context's type need not
// be comparable). A registration that fires between calls, or during a
// call under another context, does nothing: it interrupts only a call
// under its own context.
type watch struct {
	mu       sync.Mutex
	ctx      context.Context // the registered context, or nil
	done     <-chan struct{} // its Done channel: what identifies it (contexts need not be comparable)
	stop     func() bool     // undoes the registration
	user     time.Time       // the user's deadline; zero for none
	internal time.Time       // the close handshake's own deadline; zero for none
	active   bool            // a call under ctx is in progress
	dirty    bool            // the connection's deadline is not user
	ended    bool            // the Conn ended: register nothing more
	once     bool            // ctx has a deadline: drop the registration after the call
	set      func(time.Time) error
}

// watches holds the two watches of a Conn. It is made on first use (a call
// with a context that can be cancelled, a NetConn deadline, the close
// handshake): a Conn used only with context.Background() holds none while
// it lives.
type watches struct {
	rd, wr watch

	mu    sync.Mutex    // guards stops, ended and the pong
	stops []func() bool // other registrations to undo when the Conn ends (NetConn's)
	ended bool

	// A pong owed to the peer that a NetConn read could not send because
	// the user's write deadline had passed: it goes out ahead of the next
	// frame written (a message, a ping, the close frame: writer.beforeFrame).
	stashed atomic.Bool
	pongLen uint8
	pong    [125]byte
}

// stashPong keeps a pong owed to the peer outside the read buffer (see
// watches.pong), replacing an older one: RFC 6455 §5.5.3 lets an endpoint
// answer only the latest of several pings.
func (c *Conn) stashPong(p []byte) {
	ws := c.watches()
	ws.mu.Lock()
	ws.pongLen = uint8(copy(ws.pong[:], p))
	ws.stashed.Store(true)
	ws.mu.Unlock()
}

// watches returns the Conn's watches, making them first if needed.
func (c *Conn) watches() *watches {
	ws := c.watch.Load()
	if ws == nil {
		c.errMu.Lock()
		if ws = c.watch.Load(); ws == nil {
			ws = &watches{}
			ws.rd.set = c.nc.SetReadDeadline
			ws.wr.set = c.nc.SetWriteDeadline
			ws.rd.ended, ws.wr.ended, ws.ended = c.ended, c.ended, c.ended
			c.watch.Store(ws)
		}
		c.errMu.Unlock()
	}
	return ws
}

// watchFor returns the watch of one direction.
func (c *Conn) watchFor(read bool) *watch {
	if read {
		return &c.watches().rd
	}
	return &c.watches().wr
}

// stopAtEnd arranges for stop, which undoes a registration on a caller's
// context, to be called when the Conn ends (at once if it has).
func (c *Conn) stopAtEnd(stop func() bool) {
	ws := c.watches()
	ws.mu.Lock()
	if !ws.ended {
		ws.stops = append(ws.stops, stop)
		stop = nil
	}
	ws.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// earliest returns the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// beginIO prepares a blocking call of one direction under ctx. It returns
// ctx's error, having changed nothing, when ctx has ended already. Every
// beginIO is followed by an endIO for the same direction, even when it
// returned an error. For context.Background() and other contexts that
// cannot end it costs one atomic load unless the Conn has watches.
func (c *Conn) beginIO(ctx context.Context, read bool) error {
	if ctx.Done() == nil && c.watch.Load() == nil {
		return nil
	}
	return c.beginWatched(ctx, read)
}

// beginWatched is beginIO's slow path. (Not inlined: it is off the stack
// of reads under context.Background().)
//
//go:noinline
func (c *Conn) beginWatched(ctx context.Context, read bool) error {
	w := c.watchFor(read)
	if d := ctx.Done(); d != nil {
		// The steady state, kept short (it is under every read and write
		// of a server that uses r.Context()): the context of the previous
		// calls, registered already, without a deadline.
		w.mu.Lock()
		if w.done == d && !w.once && !w.dirty && ctx.Err() == nil {
			w.active = true
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
	}
	return w.begin(ctx)
}

// begin is beginWatched for every other case.
//
//go:noinline
func (w *watch) begin(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := ctx.Done()
	if d == nil {
		w.restore()
		return nil
	}
	if w.done != d && !w.ended {
		if w.stop != nil {
			w.stop()
		}
		w.ctx, w.done = ctx, d
		w.stop = w.register(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		w.restore()
		return err
	}
	dl, ok := ctx.Deadline()
	if lim := earliest(w.user, w.internal); ok && (lim.IsZero() || dl.Before(lim)) {
		w.set(dl)
		w.dirty = true
	} else {
		w.restore()
	}
	w.active = w.done == d
	return nil
}

// register registers with ctx (whose Done channel is d) the interruption
// of a call under it, and returns what undoes the registration. For a
// context without a deadline, which is kept and reused, the registration
// is made by a goroutine of its own, which installs its stop function in
// w itself (this returns nil): registering is the one deep call chain of
// the steady state, and the caller's goroutine, which may be blocked in
// reads for the rest of its life, keeps a 2 KiB stack (see the package
// documentation). No cancellation is missed meanwhile: AfterFunc runs the
// function at once for a context that has already ended. The caller
// holds w.mu.
func (w *watch) register(ctx context.Context, d <-chan struct{}) func() bool {
	_, w.once = ctx.Deadline()
	if w.once {
		return context.AfterFunc(ctx, func() { w.fire(d) })
	}
	go w.registerLater(ctx, d)
	return nil
}

// registerLater registers with ctx on its own goroutine (see register),
// unless ctx was replaced or the Conn ended meanwhile.
func (w *watch) registerLater(ctx context.Context, d <-chan struct{}) {
	stop := context.AfterFunc(ctx, func() { w.fire(d) })
	w.mu.Lock()
	if w.done == d && w.stop == nil && !w.ended {
		w.stop = stop
		stop = nil
	}
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// endIO ends a call that beginIO prepared.
func (c *Conn) endIO(read bool) {
	if c.watch.Load() != nil {
		c.endWatched(read)
	}
}

//go:noinline
func (c *Conn) endWatched(read bool) {
	w := c.watchFor(read)
	w.mu.Lock()
	w.active = false
	w.restore()
	if w.once && w.stop != nil {
		w.stop()
		w.ctx, w.done, w.stop = nil, nil, nil
	}
	w.mu.Unlock()
}

// restore puts the user's deadline back on the connection if it is not
// there. The caller holds w.mu.
func (w *watch) restore() {
	if w.dirty {
		w.set(earliest(w.user, w.internal))
		w.dirty = false
	}
}

// fire interrupts the call in progress under the context whose Done
// channel is d, if there is one.
func (w *watch) fire(d <-chan struct{}) {
	w.mu.Lock()
	if w.done == d && w.active {
		w.set(aLongTimeAgo)
		w.dirty = true
	}
	w.mu.Unlock()
}

// setUserDeadline sets the user's deadline of one direction (NetConn). It reaches
// a call already blocked, unless that call's context has an earlier one.
func (c *Conn) setUserDeadline(read bool, t time.Time) error {
	w := c.watchFor(read)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.user = t
	if w.active && w.dirty && w.ctx != nil {
		// A call under a context is in progress with a deadline of its
		// own, or was interrupted: the earlier one stays.
		if dl, ok := w.ctx.Deadline(); ok && (t.IsZero() || dl.Before(t)) || w.ctx.Err() != nil {
			return nil
		}
	}
	w.dirty = false
	return w.set(earliest(t, w.internal))
}

// setInternalDeadline sets a deadline of the Conn's own for one
// direction (the close handshake's waits): the user's deadline cannot
// lift it, though an earlier one of the user's still applies.
func (c *Conn) setInternalDeadline(read bool, t time.Time) {
	w := c.watchFor(read)
	w.mu.Lock()
	w.internal = t
	w.dirty = true
	w.restore()
	w.mu.Unlock()
}

// restoreDeadline lifts the Conn's own deadline of one direction and puts
// the user's back.
func (c *Conn) restoreDeadline(read bool) {
	w := c.watchFor(read)
	w.mu.Lock()
	w.internal = time.Time{}
	w.dirty = true
	w.restore()
	w.mu.Unlock()
}

// endWatches drops the registrations once the Conn has ended, so that no
// caller's context keeps the Conn reachable.
func (c *Conn) endWatches() {
	ws := c.watch.Load()
	if ws == nil {
		return
	}
	for _, w := range []*watch{&ws.rd, &ws.wr} {
		w.mu.Lock()
		if w.stop != nil {
			w.stop()
		}
		w.ctx, w.done, w.stop, w.ended, w.active = nil, nil, nil, true, false
		w.mu.Unlock()
	}
	ws.mu.Lock()
	stops := ws.stops
	ws.stops, ws.ended = nil, true
	ws.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)
