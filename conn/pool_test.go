package conn

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReservePoolKeepsObjectsThroughCollections: sync.Pool drops its
// objects within two collections; a reservePool still hands back the ones
// in its reserve, and makes new ones only once the reserve is empty.
func TestReservePoolKeepsObjectsThroughCollections(t *testing.T) {
	made := 0
	p := newReservePool(reserveSize, func() *int { made++; return new(int) })
	var objs []*int
	for i := 0; i < reserveSize+4; i++ {
		objs = append(objs, p.Get())
	}
	require.Equal(t, reserveSize+4, made)
	for _, x := range objs {
		p.Put(x) // the first reserveSize fill the reserve
	}
	runtime.GC()
	runtime.GC()
	for i := 0; i < reserveSize; i++ {
		x := p.Get()
		require.Contains(t, objs[:reserveSize], x, "from the reserve")
	}
	require.Equal(t, reserveSize+4, made, "nothing made while the reserve lasted")
	p.Get()
	require.Equal(t, reserveSize+5, made, "made once the reserve is empty")
}

// TestReservePoolConcurrent takes and gives back from many goroutines at
// once (under -race): every object is held by one goroutine at a time.
func TestReservePoolConcurrent(t *testing.T) {
	p := newReservePool(reserveSize, func() *int { return new(int) })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				x := p.Get()
				*x++ // a data race here if two goroutines held x
				p.Put(x)
			}
		}()
	}
	wg.Wait()
}
