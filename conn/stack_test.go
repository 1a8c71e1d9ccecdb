//go:build linux && !race

// The race detector's instrumentation makes every frame larger, so this
// test runs without it (make test runs it so; see the Makefile). Linux
// only: elsewhere writes go through net.Conn's deeper path.

package conn

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// TestEchoGoroutineStack2KiB checks the promise behind "no more memory per
// idle connection than a bare TCP echo": a goroutine that reads, echoes,
// answers pings and reads payloads straight from the socket stays within
// the runtime's smallest stack, 2 KiB, which it never gets back once grown.
// Each echo goroutine echoes a small message, answers a ping and echoes a
// larger one (larger than the read buffer, or than a client's small-frame
// buffer); then the stack memory of all of
// them, blocked waiting for the next message, is compared with what 2 KiB
// each would take. It runs in a process of its own with
// GODEBUG=adaptivestackstart=0, so that goroutines start at 2 KiB, not at
// the runtime's estimate from the goroutines of earlier tests.
func TestEchoGoroutineStack2KiB(t *testing.T) {
	if !strings.Contains(os.Getenv("GODEBUG"), "adaptivestackstart=0") {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEchoGoroutineStack2KiB$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		require.NoError(t, err)
		return
	}
	bg := context.Background()
	t.Run("server", func(t *testing.T) { testEchoStack(t, bg, false, 3*readBufSize) })
	// A client's messages up to smallFrameMax are masked in a small buffer,
	// longer ones copied through a 16 KiB one.
	t.Run("client", func(t *testing.T) { testEchoStack(t, bg, true, smallFrameMax) })
	t.Run("client-long", func(t *testing.T) { testEchoStack(t, bg, true, 3*readBufSize) })
	// A cancellable context reused call after call, as a server's
	// r.Context(), costs the same (found in review: its first registration
	// used to grow the goroutine that made it).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Run("server-cancellable", func(t *testing.T) { testEchoStack(t, ctx, false, 3*readBufSize) })
	t.Run("client-cancellable", func(t *testing.T) { testEchoStack(t, ctx, true, smallFrameMax) })
}

// testEchoStack runs n echo goroutines over Conns of the given role, each
// driven by a raw peer on the other end of a TCP connection, and checks
// their stacks once they are all waiting for the next message. The last
// message echoed is bigSize bytes. The goroutines read and write under ctx.
func testEchoStack(t *testing.T, ctx context.Context, client bool, bigSize int) {
	const n = 256
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	accepted := make(chan *Conn, n)
	go func() {
		for i := 0; i < n; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := New(nc, nil, client, "", nil)
			accepted <- c
			go echoLoop(c, ctx)
		}
	}()
	// The peer plays the other role: it masks when the Conn is a server,
	// and the Conn's answers carry a 4-byte mask key when it is a client.
	peer := &rawPeer{t: t, client: !client}
	maskLen := 0
	if client {
		maskLen = 4
	}
	small := peer.frame(true, 0, wsframe.OpText, []byte("hello"))
	ping := peer.frame(true, 0, wsframe.OpPing, []byte("p"))
	bigPayload := make([]byte, bigSize)
	big := peer.frame(true, 0, wsframe.OpBinary, bigPayload)
	peers := make([]net.Conn, n)
	got := make([]byte, len(bigPayload)+14)
	for i := range peers {
		nc, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		peers[i] = nc
		for _, step := range []struct {
			send []byte
			want int // bytes of the answer
		}{{small, 2 + 5}, {ping, 2 + 1}, {big, 4 + len(bigPayload)}} {
			if i%8 == 0 {
				// Two collections empty the sync.Pools, as minutes without
				// traffic would: the buffers must then come from the
				// reserves (see reservePool), not be made deep in a read
				// or a write.
				runtime.GC()
				runtime.GC()
			}
			_, err := nc.Write(step.send)
			require.NoError(t, err)
			_, err = io.ReadFull(nc, got[:step.want+maskLen])
			require.NoError(t, err)
		}
	}
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i] = <-accepted
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("stack per echo goroutine: %.0f bytes", perConn)
	// 2 KiB each, with room for a few goroutines that the scheduler
	// preempted at their deepest point (the preemption's frame can make
	// one grow); 4 KiB each would be 4096.
	require.Less(t, perConn, 3072.0)

	for i := range conns {
		conns[i].CloseNow()
		peers[i].Close()
	}
	// Let the echo goroutines end before the next measurement starts: a
	// collection that frees their stacks must not fall inside it.
	for i := range conns {
		<-conns[i].Done()
	}
	require.Eventually(t, func() bool { return echoing.Load() == 0 }, 10*time.Second, time.Millisecond)
	runtime.GC()
	runtime.GC()
}

// echoing counts the echoLoop goroutines running.
var echoing atomic.Int32

// echoLoop is the echo goroutine of TestEchoGoroutineStack2KiB: its own
// frame is about as large as a small handler's.
func echoLoop(c *Conn, ctx context.Context) {
	echoing.Add(1)
	defer echoing.Add(-1)
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
		buf = msg
	}
}
