package site

import "sync"

// A Tracker counts the goroutines an example server runs (handlers and
// the loops they start), so that its Shutdown can wait for them. Unlike a
// sync.WaitGroup it may be waited for while goroutines are still being
// added. The zero value is ready to use.
type Tracker struct {
	mu    sync.Mutex
	n     int
	empty chan struct{} // closed when n drops to 0; nil while nobody waits
}

// Add counts one more running goroutine.
func (t *Tracker) Add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

// Done counts one goroutine less.
func (t *Tracker) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.empty != nil {
		close(t.empty)
		t.empty = nil
	}
}

// Idle returns a channel that is closed once no counted goroutine runs.
func (t *Tracker) Idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.empty == nil {
		t.empty = make(chan struct{})
	}
	return t.empty
}
