package conn

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// echoServer starts an HTTP server on 127.0.0.1 whose handler echoes
// every message, and returns its ws:// URL.
func echoServer(t testing.TB, opts *AcceptOptions, stream bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		echo(c, stream)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// echo sends every message back until the connection ends.
func echo(c *Conn, stream bool) error {
	ctx := context.Background()
	var buf []byte
	for {
		if stream {
			typ, r, err := c.Reader(ctx)
			if err != nil {
				return err
			}
			w, err := c.Writer(ctx, typ)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, r); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			continue
		}
		typ, data, err := c.ReadInto(ctx, buf)
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return err
		}
		buf = data
	}
}

func dial(t testing.TB, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := Dial(ctx, url, opts)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func randomText(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz κόσμε €𝄞"
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(alphabet)
	}
	s := []byte(b.String())[:n]
	// Cut back to a character boundary.
	for len(s) > 0 && !utf8Valid(s) {
		s = s[:len(s)-1]
	}
	return append(s, bytes.Repeat([]byte("."), n-len(s))...)
}

func utf8Valid(b []byte) bool {
	var v wsframe.UTF8Validator
	_, err := v.Write(b)
	return err == nil && v.Done() == nil
}

func TestRoundTripSizes(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 65535, 65536, 16 << 20}
	for _, stream := range []bool{false, true} {
		name := "whole"
		if stream {
			name = "streamed"
		}
		t.Run(name, func(t *testing.T) {
			url := echoServer(t, &AcceptOptions{ReadLimit: 32 << 20}, stream)
			c := dial(t, url, &DialOptions{ReadLimit: 32 << 20})
			ctx := context.Background()
			for _, size := range sizes {
				for _, typ := range []MessageType{MessageText, MessageBinary} {
					var msg []byte
					if typ == MessageText {
						msg = randomText(size)
					} else {
						msg = make([]byte, size)
						rand.Read(msg)
					}
					// Send from another goroutine: a streaming echo sends
					// back while we are still sending.
					sent := make(chan error, 1)
					go func() {
						if !stream {
							sent <- c.Write(ctx, typ, msg)
							return
						}
						w, err := c.Writer(ctx, typ)
						if err != nil {
							sent <- err
							return
						}
						// Write in uneven pieces to make many fragments.
						for rest := msg; len(rest) > 0; {
							n := min(len(rest), 7000)
							if _, err := w.Write(rest[:n]); err != nil {
								sent <- err
								return
							}
							rest = rest[n:]
						}
						sent <- w.Close()
					}()
					gotTyp, got, err := c.Read(ctx)
					require.NoError(t, err, "size %d %v", size, typ)
					require.Equal(t, typ, gotTyp)
					require.True(t, bytes.Equal(msg, got), "size %d %v: payload differs", size, typ)
					require.NoError(t, <-sent)
				}
			}
			require.NoError(t, c.Close(wsframe.CloseNormal, ""))
		})
	}
}

func TestCloseHandshakeInitiatedByClient(t *testing.T) {
	serverErr := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		_, _, err = c.Read(context.Background())
		serverErr <- err
	}))
	defer srv.Close()
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, c.Close(wsframe.CloseNormal, "done"))
	var ce CloseError
	require.ErrorAs(t, <-serverErr, &ce)
	require.Equal(t, CloseError{wsframe.CloseNormal, "done"}, ce)
	// A second Close is harmless.
	require.Error(t, c.Close(wsframe.CloseNormal, ""))
	select {
	case <-c.Done():
	default:
		t.Fatal("connection not finished after Close")
	}
}

func TestCloseWhileAnotherGoroutineReads(t *testing.T) {
	url := echoServer(t, nil, false)
	c := dial(t, url, nil)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		readErr <- err
	}()
	require.NoError(t, c.Close(wsframe.CloseGoingAway, ""))
	var ce CloseError
	require.ErrorAs(t, <-readErr, &ce)
	require.Equal(t, wsframe.CloseGoingAway, ce.Code, "the server echoes our code")
}

