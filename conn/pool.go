package conn

import (
	"sync"
	"sync/atomic"
)

// reserveSize is the most objects a reservePool keeps through garbage
// collections.
const reserveSize = 16

// A reservePool is a sync.Pool that keeps a few objects in reserve through
// garbage collections. sync.Pool drops what it holds within two
// collections, so after a quiet spell the next Get makes a new object, and
// the buffers of this package are taken deep in a read or a write: the
// allocation's own call chain would then grow that goroutine's stack past
// 2 KiB for good (see the package documentation). The reserve, a short
// stack under a mutex, is filled by Put when it is not full and used only
// when the sync.Pool is empty.
type reservePool[T any] struct {
	pool    sync.Pool
	newT    func() *T
	max     int32        // how many it keeps, at most reserveSize
	n       atomic.Int32 // len(reserve), read without the mutex
	mu      sync.Mutex
	reserve [reserveSize]*T
}

// newReservePool returns a pool that makes objects with newT and keeps
// keep of them (at most reserveSize) through collections.
func newReservePool[T any](keep int, newT func() *T) *reservePool[T] {
	return &reservePool[T]{newT: newT, max: int32(min(keep, reserveSize))}
}

// Get returns an object from the pool, from the reserve, or a new one.
func (p *reservePool[T]) Get() *T {
	if x, ok := p.pool.Get().(*T); ok {
		return x
	}
	if p.n.Load() > 0 {
		p.mu.Lock()
		if n := p.n.Load(); n > 0 {
			x := p.reserve[n-1]
			p.reserve[n-1] = nil
			p.n.Store(n - 1)
			p.mu.Unlock()
			return x
		}
		p.mu.Unlock()
	}
	return p.newT()
}

// Put gives x back: to the reserve if it has room, else to the sync.Pool.
func (p *reservePool[T]) Put(x *T) {
	if p.n.Load() < p.max {
		p.mu.Lock()
		if n := p.n.Load(); n < p.max {
			p.reserve[n] = x
			p.n.Store(n + 1)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	p.pool.Put(x)
}
