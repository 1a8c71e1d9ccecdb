package conn

import (
	"context"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// In-process performance checks of the Conn over loopback TCP: echo
// benchmarks for the message sizes that bench/ compares against other
// libraries, and the steady-state allocation target (0 allocations per
// message read with ReadInto or written with Write), asserted by a test.

// benchSizes are the message sizes of the echo benchmarks: a chat-sized
// message, a typical JSON document, and a message bigger than every buffer
// the Conn owns or pools.
var benchSizes = []int{16, 1 << 10, 64 << 10}

// raceBuild reports whether the test binary was built with -race. The race
// detector makes sync.Pool drop items at random, so allocation counts are
// meaningless under it. It is read from the build info (rather than a pair
// of build-tagged files) to keep the benchmarks in one file.
var raceBuild = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

// loopbackPair returns the two ends of a loopback TCP connection, closed at
// the end of the test.
func loopbackPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(tb, err)
	server = <-accepted
	require.NotNil(tb, server, "accept failed")
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// connPair returns a client Conn and a server Conn talking over loopback
// TCP, with a read limit that admits every benchmark size.
func connPair(tb testing.TB) (client, server *Conn) {
	tb.Helper()
	a, b := loopbackPair(tb)
	opts := &Options{ReadLimit: 1 << 20}
	client = New(a, nil, true, "", opts)
	server = New(b, nil, false, "", opts)
	tb.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return client, server
}

// startEcho runs the server half of an echo on c until the connection ends:
// every message is read with a reused buffer and written back. The returned
// channel yields the error that ended it.
func startEcho(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				done <- err
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				done <- err
				return
			}
			buf = msg
		}
	}()
	return done
}

// BenchmarkEcho measures one round trip of a binary message through a Conn
// echo server over loopback TCP: the client writes, the server reads the
// message into a reused buffer and writes it back, the client reads it.
// ns/op is the round trip; B/op and allocs/op count both sides, so their
// steady-state target is 0.
func BenchmarkEcho(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			client, server := connPair(b)
			done := startEcho(server)
			ctx := context.Background()
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i)
			}
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			cpu := startCPUMeter()
			for b.Loop() {
				if err := client.Write(ctx, MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				_, got, err := client.ReadInto(ctx, buf)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != size {
					b.Fatalf("echoed %d bytes, want %d", len(got), size)
				}
				buf = got
			}
			cpu.report(b)
			b.StopTimer()
			require.NoError(b, client.Close(wsframe.CloseNormal, ""))
			<-done
		})
	}
}

// BenchmarkEchoText is BenchmarkEcho with text messages, so that the
// incremental UTF-8 validation on both sides is included.
func BenchmarkEchoText(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			client, server := connPair(b)
			done := startEcho(server)
			ctx := context.Background()
			msg := []byte(textOfSize(size))
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			cpu := startCPUMeter()
			for b.Loop() {
				if err := client.Write(ctx, MessageText, msg); err != nil {
					b.Fatal(err)
				}
				_, got, err := client.ReadInto(ctx, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = got
			}
			cpu.report(b)
			b.StopTimer()
			require.NoError(b, client.Close(wsframe.CloseNormal, ""))
			<-done
		})
	}
}