func TestCloseDiscardsUnreadMessages(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	done := make(chan error, 1)
	go func() { done <- c.Close(wsframe.CloseNormal, "") }()
	p.sendFrame(true, wsframe.OpBinary, make([]byte, 5000))
	p.expectClose(wsframe.CloseNormal)
	p.sendFrame(true, wsframe.OpText, []byte("late"))
	p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseNormal, ""))
	require.NoError(t, <-done)
	p.expectEOF()
}

func TestPing(t *testing.T) {
	url := echoServer(t, nil, false)
	c := dial(t, url, nil)
	go c.Read(context.Background()) // pongs are seen by a reading goroutine
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Ping(ctx))
	}
}

func TestPingUnanswered(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	go c.Read(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Ping(ctx) }()
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpPing, h.Opcode)
	p.sendFrame(true, wsframe.OpPong, []byte("other")) // not ours
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	// The right payload, too late, is ignored without harm.
	p.sendFrame(true, wsframe.OpPong, payload)
}

func TestConcurrentUse(t *testing.T) {
	url := echoServer(t, nil, false)
	base := runtime.NumGoroutine()
	c := dial(t, url, nil)
	ctx := context.Background()
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perWriter; j++ {
				if j%5 == 0 {
					w, err := c.Writer(ctx, MessageBinary)
					if err != nil {
						return
					}
					w.Write(bytes.Repeat([]byte{byte(i)}, 100))
					w.Write(bytes.Repeat([]byte{byte(i)}, 100))
					if w.Close() != nil {
						return
					}
					continue
				}
				if c.Write(ctx, MessageBinary, bytes.Repeat([]byte{byte(i)}, 200)) != nil {
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // a pinger
		defer wg.Done()
		for j := 0; j < 20; j++ {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		}
	}()
	// One reader, reading until the close.
	type result struct {
		received int
		bad      string
		err      error
	}
	done := make(chan result, 1)
	var count atomic.Int64
	go func() {
		var r result
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				r.err = err
				done <- r
				return
			}
			for _, b := range data {
				if b != data[0] || len(data) != 200 {
					r.bad = "frames were interleaved"
				}
			}
			r.received++
			count.Add(1)
		}
	}()
	wg.Wait()
	// Wait until every echo is back, then close while the reader reads.
	for i := 0; i < 1000; i++ {
		if count.Load() == writers*perWriter {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, c.Close(wsframe.CloseNormal, ""))
	r := <-done
	require.Empty(t, r.bad)
	require.Equal(t, writers*perWriter, r.received)
	require.Equal(t, wsframe.CloseNormal, CloseCode(r.err))
	waitGoroutines(t, base)
}

// waitGoroutines waits (bounded) until the goroutine count is back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
}

func TestWriteAfterCloseFails(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	go c.Close(wsframe.CloseNormal, "")
	p.expectClose(wsframe.CloseNormal)
	err := c.Write(context.Background(), MessageText, []byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestWriteContextCancelledWhileWaiting(t *testing.T) {
	c, _ := serverWithPeer(t, nil)
	w, err := c.Writer(context.Background(), MessageText)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The streamed message holds the message lock: Write waits, then gives up.
	require.ErrorIs(t, c.Write(ctx, MessageText, []byte("x")), context.Canceled)
	require.NoError(t, w.Close())
	require.NoError(t, c.Write(context.Background(), MessageText, []byte("y")))
}

func TestControlFramesGoOutDuringStreamedMessage(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	go c.Read(context.Background())
	w, err := c.Writer(context.Background(), MessageText)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, writeBufSize+10)) // one full fragment goes out
	require.NoError(t, err)
	h, _ := p.recvFrame()
	require.Equal(t, wsframe.OpText, h.Opcode)
	require.False(t, h.Fin)
	p.sendFrame(true, wsframe.OpPing, []byte("mid"))
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpPong, h.Opcode, "pong between the fragments")
	require.Equal(t, "mid", string(payload))
	require.NoError(t, w.Close())
	h, payload = p.recvFrame()
	require.Equal(t, wsframe.OpContinuation, h.Opcode)
	require.True(t, h.Fin)
	require.Len(t, payload, 10)
}

