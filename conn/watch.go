package conn

import (
	"context"
	"sync"
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
//
// A registration that fires between calls, or during a call under another
// context, does nothing: it interrupts only a call under its own context.
type watch struct {
	mu     sync.Mutex
	ctx    context.Context // the registered context, or nil
	stop   func() bool     // undoes the registration
	user   time.Time       // the user's deadline; zero for none
	active bool            // a call under ctx is in progress
	dirty  bool            // the connection's deadline is not user
	ended  bool            // the Conn ended: register nothing more
	once   bool            // ctx has a deadline: drop the registration after the call
	set    func(time.Time) error
}

// watches holds the two watches of a Conn. It is made on first use (a call
// with a context that can be cancelled, or a NetConn deadline): a Conn used
// only with context.Background() holds none.
type watches struct{ rd, wr watch }

// watchFor returns the watch of one direction, making the pair first if
// needed.
func (c *Conn) watchFor(read bool) *watch {
	ws := c.watch.Load()
	if ws == nil {
		c.errMu.Lock()
		if ws = c.watch.Load(); ws == nil {
			ws = &watches{}
			ws.rd.set = c.nc.SetReadDeadline
			ws.wr.set = c.nc.SetWriteDeadline
			ws.rd.ended, ws.wr.ended = c.ended, c.ended
			c.watch.Store(ws)
		}
		c.errMu.Unlock()
	}
	if read {
		return &ws.rd
	}
	return &ws.wr
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
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Done() == nil {
		w.restore()
		return nil
	}
	if w.ctx != ctx && !w.ended {
		if w.stop != nil {
			w.stop()
		}
		w.ctx = ctx
		w.stop = context.AfterFunc(ctx, func() { w.fire(ctx) })
		_, w.once = ctx.Deadline()
	}
	if err := ctx.Err(); err != nil {
		w.restore()
		return err
	}
	dl, ok := ctx.Deadline()
	if ok && (w.user.IsZero() || dl.Before(w.user)) {
		w.set(dl)
		w.dirty = true
	} else {
		w.restore()
	}
	w.active = w.ctx == ctx
	return nil
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
		w.ctx, w.stop = nil, nil
	}
	w.mu.Unlock()
}

// restore puts the user's deadline back on the connection if it is not
// there. The caller holds w.mu.
func (w *watch) restore() {
	if w.dirty {
		w.set(w.user)
		w.dirty = false
	}
}

// fire interrupts the call in progress under ctx, if there is one.
func (w *watch) fire(ctx context.Context) {
	w.mu.Lock()
	if w.ctx == ctx && w.active {
		w.set(aLongTimeAgo)
		w.dirty = true
	}
	w.mu.Unlock()
}

// setUser sets the user's deadline of one direction (NetConn). It reaches
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
	return w.set(t)
}

// userDeadline returns the user's deadline of one direction.
func (c *Conn) userDeadline(read bool) time.Time {
	if c.watch.Load() == nil {
		return time.Time{}
	}
	w := c.watchFor(read)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.user
}

// restoreDeadline puts the user's deadline of one direction back on the
// connection, after the Conn set one of its own (the close handshake).
func (c *Conn) restoreDeadline(read bool) {
	if c.watch.Load() == nil {
		set := c.nc.SetWriteDeadline
		if read {
			set = c.nc.SetReadDeadline
		}
		set(time.Time{})
		return
	}
	w := c.watchFor(read)
	w.mu.Lock()
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
		w.ctx, w.stop, w.ended, w.active = nil, nil, true, false
		w.mu.Unlock()
	}
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)
