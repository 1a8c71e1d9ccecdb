package chatredis

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

// counter is a go-redis hook that counts round trips (a pipeline is one).
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// BenchmarkFanout measures the room with WS_CHAT_BENCH_CLIENTS clients
// (default 1000): one process with the in-process backplane, and three
// servers (each with its own Redis client, in this process) sharing a
// Redis room. One message at a time is said and timed from the send to
// its receipt by the last client (p50, p99); then a burst measures
// messages per second; Redis round trips per message count every command
// of the three servers during the run. Compare the two sub-benchmarks of
// one run: the ratios are what this measures, not the absolute numbers.
//
//	cd examples/chat/redis && WS_REDIS_ADDR=127.0.0.1:6390 go test -run '^$' -bench Fanout -benchtime 200x
func BenchmarkFanout(b *testing.B) {
	clients := 1000
	if v, err := strconv.Atoi(os.Getenv("WS_CHAT_BENCH_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	b.Run("memory-1proc", func(b *testing.B) {
		s := chatserver.New(chatserver.Config{Token: "tok", HistorySize: -1, QueueSize: 4096})
		ts := httptest.NewServer(s)
		defer ts.Close()
		defer s.Shutdown(context.Background())
		runFanout(b, []string{ts.URL}, clients, nil)
	})
	b.Run("redis-3proc", func(b *testing.B) {
		addr := os.Getenv("WS_REDIS_ADDR")
		if addr == "" {
			addr = "127.0.0.1:6379"
		}
		room := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		var urls []string
		var cnt counter
		for range 3 {
			rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
			if err := rdb.Ping(context.Background()).Err(); err != nil {
				b.Skipf("no Redis at %s: %v", addr, err)
			}
			rdb.AddHook(&cnt)
			bp := New(rdb, Options{Room: room})
			s := chatserver.New(chatserver.Config{Token: "tok", HistorySize: -1, QueueSize: 4096, Backplane: bp})
			ts := httptest.NewServer(s)
			defer rdb.Close()
			defer bp.Close()
			defer ts.Close()
			defer s.Shutdown(context.Background())
			urls = append(urls, ts.URL)
		}
		defer func() {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			rdb.Del(context.Background(), roomKeys(room)...)
			rdb.Close()
		}()
		runFanout(b, urls, clients, &cnt)
	})
}

func runFanout(b *testing.B, bases []string, clients int, cnt *counter) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// receipts[k] counts the clients that have message k; last[k] is
	// when the last of them got it.
	const burst = 200
	total := b.N + burst
	receipts := make([]atomic.Int32, total)
	lastAt := make([]atomic.Int64, total)
	all := make([]chan struct{}, total)
	for i := range all {
		all[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	conns := make([]*conn.Conn, clients)
	dialer := &net.Dialer{}
	for i := range clients {
		u := "ws" + strings.TrimPrefix(bases[i%len(bases)], "http") + "/ws?token=tok&nick=c" + strconv.Itoa(i)
		c, _, err := conn.Dial(ctx, u, &conn.DialOptions{NetDialContext: dialer.DialContext})
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		conns[i] = c
		wg.Go(func() {
			for {
				_, msg, err := c.Read(ctx)
				if err != nil {
					return
				}
				var ev chatserver.Event
				if json.Unmarshal(msg, &ev) != nil || ev.Type != "message" {
					continue
				}
				k, err := strconv.Atoi(ev.Text)
				if err != nil || k >= total {
					continue
				}
				if int(receipts[k].Add(1)) == clients {
					lastAt[k].Store(time.Now().UnixNano())
					close(all[k])
				}
			}
		})
	}
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	}()
	sender := conns[0]
	say := func(k int) {
		if err := sender.Write(ctx, conn.MessageText, []byte(`{"type":"say","text":"`+strconv.Itoa(k)+`"}`)); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(k int) {
		select {
		case <-all[k]:
		case <-ctx.Done():
			b.Fatalf("message %d: %d of %d clients", k, receipts[k].Load(), clients)
		}
	}
	var before int64
	if cnt != nil {
		before = cnt.n.Load()
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for k := range b.N {
		start := time.Now()
		say(k)
		wait(k)
		lat[k] = time.Duration(lastAt[k].Load() - start.UnixNano())
	}
	b.StopTimer()
	start := time.Now()
	for k := b.N; k < total; k++ {
		say(k)
	}
	for k := b.N; k < total; k++ {
		wait(k)
	}
	rate := float64(burst) / time.Since(start).Seconds()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(rate, "burst-msg/s")
	if cnt != nil {
		b.ReportMetric(float64(cnt.n.Load()-before)/float64(total), "redis-rt/msg")
	}
	b.ReportMetric(float64(clients), "clients")
}
