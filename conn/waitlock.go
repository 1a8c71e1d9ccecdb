package conn

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
)

// A waitLock is a mutex whose waiters give up when their context ends,
// when the Conn ends, or when a channel of their choosing is closed. A
// channel of capacity 1 does all that too, but costs 96 bytes per lock for
// the life of the connection; a waitLock costs 4 bytes. Uncontended, lock
// and unlock are one atomic operation each; waiters queue in the Conn's
// waitQueue (made on its first contention), each on a channel of its own,
// and unlock hands the lock straight to the first of them, in arrival
// order.
//
// The queue is guarded by the Conn's errMu. A waitLock belongs to one Conn,
// which is passed to its methods.
type waitLock struct{ state atomic.Int32 }

// waitLock states.
const (
	unlocked  = 0
	locked    = 1
	contended = 2 // locked, and there may be waiters: unlock looks at the queue
)

// A waiter is a goroutine waiting for a waitLock.
type waiter struct {
	l    *waitLock
	ch   chan struct{} // capacity 1: unlock hands the lock over with a send
	next *waiter
}

// waitQueue holds the waiters for all the waitLocks of a Conn. It keeps
// one spare waiter, so that a connection whose locks are contended now and
// then does not allocate each time. (Waiters are not shared between
// connections through a sync.Pool: a channel made inside a testing/synctest
// bubble must not be used outside it, nor one made outside it inside.)
type waitQueue struct{ head, tail, spare *waiter }

// get returns a waiter for l.
func (q *waitQueue) get(l *waitLock) *waiter {
	w := q.spare
	if w == nil {
		w = &waiter{ch: make(chan struct{}, 1)}
	}
	q.spare = nil
	w.l = l
	return w
}

// put keeps w, whose channel is empty, as the spare.
func (q *waitQueue) put(w *waiter) {
	w.l = nil
	if q.spare == nil {
		q.spare = w
	}
}

func (q *waitQueue) push(w *waiter) {
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
}

// remove unlinks w and reports whether it was queued.
func (q *waitQueue) remove(w *waiter) bool {
	var prev *waiter
	for x := q.head; x != nil; prev, x = x, x.next {
		if x != w {
			continue
		}
		if prev == nil {
			q.head = x.next
		} else {
			prev.next = x.next
		}
		if q.tail == x {
			q.tail = prev
		}
		x.next = nil
		return true
	}
	return false
}

// first returns the first waiter for l, or nil.
func (q *waitQueue) first(l *waitLock) *waiter {
	for x := q.head; x != nil; x = x.next {
		if x.l == l {
			return x
		}
	}
	return nil
}

// errLockGaveUp is returned by lockOr when its channel was closed first.
var errLockGaveUp = errors.New("conn: stopped waiting for a lock")

// lock acquires l, giving up with ctx's error when ctx ends or with
// net.ErrClosed when c ends.
func (l *waitLock) lock(ctx context.Context, c *Conn) error {
	if l.state.CompareAndSwap(unlocked, locked) {
		return nil
	}
	return l.lockSlow(ctx, c, nil)
}

// lockOr is lock that also gives up, with errLockGaveUp, once stop is
// closed.
func (l *waitLock) lockOr(ctx context.Context, c *Conn, stop <-chan struct{}) error {
	if l.state.CompareAndSwap(unlocked, locked) {
		return nil
	}
	return l.lockSlow(ctx, c, stop)
}

func (l *waitLock) lockSlow(ctx context.Context, c *Conn, stop <-chan struct{}) error {
	c.errMu.Lock()
	for {
		s := l.state.Load()
		if s == unlocked && l.state.CompareAndSwap(unlocked, locked) {
			c.errMu.Unlock()
			return nil
		}
		if s == contended || s == locked && l.state.CompareAndSwap(locked, contended) {
			break
		}
	}
	if c.waiters == nil {
		c.waiters = new(waitQueue)
	}
	w := c.waiters.get(l)
	c.waiters.push(w)
	closed := c.doneLocked()
	c.errMu.Unlock()

	var err error
	select {
	case <-w.ch:
	case <-ctx.Done():
		err = ctx.Err()
	case <-closed:
		err = net.ErrClosed
	case <-stop:
		err = errLockGaveUp
	}
	if err != nil && err != net.ErrClosed {
		// When the Conn has ended too, say so: that is what every later
		// call must report, whichever case select picked.
		select {
		case <-closed:
			err = net.ErrClosed
		default:
		}
	}
	if err != nil {
		c.errMu.Lock()
		queued := c.waiters.remove(w)
		c.errMu.Unlock()
		if !queued {
			// The lock was handed over meanwhile: pass it on.
			<-w.ch
			l.unlock(c)
		}
	}
	c.errMu.Lock()
	c.waiters.put(w)
	c.errMu.Unlock()
	return err
}

// unlock releases l, handing it to the first waiter if there is one.
func (l *waitLock) unlock(c *Conn) {
	if l.state.CompareAndSwap(locked, unlocked) {
		return
	}
	c.errMu.Lock()
	var w *waiter
	if c.waiters != nil {
		w = c.waiters.first(l)
	}
	if w == nil {
		l.state.Store(unlocked)
	} else {
		c.waiters.remove(w)
		if c.waiters.first(l) == nil {
			l.state.Store(locked) // held by w, with no one waiting behind
		}
		w.ch <- struct{}{} // w holds the lock now
	}
	c.errMu.Unlock()
}
