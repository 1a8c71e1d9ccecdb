package conn

import (
	"context"
	"net"
	"runtime"
	"testing"

	"github.com/ws6455/ws6455/wsframe"
)

// BenchmarkStalledPeerMemory measures what a peer can make a server hold
// with a few bytes: conns server Conns each read with ReadInto (as an echo
// server does) while their raw peer, in turn, does nothing (idle), declares
// a frame as large as the read limit and sends one byte of it (stalled), or
// sends half of such a frame (half). It reports the heap each connection
// holds in each state, and the stalled state's excess over the idle one,
// which should be a few KiB (the first step of the read buffer), not the
// declared length. The numbers are the heap, not RSS: the goroutine stacks
// are the same in every state.
func BenchmarkStalledPeerMemory(b *testing.B) {
	const conns = 200
	const limit = 1 << 20
	for b.Loop() {
		heap := func() uint64 {
			var m runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		base := heap()
		servers := make([]*Conn, conns)
		peers := make([]net.Conn, conns)
		done := make(chan struct{}, conns)
		for i := range servers {
			a, p := tcpPair(b)
			servers[i] = New(a, nil, false, "", &Options{ReadLimit: limit})
			peers[i] = p
			go func(c *Conn) {
				var buf []byte
				for {
					var err error
					if _, buf, err = c.ReadInto(context.Background(), buf); err != nil {
						break
					}
				}
				done <- struct{}{}
			}(servers[i])
		}
		idle := heap()
		h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: limit, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
		declare := append(wsframe.AppendHeader(nil, h), 0)
		for _, p := range peers {
			p.Write(declare)
		}
		stalled := waitHeapSettles(heap)
		half := make([]byte, limit/2-1)
		for _, p := range peers {
			p.Write(half)
		}
		halfway := waitHeapSettles(heap)
		b.ReportMetric(float64(idle-base)/conns, "idle-B/conn")
		b.ReportMetric(float64(stalled-base)/conns, "stalled-B/conn")
		b.ReportMetric(float64(int64(stalled)-int64(idle))/conns, "stall-excess-B/conn")
		b.ReportMetric(float64(halfway-base)/conns, "half-B/conn")
		for i := range servers {
			servers[i].CloseNow()
			peers[i].Close()
		}
		for range servers {
			<-done
		}
	}
}

// waitHeapSettles samples the heap until two samples in a row agree within
// 1%, at most 50 times: the readers take the bytes sent to them on their
// own goroutines.
func waitHeapSettles(heap func() uint64) uint64 {
	last := heap()
	for range 50 {
		runtime.Gosched()
		h := heap()
		if h > last-last/100 && h < last+last/100 {
			return h
		}
		last = h
	}
	return last
}