func TestPreparedMessage(t *testing.T) {
	pm, err := NewPreparedMessage(MessageText, []byte("broadcast"))
	require.NoError(t, err)
	c, p := serverWithPeer(t, nil)
	require.NoError(t, c.WritePrepared(context.Background(), pm))
	require.Equal(t, append([]byte{0x81, 9}, "broadcast"...), p.recvRaw(11))

	cc, cp := clientWithPeer(t, nil)
	require.NoError(t, cc.WritePrepared(context.Background(), pm))
	h, payload := cp.recvFrame()
	require.True(t, h.Masked, "a client masks prepared messages too")
	require.Equal(t, "broadcast", string(payload))

	_, err = NewPreparedMessage(MessageType(wsframe.OpPing), nil)
	require.Error(t, err)
}

func TestFrameObserver(t *testing.T) {
	type seen struct {
		dir Direction
		op  wsframe.Opcode
		n   int64
	}
	var mu sync.Mutex
	var log []seen
	c, p := serverWithPeer(t, &Options{OnFrame: func(dir Direction, h wsframe.Header, _ []byte) {
		mu.Lock()
		log = append(log, seen{dir, h.Opcode, h.Length})
		mu.Unlock()
	}})
	p.sendFrame(true, wsframe.OpPing, []byte("p"))
	p.sendFrame(true, wsframe.OpText, []byte("hello"))
	_, _, err := c.Read(context.Background())
	require.NoError(t, err)
	require.NoError(t, c.Write(context.Background(), MessageBinary, []byte("xy")))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []seen{
		{Inbound, wsframe.OpPing, 1},
		{Outbound, wsframe.OpPong, 1},
		{Inbound, wsframe.OpText, 5},
		{Outbound, wsframe.OpBinary, 2},
	}, log)
}

