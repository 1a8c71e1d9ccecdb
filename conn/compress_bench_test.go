package conn

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/ws6455/ws6455/handshake"
)

// compressionModes are the settings compared side by side in one run.
var compressionModes = []struct {
	name   string
	params *handshake.DeflateParams
}{
	{"off", nil},
	{"no-context-takeover", &handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
	{"context-takeover", &handshake.DeflateParams{}},
}

// BenchmarkEchoCompression echoes a JSON-like text message between a
// client and a server Conn over loopback TCP, with compression off and on
// in the same run: compare ns/op and allocs/op across the modes.
func BenchmarkEchoCompression(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		msg := jsonLike(size)
		for _, mode := range compressionModes {
			b.Run(fmt.Sprintf("%s/%dB", mode.name, size), func(b *testing.B) {
				server, client := benchPair(b, mode.params)
				ctx := context.Background()
				go func() {
					var buf []byte
					for {
						typ, data, err := server.ReadInto(ctx, buf)
						if err != nil {
							return
						}
						if server.Write(ctx, typ, data) != nil {
							return
						}
						buf = data
					}
				}()
				var buf []byte
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := client.Write(ctx, MessageText, msg); err != nil {
						b.Fatal(err)
					}
					_, data, err := client.ReadInto(ctx, buf)
					if err != nil {
						b.Fatal(err)
					}
					buf = data
				}
			})
		}
	}
}

// BenchmarkIdleMemoryCompression opens connection pairs, sends one
// compressed message each way on each, and reports the heap that every
// idle pair (a server Conn and a client Conn) still holds, per mode.
// No-context-takeover must hold no compression state at all.
func BenchmarkIdleMemoryCompression(b *testing.B) {
	const pairs = 100
	msg := jsonLike(4 << 10)
	for _, mode := range compressionModes {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&before)
				keep := make([]*Conn, 0, 2*pairs)
				for i := 0; i < pairs; i++ {
					server, client := benchPair(b, mode.params)
					ctx := context.Background()
					go func() {
						_, data, _ := server.Read(ctx)
						server.Write(ctx, MessageText, data)
					}()
					client.Write(ctx, MessageText, msg)
					client.Read(ctx)
					keep = append(keep, server, client)
				}
				// Twice: sync.Pool keeps what was put back for one more GC,
				// and pooled state is shared by all connections, not held
				// by the idle ones.
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/pairs, "heapB/pair")
				runtime.KeepAlive(keep)
				for _, c := range keep {
					c.CloseNow()
				}
			}
		})
	}
}

func benchPair(b *testing.B, params *handshake.DeflateParams) (server, client *Conn) {
	a, c := tcpPair(b)
	server = New(a, nil, false, "", &Options{Deflate: params})
	client = New(c, nil, true, "", &Options{Deflate: params})
	b.Cleanup(func() { server.CloseNow(); client.CloseNow() })
	return server, client
}

// jsonLike returns size bytes of repetitive JSON, as chat or game updates are.
func jsonLike(size int) []byte {
	var out []byte
	for i := 0; len(out) < size; i++ {
		out = fmt.Appendf(out, `{"id":%d,"user":"player%d","x":%d,"y":%d,"text":"hello"},`, i, i%7, i*3%640, i*5%480)
	}
	return out[:size]
}