// BenchmarkEchoWithCancelableContext is BenchmarkEcho/1KiB with a context
// that can be cancelled on every call, as a server bounding each read with
// a timeout would use: it shows what watching the context costs.
func BenchmarkEchoWithCancelableContext(b *testing.B) {
	client, server := connPair(b)
	done := startEcho(server)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg := make([]byte, 1<<10)
	buf := make([]byte, 0, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	cpu := startCPUMeter()
	for b.Loop() {
		if err := client.Write(ctx, MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
		_, got, err := client.ReadInto(ctx, buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = got
	}
	cpu.report(b)
	b.StopTimer()
	require.NoError(b, client.Close(wsframe.CloseNormal, ""))
	<-done
}

// oneWay is a Conn and the raw TCP end of its peer, for measuring one side
// of a connection without the other side's work being counted.
type oneWay struct {
	c     *Conn
	peer  net.Conn
	frame []byte // one message as the peer sends it, ready to write
	sink  []byte // room for one frame as the Conn sends it
	buf   []byte // the reused ReadInto buffer
	msg   []byte // the payload the Conn writes

	// The contexts of the calls, by kind (see ctxKinds): a context made
	// once (background, cancel, deadline), or newCtx for one per call.
	ctx    context.Context
	newCtx func() (context.Context, context.CancelFunc)
}

// ctxKinds are the contexts the steady-state measurements are made with:
// context.Background(); a cancellable context without a deadline, reused
// across calls, as a server's r.Context(); a context with a deadline,
// reused; and a context.WithTimeout made for each call.
var ctxKinds = []string{"background", "cancel", "deadline", "timeout-per-call"}

// useCtx makes o's calls use contexts of the given kind.
func (o *oneWay) useCtx(tb testing.TB, kind string) {
	o.ctx, o.newCtx = context.Background(), nil
	switch kind {
	case "cancel":
		ctx, cancel := context.WithCancel(context.Background())
		tb.Cleanup(cancel)
		o.ctx = ctx
	case "deadline":
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		tb.Cleanup(cancel)
		o.ctx = ctx
	case "timeout-per-call":
		o.newCtx = func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}
	}
}

// context returns the context of the next call and what to call after it.
func (o *oneWay) context() (context.Context, context.CancelFunc) {
	if o.newCtx != nil {
		return o.newCtx()
	}
	return o.ctx, func() {}
}

// newOneWay builds a Conn of the given role whose raw peer sends frame
// (a size-byte binary message, masked when the peer is the client) and
// can swallow one frame of the same message sent by the Conn.
func newOneWay(tb testing.TB, client bool, size int) *oneWay {
	tb.Helper()
	a, b := loopbackPair(tb)
	c := New(a, nil, client, "", &Options{ReadLimit: 1 << 20})
	tb.Cleanup(func() { c.CloseNow() })
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(size)}
	if !client { // the peer is a client: it masks
		h.Masked, h.Mask = true, [4]byte{1, 2, 3, 4}
	}
	frame := wsframe.AppendHeader(nil, h)
	start := len(frame)
	frame = append(frame, msg...)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, frame[start:])
	}
	out := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(size), Masked: client}
	return &oneWay{
		c:     c,
		peer:  b,
		frame: frame,
		sink:  make([]byte, len(wsframe.AppendHeader(nil, out))+size),
		buf:   make([]byte, 0, size),
		msg:   msg,
		ctx:   context.Background(),
	}
}

// read sends one frame from the peer and reads it with ReadInto.
func (o *oneWay) read(tb testing.TB) {
	if _, err := o.peer.Write(o.frame); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := o.context()
	_, got, err := o.c.ReadInto(ctx, o.buf)
	cancel()
	if err != nil {
		tb.Fatal(err)
	}
	if len(got) != len(o.msg) {
		tb.Fatalf("read %d bytes, want %d", len(got), len(o.msg))
	}
	o.buf = got
}

// write writes one message with Write and swallows it on the peer's side.
func (o *oneWay) write(tb testing.TB) {
	ctx, cancel := o.context()
	err := o.c.Write(ctx, MessageBinary, o.msg)
	cancel()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(o.peer, o.sink); err != nil {
		tb.Fatal(err)
	}
}

// TestSteadyStateAllocs asserts the allocation target of the Conn: once
// warmed up, reading a message with ReadInto into a reused buffer and
// writing one with Write allocate nothing, on both the server and the
// client side (the client masks with a fresh key, through a pooled buffer),
// with context.Background() and with a cancellable context reused across
// calls (a server's r.Context()). The peer is a raw TCP socket written and
// read with fixed buffers, so every allocation counted is the Conn's.
// Contexts with deadlines are measured too, and logged: each call under
// one registers with it (context.AfterFunc: 3 allocations), and a
// context.WithTimeout made per call adds its own.
func TestSteadyStateAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts are meaningless")
	}
	for _, kind := range ctxKinds {
		for _, size := range []int{16, 1 << 10} {
			for _, client := range []bool{false, true} {
				role := roleName(client)
				t.Run(kind+"/"+role+"/"+sizeName(size), func(t *testing.T) {
					o := newOneWay(t, client, size)
					o.useCtx(t, kind)
					for range 10 { // warm up: pools, buffers, runtime structures
						o.read(t)
						o.write(t)
					}
					reads := testing.AllocsPerRun(200, func() { o.read(t) })
					writes := testing.AllocsPerRun(200, func() { o.write(t) })
					t.Logf("allocations per message: ReadInto %v, Write %v", reads, writes)
					if kind != "background" && kind != "cancel" {
						return
					}
					assert.Zero(t, reads, "allocations per ReadInto of a %d-byte message (%s side, %s context)", size, role, kind)
					assert.Zero(t, writes, "allocations per Write of a %d-byte message (%s side, %s context)", size, role, kind)
				})
			}
		}
	}
}

