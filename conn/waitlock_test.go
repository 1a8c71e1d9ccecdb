package conn

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockConn is a bare Conn over one end of a pipe, for the waitLock tests.
func lockConn() *Conn {
	a, _ := net.Pipe()
	return &Conn{nc: a}
}

func TestWaitLockHandsOverInOrder(t *testing.T) {
	c := lockConn()
	var l waitLock
	require.NoError(t, l.lock(context.Background(), c))
	got := make(chan int, 3)
	for i := 0; i < 3; i++ {
		queued := make(chan struct{})
		go func() {
			go func() {
				// Queued once the lock's state says so and the waiter is in.
				for {
					c.errMu.Lock()
					n := 0
					if c.waiters != nil {
						for x := c.waiters.head; x != nil; x = x.next {
							n++
						}
					}
					c.errMu.Unlock()
					if n == i+1 {
						close(queued)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			if err := l.lock(context.Background(), c); err != nil {
				t.Error(err)
			}
			got <- i
			l.unlock(c)
		}()
		<-queued
	}
	require.Equal(t, int32(contended), l.state.Load())
	l.unlock(c)
	require.Equal(t, 0, <-got)
	require.Equal(t, 1, <-got)
	require.Equal(t, 2, <-got)
	require.Eventually(t, func() bool { return l.state.Load() == unlocked }, 5*time.Second, time.Millisecond)
	require.Nil(t, c.waiters.head)
}

func TestWaitLockGivesUp(t *testing.T) {
	c := lockConn()
	var l waitLock
	require.NoError(t, l.lock(context.Background(), c))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.lock(ctx, c), context.Canceled)

	stop := make(chan struct{})
	close(stop)
	require.ErrorIs(t, l.lockOr(context.Background(), c, stop), errLockGaveUp)

	done := make(chan error, 1)
	go func() { done <- l.lock(context.Background(), c) }()
	require.Eventually(t, func() bool {
		c.errMu.Lock()
		defer c.errMu.Unlock()
		return c.waiters != nil && c.waiters.head != nil
	}, 5*time.Second, time.Millisecond)
	c.closeTCP() // no network connection: ends the Conn
	require.ErrorIs(t, <-done, net.ErrClosed)

	// Nobody waits any more: unlock frees it, and it can be taken again.
	l.unlock(c)
	require.Equal(t, int32(unlocked), l.state.Load())
	require.NoError(t, l.lock(context.Background(), c))
}

// TestWaitLockExclusion has many goroutines take the lock, some giving up
// on short contexts, and checks that no two ever hold it at once and that
// it ends free with no one queued.
func TestWaitLockExclusion(t *testing.T) {
	c := lockConn()
	var l waitLock
	var holders, taken int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				ctx := context.Background()
				var cancel context.CancelFunc = func() {}
				if i%3 == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(i%5)*time.Microsecond)
				}
				err := l.lock(ctx, c)
				cancel()
				if err != nil {
					continue
				}
				mu.Lock()
				holders++
				if holders != 1 {
					t.Errorf("%d holders", holders)
				}
				taken++
				mu.Unlock()
				mu.Lock()
				holders--
				mu.Unlock()
				l.unlock(c)
			}
		}()
	}
	wg.Wait()
	require.Greater(t, taken, 0)
	require.Equal(t, int32(unlocked), l.state.Load())
	if c.waiters != nil {
		require.Nil(t, c.waiters.head)
	}
}