func TestGroupShutdown(t *testing.T) {
	var g Group
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.Accept(w, r, nil)
		if err != nil {
			return
		}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var clients []*Conn
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		c := dial(t, url, nil)
		clients = append(clients, c)
		go func() {
			_, _, err := c.Read(context.Background())
			errs <- err
		}()
	}
	for i := 0; i < 500 && g.Len() < 3; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, 3, g.Len())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))
	for range clients {
		require.Equal(t, wsframe.CloseGoingAway, CloseCode(<-errs))
	}
	require.Equal(t, 0, g.Len())
	// New connections are refused.
	_, resp, err := Dial(ctx, url, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestCloseCodeOfErrors(t *testing.T) {
	require.Equal(t, wsframe.CloseCode(0), CloseCode(nil))
	require.Equal(t, wsframe.CloseCode(0), CloseCode(context.DeadlineExceeded))
	require.Equal(t, wsframe.CloseGoingAway, CloseCode(CloseError{Code: wsframe.CloseGoingAway}))
	require.Equal(t, wsframe.CloseTooBig, CloseCode(wsframe.ErrTooLarge))
	require.Equal(t, wsframe.CloseAbnormal, CloseCode(io.ErrUnexpectedEOF))
	require.Equal(t, wsframe.CloseProtocolError, CloseCode(errors.Join(errors.New("x"), errRSV)))
}

func TestStreamingReaderRacesWithClose(t *testing.T) {
	server, client := compressedPair(t, handshake.DeflateParams{}, Options{})
	server.rd.inflate, server.wr.comp, client.rd.inflate, client.wr.comp = nil, nil, nil, nil
	ctx := context.Background()
	go func() {
		w, err := client.Writer(ctx, MessageBinary)
		if err != nil {
			return
		}
		for i := 0; i < 100; i++ {
			if _, err := w.Write(make([]byte, 1000)); err != nil {
				return
			}
		}
		w.Close()
	}()
	go client.Read(ctx) // answers the close
	_, r, err := server.Reader(ctx)
	require.NoError(t, err)
	closed := make(chan error, 1)
	go func() { closed <- server.Close(wsframe.CloseNormal, "") }()
	io.Copy(io.Discard, r) // must not race with Close reading the rest
	<-closed
}

func TestCloseAfterReadFailureKeepsTheFailureCode(t *testing.T) {
	for i := 0; i < 20; i++ {
		c, p := serverWithPeer(t, &Options{ReadLimit: 10})
		p.sendFrame(true, wsframe.OpBinary, make([]byte, 11))
		_, _, err := c.Read(context.Background())
		require.ErrorIs(t, err, wsframe.ErrTooLarge)
		go c.Close(wsframe.CloseNormal, "")
		p.expectClose(wsframe.CloseTooBig)
	}
}

func TestCloseRefusesCodesThatMayNotBeSent(t *testing.T) {
	c, _ := serverWithPeer(t, nil)
	for _, code := range []wsframe.CloseCode{999, 1004, 1006, 1015, 2000, 5000} {
		require.Error(t, c.Close(code, ""), "code %d", code)
	}
	select {
	case <-c.Done():
		t.Fatal("a refused Close ended the connection")
	default:
	}
}

func TestCloseLeavesMessagesToTheReader(t *testing.T) {
	url := echoServer(t, nil, false)
	for i := 0; i < 20; i++ {
		c := dial(t, url, nil)
		ctx := context.Background()
		got := make(chan int, 1)
		started := make(chan struct{})
		go func() {
			n := 0
			close(started)
			for {
				if _, _, err := c.Read(ctx); err != nil {
					got <- n
					return
				}
				n++
			}
		}()
		<-started
		// Once the reader is inside Read (it holds the read lock), Close
		// must leave it the echo. (A reader that only turns up later gets
		// what is left when it does: Close reads, and discards, while no
		// one reads.)
		require.Eventually(t, func() bool { return c.readMu.state.Load() != unlocked }, 10*time.Second, time.Millisecond)
		require.NoError(t, c.Write(ctx, MessageText, []byte("hello")))
		require.NoError(t, c.Close(wsframe.CloseNormal, ""))
		require.Equal(t, 1, <-got)
	}
}

func TestCloseErrorText(t *testing.T) {
	require.Equal(t, `conn: peer closed the connection: 1008 (policy violation): "no"`,
		CloseError{Code: wsframe.ClosePolicyViolation, Reason: "no"}.Error())
}

func TestCloseWhenThePeerDropsTheConnection(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	go func() {
		p.expectClose(wsframe.CloseNormal)
		p.nc.Close() // no close frame back
	}()
	err := c.Close(wsframe.CloseNormal, "")
	require.ErrorIs(t, err, errNoCloseFrame)
	require.Equal(t, wsframe.CloseAbnormal, CloseCode(err))
}

// TestConnSize keeps the Conn within the 448-byte allocation size class:
// it is most of what an idle connection holds on the heap (with its read
// lock channel and the runtime's own per-socket and per-goroutine state).
func TestConnSize(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(Conn{}), uintptr(448))
}

// TestCloseNowLetsACloseUnderWayOut: a writer that fails because Close (or
// Group.Shutdown) runs in another goroutine, and then calls CloseNow, must
// not swallow the close frame that Close is sending (the pong example's
// Shutdown test caught it once writes learnt to fail at once after a close
// frame was claimed). Repeated: it is a race between the two goroutines.
func TestCloseNowLetsACloseUnderWayOut(t *testing.T) {
	for i := 0; i < 20; i++ {
		c, p := serverWithPeer(t, &Options{CloseTimeout: 5 * time.Second})
		closed := make(chan error, 1)
		go func() { closed <- c.Close(wsframe.CloseGoingAway, "shutting down") }()
		for c.Write(context.Background(), MessageText, []byte("tick")) == nil {
		}
		c.CloseNow()
		p.expectClose(wsframe.CloseGoingAway)
		<-closed
	}
}