// TestOneWayFramesOnTheWire checks the byte-level premise of the steady
// state measurements above: what the peer sends is read back intact, and
// what the Conn writes is exactly one frame with the right header (masked
// by the client only), so the counts are of real protocol work.
func TestOneWayFramesOnTheWire(t *testing.T) {
	for _, client := range []bool{false, true} {
		o := newOneWay(t, client, 16)
		o.read(t)
		require.Equal(t, o.msg, o.buf)

		require.NoError(t, o.c.Write(context.Background(), MessageBinary, o.msg))
		_, err := io.ReadFull(o.peer, o.sink)
		require.NoError(t, err)
		h, n, err := wsframe.ParseHeader(o.sink)
		require.NoError(t, err)
		require.Equal(t, byte(0x82), o.sink[0], "FIN + binary")
		require.Equal(t, client, h.Masked, "only the client masks")
		require.Equal(t, int64(16), h.Length)
		payload := append([]byte(nil), o.sink[n:]...)
		if h.Masked {
			wsframe.Mask(h.Mask, 0, payload)
		}
		require.Equal(t, o.msg, payload)
	}
}

// BenchmarkReadInto measures reading one binary message into a reused
// buffer, server side (masked frames) and client side, with the peer
// writing pre-encoded frames on raw TCP.
func BenchmarkReadInto(b *testing.B) { benchOneWay(b, (*oneWay).read) }

// BenchmarkReadMessage is BenchmarkReadInto with ReadMessage and
// Release: no buffer kept by the caller.
func BenchmarkReadMessage(b *testing.B) { benchOneWay(b, (*oneWay).readMessage) }

// BenchmarkWrite measures writing one binary message, server side
// (unmasked, header and payload in one vectored write) and client side
// (masked through a pooled buffer), with the peer swallowing the frames.
func BenchmarkWrite(b *testing.B) { benchOneWay(b, (*oneWay).write) }

// benchOneWay runs op (a read or a write of one message) for every kind of
// context, both roles and the small sizes.
func benchOneWay(b *testing.B, op func(*oneWay, testing.TB)) {
	for _, kind := range ctxKinds {
		for _, client := range []bool{false, true} {
			for _, size := range benchSizes[:2] {
				b.Run("ctx="+kind+"/"+roleName(client)+"/"+sizeName(size), func(b *testing.B) {
					o := newOneWay(b, client, size)
					o.useCtx(b, kind)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					cpu := startCPUMeter()
					for b.Loop() {
						op(o, b)
					}
					cpu.report(b)
				})
			}
		}
	}
}

func roleName(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// sizeName names a message size the way the benchmark tables do: 16B,
// 1KiB, 64KiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n) + "B"
	}
}

// textOfSize returns n bytes of valid UTF-8 mixing one-, two- and
// three-byte sequences, so that validation takes its slow paths too.
func textOfSize(n int) string {
	const unit = "héllo wörld — ünïcödé "
	b := make([]byte, 0, n+len(unit))
	for len(b) < n {
		b = append(b, unit...)
	}
	// Cut at a rune boundary and pad with ASCII to exactly n bytes.
	b = b[:n]
	for !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return string(b)
}

// pipelineDepth is how many messages the pipelined benchmark keeps in
// flight on one connection.
const pipelineDepth = 64

// BenchmarkEchoPipelined measures the server half of an echo whose client
// keeps pipelineDepth small messages in flight: a raw TCP peer writes them
// as pre-encoded masked frames, all in one write, and reads the echoes
// back before sending the next batch. One op is one message echoed;
// cpu-ns/op counts the whole process, the raw peer's share included (two
// system calls per batch).
func BenchmarkEchoPipelined(b *testing.B) {
	for _, size := range benchSizes[:2] {
		b.Run(sizeName(size), func(b *testing.B) {
			a, s := loopbackPair(b)
			server := New(s, nil, false, "", &Options{ReadLimit: 1 << 20})
			b.Cleanup(func() { server.CloseNow() })
			done := startEcho(server)
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i)
			}
			h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(size), Masked: true, Mask: [4]byte{9, 8, 7, 6}}
			frame := wsframe.AppendHeader(nil, h)
			n := len(frame)
			frame = append(frame, msg...)
			wsframe.Mask(h.Mask, 0, frame[n:])
			batch := make([]byte, 0, pipelineDepth*len(frame))
			for range pipelineDepth {
				batch = append(batch, frame...)
			}
			echo := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(size)})
			echo = append(echo, msg...)
			want := make([]byte, 0, pipelineDepth*len(echo))
			for range pipelineDepth {
				want = append(want, echo...)
			}
			got := make([]byte, len(want))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			cpu := startCPUMeter()
			sent := 0
			for b.Loop() {
				if sent%pipelineDepth == 0 {
					if _, err := a.Write(batch); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(a, got); err != nil {
						b.Fatal(err)
					}
					if string(got) != string(want) {
						b.Fatal("the echoes differ from the messages sent")
					}
				}
				sent++
			}
			cpu.report(b)
			b.StopTimer()
			a.Close()
			<-done
		})
	}
}
