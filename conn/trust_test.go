package conn

// Regression tests for the failure and cancellation rule (notes/RULE.md):
// one test per numbered case of the issue. Each asserts the target
// behaviour: a blocking call that ends early either left no trace (the
// connection stays usable), queued the rest of its frame, or failed the
// connection with 1011; never a torn or altered message with a nil error,
// never a connection that looks alive but cannot send. No assertion is a
// timing threshold: contexts are cancelled (before a call, or from inside
// it through a frame observer or a connection hook) or already past their
// deadline, socket buffers are filled by peers that stop reading, and
// every wait is bounded by trustSafety, which only ever fails a test. Time
// is part of the construction only where the case is about time: the slow
// peer of case 7 and the NetConn deadline of case 8.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// trustSafety bounds every wait in these tests. Reaching it fails the
// test (something hung); it never decides a pass.
const trustSafety = 10 * time.Second

// trustBig is more than loopback socket buffers hold while the receiving
// side does not read: a write of it blocks until its deadline.
const trustBig = 16 << 20

// trustTask is a call running in a goroutine, waited for with a bound.
type trustTask[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// trustStart runs f in a goroutine.
func trustStart[T any](f func() (T, error)) *trustTask[T] {
	k := &trustTask[T]{done: make(chan struct{})}
	go func() {
		defer close(k.done)
		k.val, k.err = f()
	}()
	return k
}

// trustStartErr runs f, which returns only an error, in a goroutine.
func trustStartErr(f func() error) *trustTask[struct{}] {
	return trustStart(func() (struct{}, error) { return struct{}{}, f() })
}

// wait returns the call's results; the test fails if it does not return
// within trustSafety.
func (k *trustTask[T]) wait(t *testing.T, what string) (T, error) {
	t.Helper()
	select {
	case <-k.done:
		return k.val, k.err
	case <-time.After(trustSafety):
		t.Fatalf("%s: still blocked after %v", what, trustSafety)
		var zero T
		return zero, nil
	}
}

// waitErr is wait for a call that returns only an error.
func (k *trustTask[T]) waitErr(t *testing.T, what string) error {
	t.Helper()
	_, err := k.wait(t, what)
	return err
}

// settle waits, bounded and without failing the test, for the call to
// end: for deferred cleanups, after whatever should unblock it.
func (k *trustTask[T]) settle() {
	select {
	case <-k.done:
	case <-time.After(trustSafety):
	}
}

// trustWaitDone waits, bounded, for the Conn to end.
func trustWaitDone(t *testing.T, c *Conn, what string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(trustSafety):
		t.Fatalf("%s: Done() not closed after %v", what, trustSafety)
	}
}

// trustMessage is what a read returned.
type trustMessage struct {
	typ  MessageType
	data []byte
}

// trustReadTask reads one message in a goroutine.
func trustReadTask(c *Conn, ctx context.Context) *trustTask[trustMessage] {
	return trustStart(func() (trustMessage, error) {
		typ, data, err := c.Read(ctx)
		return trustMessage{typ, data}, err
	})
}

// trustRead reads one message, bounded.
func trustRead(t *testing.T, c *Conn) (trustMessage, error) {
	t.Helper()
	return trustReadTask(c, context.Background()).wait(t, "Read")
}

// trustSameBytes fails the test if got is not want, saying where they
// first differ (a diff of large messages is useless).
func trustSameBytes(t *testing.T, want, got []byte, format string, args ...any) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at offset %d", fmt.Sprintf(format, args...), len(got), len(want), i)
}

// trustRecvFrame is rawPeer.recvFrame for goroutines: it returns errors
// instead of failing the test.
func trustRecvFrame(p *rawPeer, deadline time.Time) (wsframe.Header, []byte, error) {
	p.nc.SetReadDeadline(deadline)
	h, err := wsframe.ReadHeader(p.br)
	if err != nil {
		return h, nil, err
	}
	if h.Length > 64<<20 {
		return h, nil, fmt.Errorf("frame of %d bytes: not what the test sends", h.Length)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(p.br, payload); err != nil {
		return h, nil, err
	}
	if h.Masked {
		wsframe.Mask(h.Mask, 0, payload)
	}
	return h, payload, nil
}

// trustCloseCodeOf returns the code of a close frame's payload.
func trustCloseCodeOf(payload []byte) wsframe.CloseCode {
	if len(payload) < 2 {
		return wsframe.CloseNoStatus
	}
	return wsframe.CloseCode(binary.BigEndian.Uint16(payload))
}

// trustText makes n bytes of compressible text: words drawn from vocab by
// a generator seeded with seed.
func trustText(seed uint64, vocab []string, n int) []byte {
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, 0, n+32)
	for len(b) < n {
		b = append(b, vocab[rng.IntN(len(vocab))]...)
		b = append(b, ' ')
	}
	return b[:n]
}

var (
	trustWords  = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima", "mike"}
	trustDigits = []string{"0", "11", "222", "3333", "44", "5", "666", "77", "8888", "9"}
)

// trustDeflate compresses p as one permessage-deflate message: a sync
// flush with its 00 00 ff ff tail stripped.
func trustDeflate(t *testing.T, p []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, flate.BestSpeed)
	require.NoError(t, err)
	_, err = fw.Write(p)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())
	require.True(t, bytes.HasSuffix(out.Bytes(), deflateTail))
	return out.Bytes()[:out.Len()-len(deflateTail)]
}

// trustDeflatePair returns a server and a client Conn over loopback TCP,
// both with permessage-deflate and context takeover in both directions.
func trustDeflatePair(t *testing.T) (server, client *Conn) {
	a, b := tcpPair(t)
	params := handshake.DeflateParams{}
	server = New(a, nil, false, "", &Options{Deflate: &params})
	client = New(b, nil, true, "", &Options{Deflate: &params})
	t.Cleanup(func() { server.CloseNow(); client.CloseNow() })
	return server, client
}

// trustDeflateServer returns a server Conn with permessage-deflate
// (context takeover) and the given options, and a raw client peer.
func trustDeflateServer(t *testing.T, opts Options) (*Conn, *rawPeer) {
	a, b := tcpPair(t)
	params := handshake.DeflateParams{}
	opts.Deflate = &params
	c := New(a, nil, false, "", &opts)
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
}

// trustPeerResult is what a peer goroutine saw.
type trustPeerResult struct {
	code wsframe.CloseCode // of the close frame that ended the watch
	err  error             // what went wrong instead
}

// Case 1. With context takeover, a Write whose context had already ended
// must not advance the compressor: nothing of it is sent, so the peer's
// window never sees it, and the next messages (which deflate would encode
// as back-references into the cancelled one) must arrive exactly.
func TestTrust01CompressionTakeoverWriteCancelled(t *testing.T) {
	server, client := trustDeflatePair(t)
	ctx := context.Background()

	// Fill the windows with something else first: a back-reference into
	// a message the peer never saw then lands on other bytes of its
	// window instead of failing to inflate.
	warm := trustText(1, trustDigits, 16<<10)
	require.NoError(t, server.Write(ctx, MessageBinary, warm))
	m, err := trustRead(t, client)
	require.NoError(t, err)
	trustSameBytes(t, warm, m.data, "warm-up message")

	for i, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline already passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(1, 0))
		}, context.DeadlineExceeded},
		{"context already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	} {
		seed := uint64(10 * (i + 1))
		dropped := trustText(seed, trustWords, 4<<10)
		wctx, cancel := tc.ctx()
		err := server.Write(wctx, MessageBinary, dropped)
		cancel()
		require.Error(t, err, "%s: Write must fail, with nothing sent", tc.name)
		require.ErrorIs(t, err, tc.want, tc.name)
		require.Zero(t, CloseCode(err), "%s: the connection stays usable: %v", tc.name, err)

		// The next message repeats half of the dropped one: deflate encodes
		// that half as a back-reference into it if it is in the window.
		next := append(append([]byte(nil), dropped[:len(dropped)/2]...), trustText(seed+100, trustWords, 1<<10)...)
		require.NoError(t, server.Write(ctx, MessageBinary, next), tc.name)
		m, err := trustRead(t, client)
		require.NoError(t, err, "%s: the peer reads the next message", tc.name)
		trustSameBytes(t, next, m.data, "%s: the message after the cancelled Write (the cancelled one must not be in the compressor's window)", tc.name)

		again := trustText(seed+200, trustWords, 3<<10)
		require.NoError(t, server.Write(ctx, MessageBinary, again), tc.name)
		m, err = trustRead(t, client)
		require.NoError(t, err, tc.name)
		trustSameBytes(t, again, m.data, "%s: the message after that", tc.name)
	}
}

// Case 2. A Writer whose context ends after its first fragment went out
// cannot finish its message: the connection fails (1011), Done closes, and
// the peer sees the message's continuation frames and then a close frame
// with 1011: never a new data frame inside the unfinished message, never
// a final frame that ends it early.
func TestTrust02StreamedWriteCancelledMidMessage(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := c.Writer(ctx, MessageBinary)
	require.NoError(t, err)
	first := bytes.Repeat([]byte("first fragment. "), writeBufSize/16+1)
	_, err = w.Write(first) // the buffer fills: one fragment goes out
	require.NoError(t, err)
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpBinary, h.Opcode)
	require.False(t, h.Fin, "a first fragment")
	require.NotEmpty(t, payload)
	trustSameBytes(t, first[:len(payload)], payload, "first fragment")

	cancel()
	// The peer does not read now: the fragments of this write fill the
	// socket buffers and one of them blocks until the context's end
	// interrupts it.
	more := bytes.Repeat([]byte("0123456789abcdef"), trustBig/16)
	errW := trustStartErr(func() error { _, err := w.Write(more); return err }).waitErr(t, "Writer.Write after the context ended")
	require.Error(t, errW, "the writer's context ended: its message cannot be finished")
	require.ErrorIs(t, errW, context.Canceled)
	assert.Equal(t, wsframe.CloseInternalError, CloseCode(errW), "fragments of the message went out and it cannot be finished: the connection fails with 1011 (err: %v)", errW)

	// The peer reads on (from now on, so that the Conn can send its close
	// frame): the message's frames as far as they went, then the close.
	want := append(append([]byte(nil), first...), more...)
	peer := trustStart(func() (trustPeerResult, error) {
		off := len(payload)
		for {
			h, b, err := trustRecvFrame(p, time.Now().Add(trustSafety))
			switch {
			case err != nil:
				return trustPeerResult{err: fmt.Errorf("reading frames after byte %d of the message: %w", off, err)}, nil
			case h.Opcode == wsframe.OpClose:
				return trustPeerResult{code: trustCloseCodeOf(b)}, nil
			case h.Opcode.IsControl():
				continue
			case h.Opcode != wsframe.OpContinuation:
				return trustPeerResult{err: fmt.Errorf("a new %v data frame (%q) inside the unfinished message (after %d of its bytes): a peer fails the connection with 1002", h.Opcode, b[:min(len(b), 16)], off)}, nil
			case off+len(b) > len(want) || !bytes.Equal(b, want[off:off+len(b)]):
				return trustPeerResult{err: fmt.Errorf("continuation frame at message offset %d carries bytes that were not written there", off)}, nil
			}
			off += len(b)
			if h.Fin && off != len(want) {
				return trustPeerResult{err: fmt.Errorf("a final frame ended the message after %d of its %d bytes: a torn message", off, len(want))}, nil
			}
		}
	})
	defer func() { p.nc.Close(); peer.settle() }()

	errClose := trustStartErr(w.Close).waitErr(t, "Writer.Close")
	errNext := trustStartErr(func() error {
		return c.Write(context.Background(), MessageText, []byte("next"))
	}).waitErr(t, "the next Write")

	res, _ := peer.wait(t, "the peer's reading")
	require.NoError(t, res.err, "what went on the wire")
	require.Equal(t, wsframe.CloseInternalError, res.code, "close code on the wire")
	p.send(p.frame(true, 0, wsframe.OpClose, closePayload(wsframe.CloseInternalError, "")))
	trustWaitDone(t, c, "after the failed streamed write")

	require.Error(t, errClose, "Writer.Close of a message that could not be finished")
	require.NotZero(t, CloseCode(errClose), "Writer.Close: %v", errClose)
	require.Error(t, errNext, "a Write after the connection failed")
	require.NotZero(t, CloseCode(errNext), "the next Write: %v", errNext)
}

// Case 3. Close while a Reader is halfway through a message: the message
// did not end, so its reader must not report io.EOF (a clean end).
func TestTrust03CloseDuringStreamedRead(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	msg := trustText(3, trustWords, 100)
	p.sendFrame(true, wsframe.OpBinary, msg)
	typ, r, err := c.Reader(context.Background())
	require.NoError(t, err)
	require.Equal(t, MessageBinary, typ)
	half := make([]byte, 50)
	_, err = io.ReadFull(r, half)
	require.NoError(t, err)
	trustSameBytes(t, msg[:50], half, "the first half")

	closed := trustStartErr(func() error { return c.Close(wsframe.CloseNormal, "") })
	p.expectClose(wsframe.CloseNormal)
	p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseNormal, ""))
	require.NoError(t, closed.waitErr(t, "Close"))

	rest, err := trustStart(func() ([]byte, error) { return io.ReadAll(r) }).wait(t, "the message reader after Close") // ReadAll turns io.EOF into nil
	require.Error(t, err, "the message reader ended cleanly (io.EOF) after %d of the message's %d bytes", 50+len(rest), len(msg))
	require.NotErrorIs(t, err, io.EOF)
}

// trustHookConn calls a hook once, after the first Write that follows
// arming it.
type trustHookConn struct {
	net.Conn
	hook atomic.Pointer[func()]
}

func (h *trustHookConn) Write(p []byte) (int, error) {
	n, err := h.Conn.Write(p)
	if f := h.hook.Swap(nil); f != nil {
		(*f)()
	}
	return n, err
}

// trustCert makes a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func trustCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ws6455 test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Case 4. crypto/tls refuses every write after one timed out. A write cut
// short on TLS therefore fails the connection: 1011, Done closes, later
// writes fail with a non-zero CloseCode.
func TestTrust04TLSWriteTimeoutFailsConnection(t *testing.T) {
	cert, pool := trustCert(t)
	a, b := tcpPair(t)
	hook := &trustHookConn{Conn: a}
	srv := tls.Server(hook, &tls.Config{Certificates: []tls.Certificate{cert}})
	cli := tls.Client(b, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	hctx, hcancel := context.WithTimeout(context.Background(), trustSafety)
	defer hcancel()
	hs := trustStartErr(func() error { return srv.HandshakeContext(hctx) })
	require.NoError(t, cli.HandshakeContext(hctx))
	require.NoError(t, hs.waitErr(t, "TLS handshake"))

	c := New(srv, nil, false, "", nil)
	t.Cleanup(func() { c.CloseNow(); cli.Close() })

	// The context ends once the first TLS record of the message is on the
	// socket; the peer never reads, so the write cannot finish before.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fire := func() { cancel() }
	hook.hook.Store(&fire)
	msg := bytes.Repeat([]byte("0123456789abcdef"), trustBig/16)
	err := trustStartErr(func() error { return c.Write(ctx, MessageBinary, msg) }).waitErr(t, "Write over TLS")
	require.Error(t, err)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, wsframe.CloseInternalError, CloseCode(err), "a write cut short on TLS fails the connection with 1011 (err: %v)", err)

	err = trustStartErr(func() error {
		return c.Write(context.Background(), MessageText, []byte("later"))
	}).waitErr(t, "a later Write")
	require.Error(t, err, "TLS refuses writes after a timeout")
	require.NotZero(t, CloseCode(err), "a later Write: %v", err)
	trustWaitDone(t, c, "a TLS connection that can no longer send")
}

// Case 5. A read whose context ends while its pong waits for the
// connection (another goroutine is writing a large message): the pong
// stays owed, the read returns the context's error, and the connection
// stays usable: the next read works and the pong goes out whole.
func TestTrust05PongOwedWhenReadContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The read's context ends as soon as the ping has been read: its pong
	// then has to wait for the writer of the big message.
	c, p := serverWithPeer(t, &Options{OnFrame: func(dir Direction, h wsframe.Header, _ []byte) {
		if dir == Inbound && h.Opcode == wsframe.OpPing {
			cancel()
		}
	}})
	bigMsg := bytes.Repeat([]byte("0123456789abcdef"), trustBig/16)
	wrote := trustStartErr(func() error { return c.Write(context.Background(), MessageBinary, bigMsg) })
	defer func() { c.CloseNow(); wrote.settle() }()

	// The big frame has begun (its header is on the wire) and, with the
	// peer not reading, its writer holds the connection.
	hdr := p.recvRaw(10)
	require.Equal(t, []byte{0x82, 127}, hdr[:2])
	require.Equal(t, uint64(len(bigMsg)), binary.BigEndian.Uint64(hdr[2:]))
	p.sendFrame(true, wsframe.OpPing, []byte("hello"))

	_, err := trustReadTask(c, ctx).wait(t, "Read whose context ends")
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, CloseCode(err), "the pong was not sent: nothing left a trace (%v)", err)

	rest := p.recvRaw(len(bigMsg))
	trustSameBytes(t, bigMsg, rest, "the big message")
	require.NoError(t, wrote.waitErr(t, "the big Write"))

	p.sendFrame(true, wsframe.OpText, []byte("after"))
	m, err := trustRead(t, c)
	require.NoError(t, err, "the read after a read whose pong could not be sent (CloseCode %v)", CloseCode(err))
	require.Equal(t, "after", string(m.data))
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpPong, h.Opcode, "the owed pong")
	require.Equal(t, "hello", string(payload))
}

// Case 6. A compressed message's streaming read cut short by its context
// (here: the context ends inside a read, once the header of the message's
// second frame was taken, while the read waits for its payload) cannot
// resume, since the inflater keeps its input error: the connection fails
// with 1011, the peer gets a close frame, and later calls return an error
// with a non-zero CloseCode: never the stale context error again.
func TestTrust06CompressedStreamingReadCutShort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, p := trustDeflateServer(t, Options{OnFrame: func(dir Direction, h wsframe.Header, _ []byte) {
		if dir == Inbound && h.Opcode == wsframe.OpContinuation {
			cancel()
		}
	}})
	// The first fragment ends with a sync flush, so that all of part1
	// inflates from it alone. Of the second, only the header is sent.
	part1 := trustText(61, trustWords, 20<<10)
	part2 := trustText(62, trustWords, 20<<10)
	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.BestSpeed)
	require.NoError(t, err)
	_, err = fw.Write(part1)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())
	z1 := append([]byte(nil), z.Bytes()...)
	z.Reset()
	_, err = fw.Write(part2)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())
	z2 := z.Bytes()[:z.Len()-len(deflateTail)]
	p.send(p.frame(false, wsframe.RSV1, wsframe.OpBinary, z1))

	typ, r, err := c.Reader(ctx)
	require.NoError(t, err)
	require.Equal(t, MessageBinary, typ)
	got := make([]byte, len(part1))
	_, err = io.ReadFull(r, got)
	require.NoError(t, err)
	trustSameBytes(t, part1, got, "the first fragment, inflated")

	second := p.frame(true, 0, wsframe.OpContinuation, z2)
	p.send(second[:len(second)-len(z2)])
	buf := make([]byte, 1024)
	read := func() error { _, err := r.Read(buf); return err }
	err = trustStartErr(read).waitErr(t, "the message reader, cut short")
	require.Error(t, err)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, wsframe.CloseInternalError, CloseCode(err), "a compressed message's read cut short fails the connection with 1011 (err: %v)", err)

	// The peer answers the close frame it should get: it finishes its
	// frame, then sends its close.
	peer := trustStart(func() (trustPeerResult, error) {
		for {
			h, b, err := trustRecvFrame(p, time.Now().Add(trustSafety))
			if err != nil {
				return trustPeerResult{err: err}, nil
			}
			if h.Opcode == wsframe.OpClose {
				code := trustCloseCodeOf(b)
				reply := append(second[len(second)-len(z2):len(second):len(second)], p.frame(true, 0, wsframe.OpClose, closePayload(code, ""))...)
				p.nc.SetWriteDeadline(time.Now().Add(trustSafety))
				_, err := p.nc.Write(reply)
				return trustPeerResult{code: code, err: err}, nil
			}
		}
	})
	defer func() { p.nc.Close(); peer.settle() }()

	err = trustStartErr(read).waitErr(t, "the message reader again")
	require.Error(t, err)
	require.NotZero(t, CloseCode(err), "the message reader again: a stale %q, as if the connection were still usable", err)
	err = trustStartErr(func() error { _, _, err := c.Reader(context.Background()); return err }).waitErr(t, "Reader")
	require.Error(t, err)
	require.NotZero(t, CloseCode(err), "Reader after the failure: a stale %q, as if the connection were still usable", err)
	nc := NetConn(context.Background(), c, MessageBinary)
	nc.SetReadDeadline(time.Time{})
	err = trustStartErr(func() error { _, err := nc.Read(buf); return err }).waitErr(t, "NetConn.Read")
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "NetConn.Read without a deadline times out: %v", err)
	require.NotZero(t, CloseCode(err), "NetConn.Read after the failure: %v", err)

	res, _ := peer.wait(t, "the peer's wait for a close frame")
	require.NoError(t, res.err, "the peer's wait for a close frame")
	require.Equal(t, wsframe.CloseInternalError, res.code, "close code on the wire")
	trustWaitDone(t, c, "after the failed compressed read")
}

// Case 7. Keepalive counts any bytes received as activity: a healthy peer
// that sends one large frame slowly (a chunk every 10 ms, for 40 ping
// intervals) is not disconnected, and its message arrives whole.
func TestTrust07KeepaliveCountsPayloadBytes(t *testing.T) {
	const interval = 50 * time.Millisecond
	const chunk, chunks = 64, 200
	c, p := serverWithPeer(t, &Options{PingInterval: interval, PingTimeout: 5 * interval})
	msg := trustText(7, trustWords, chunk*chunks)
	frame := p.frame(true, 0, wsframe.OpBinary, msg)
	hdrLen := len(frame) - len(msg)

	// The peer watches what the Conn sends. Once its frame is sent it
	// answers pings, as a healthy peer does (it cannot in the middle of a
	// frame).
	type seen struct {
		h       wsframe.Header
		payload []byte
	}
	frames := make(chan seen, 1024)
	var answer atomic.Bool
	watcher := trustStartErr(func() error {
		for {
			h, b, err := trustRecvFrame(p, time.Now().Add(3*trustSafety))
			if err != nil {
				return err
			}
			if h.Opcode == wsframe.OpPing && answer.Load() {
				p.nc.SetWriteDeadline(time.Now().Add(trustSafety))
				p.nc.Write(p.frame(true, 0, wsframe.OpPong, b))
			}
			select {
			case frames <- seen{h, b}:
			default:
			}
		}
	})
	read := trustReadTask(c, context.Background())
	var reader2 *trustTask[trustMessage]
	defer func() {
		c.CloseNow()
		read.settle()
		if reader2 != nil {
			reader2.settle()
		}
		watcher.settle()
	}()
	checkNoClose := func(when string) {
		t.Helper()
		for {
			select {
			case f := <-frames:
				if f.h.Opcode == wsframe.OpClose {
					t.Fatalf("%s: the Conn closed the connection with %v (%q) while the peer was sending", when, trustCloseCodeOf(f.payload), f.payload[min(2, len(f.payload)):])
				}
			default:
				return
			}
		}
	}

	p.send(frame[:hdrLen+chunk])
	for off := hdrLen + chunk; off < len(frame); off += chunk {
		time.Sleep(10 * time.Millisecond)
		checkNoClose(fmt.Sprintf("after %d of %d payload bytes", off-hdrLen, len(msg)))
		p.send(frame[off:min(off+chunk, len(frame))])
	}
	answer.Store(true)

	m, err := read.wait(t, "the read of the slow message")
	require.NoError(t, err, "the read of the slow message (CloseCode %v)", CloseCode(err))
	trustSameBytes(t, msg, m.data, "the slow message")
	checkNoClose("after the slow message")
	select {
	case <-c.Done():
		t.Fatal("the connection ended")
	default:
	}

	// Still alive: a reader sees pongs, and a message gets through.
	reader2 = trustReadTask(c, context.Background())
	require.NoError(t, c.Write(context.Background(), MessageText, []byte("alive")))
	deadline := time.After(trustSafety)
	for {
		select {
		case f := <-frames:
			require.NotEqual(t, wsframe.OpClose, f.h.Opcode, "close frame %v", trustCloseCodeOf(f.payload))
			if f.h.Opcode == wsframe.OpText {
				require.Equal(t, "alive", string(f.payload))
				return
			}
		case <-deadline:
			t.Fatal("the message after the slow one did not arrive")
		}
	}
}

// Case 8. A deadline set with NetConn.SetWriteDeadline survives a
// context-bound operation on the same Conn (here Ping): a later Write to a
// peer that does not read times out instead of blocking forever.
func TestTrust08NetConnWriteDeadlineSurvivesPing(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	nc := NetConn(context.Background(), c, MessageBinary)
	// A second is for the Ping below and for the Write to start (both
	// immediate); the Write then blocks until this deadline.
	require.NoError(t, nc.SetWriteDeadline(time.Now().Add(time.Second)))

	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	pinged := trustStartErr(func() error { return c.Ping(pctx) })
	h, _ := p.recvFrame()
	require.Equal(t, wsframe.OpPing, h.Opcode)
	pcancel() // nobody reads the pong: end the Ping
	require.ErrorIs(t, pinged.waitErr(t, "Ping"), context.Canceled)

	// The peer reads no more: the Write blocks until the deadline.
	msg := bytes.Repeat([]byte("0123456789abcdef"), trustBig/16)
	wrote := trustStartErr(func() error { _, err := nc.Write(msg); return err })
	defer func() { c.CloseNow(); wrote.settle() }()
	select {
	case <-wrote.done:
	case <-time.After(trustSafety):
		t.Fatalf("NetConn.Write still blocked %v after its write deadline was set: the Ping cleared it", trustSafety)
	}
	var ne net.Error
	require.ErrorAs(t, wrote.err, &ne)
	require.True(t, ne.Timeout(), "NetConn.Write past its deadline: %v", wrote.err)
}

// Case 9. Memory follows bytes received: a header declaring a frame as
// large as the read limit, followed by one byte, must not make a reader
// allocate the declared size.
func TestTrust09DeclaredLengthDoesNotPinMemory(t *testing.T) {
	const conns = 100
	const declared = 1 << 20
	const perConn = 16 << 10
	started := make(chan struct{}, conns)
	opts := &Options{ReadLimit: declared, OnFrame: func(dir Direction, h wsframe.Header, _ []byte) {
		if dir == Inbound && !h.Opcode.IsControl() {
			started <- struct{}{}
		}
	}}
	cs := make([]*Conn, conns)
	ps := make([]*rawPeer, conns)
	for i := range cs {
		cs[i], ps[i] = serverWithPeer(t, opts)
	}
	// The header of a masked 1 MiB frame and its first payload byte.
	frame := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, Mask: testKey, Length: declared})
	frame = append(frame, 'x'^testKey[0])

	var wg sync.WaitGroup
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(trustSafety):
			t.Error("readers did not end")
		}
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.ReadInto(context.Background(), nil)
		}()
	}
	for _, p := range ps {
		p.send(frame)
	}
	for range conns {
		select {
		case <-started:
		case <-time.After(trustSafety):
			t.Fatal("not every reader got its frame header")
		}
	}
	// Every reader has parsed its header and goes on, without waiting, to
	// the payload. Look a few times: the test fails as soon as the heap
	// has grown by more than the bound, and passes if it never does.
	limit := uint64(conns * perConn)
	var grew uint64
	for range 25 {
		runtime.GC()
		runtime.ReadMemStats(&after)
		grew = 0
		if after.HeapAlloc > before.HeapAlloc {
			grew = after.HeapAlloc - before.HeapAlloc
		}
		if grew > limit {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.LessOrEqual(t, grew, limit, "heap grew by %d KiB for %d readers that received 1 byte each of a declared %d KiB frame (%d KiB per connection)", grew>>10, conns, declared>>10, grew/conns>>10)
}

// Case 10. A read that ends in the middle of a message (the peer's close
// frame, EOF) leaves no registration on the caller's context.
func TestTrust10NoContextWatchLeftAfterReadEndsMidMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		// start sets the scene and returns the read that ends mid-message.
		start func(t *testing.T, c *Conn, p *rawPeer, ctx context.Context) func() error
	}{
		{"ReadInto, peer's close frame", func(t *testing.T, c *Conn, p *rawPeer, ctx context.Context) func() error {
			p.sendFrame(false, wsframe.OpBinary, []byte("part"))
			p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseNormal, ""))
			return func() error { _, _, err := c.ReadInto(ctx, nil); return err }
		}},
		{"ReadInto, EOF", func(t *testing.T, c *Conn, p *rawPeer, ctx context.Context) func() error {
			p.sendFrame(false, wsframe.OpBinary, []byte("part"))
			p.nc.Close()
			return func() error { _, _, err := c.ReadInto(ctx, nil); return err }
		}},
		{"Reader, EOF", func(t *testing.T, c *Conn, p *rawPeer, ctx context.Context) func() error {
			p.sendFrame(false, wsframe.OpBinary, []byte("part"))
			_, r, err := c.Reader(ctx)
			require.NoError(t, err)
			got := make([]byte, 4)
			_, err = io.ReadFull(r, got)
			require.NoError(t, err)
			require.Equal(t, "part", string(got))
			p.nc.Close()
			return func() error { _, err := io.ReadAll(r); return err }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, p := serverWithPeer(t, nil)
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx := &countingCtx{Context: parent}
			err := trustStartErr(tc.start(t, c, p, ctx)).waitErr(t, "the read")
			require.Error(t, err, "the message did not end")
			// The Conn may let go of its registration as it ends, just
			// after the read returned: wait for that, bounded.
			deadline := time.Now().Add(trustSafety)
			for ctx.registrations() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			require.Zero(t, ctx.registrations(), "registrations left on the caller's context after the read returned %q", err)
		})
	}
}

// Case 11. SetReadLimit(math.MaxInt64) must not overflow the limit on a
// compressed message's wire size: the message is read, not refused with
// 1009.
func TestTrust11MaxReadLimitWithCompression(t *testing.T) {
	c, p := trustDeflateServer(t, Options{})
	c.SetReadLimit(math.MaxInt64)
	for i, size := range []int{200, 64 << 10} {
		msg := trustText(uint64(110+i), trustWords, size)
		p.send(p.frame(true, wsframe.RSV1, wsframe.OpText, trustDeflate(t, msg)))
		m, err := trustRead(t, c)
		require.NoError(t, err, "a compressed message of %d bytes (CloseCode %v)", size, CloseCode(err))
		require.Equal(t, MessageText, m.typ)
		trustSameBytes(t, msg, m.data, "compressed message of %d bytes", size)
	}
}

// trustOneWay is a Conn and the raw socket of its peer, to count the
// allocations of one side only (as TestSteadyStateAllocs does).
type trustOneWay struct {
	c     *Conn
	peer  net.Conn
	frame []byte // one message as the peer sends it
	sink  []byte // room for one frame as the Conn sends it
	buf   []byte // the reused ReadInto buffer
	msg   []byte
}

func newTrustOneWay(t *testing.T, client bool, size int) *trustOneWay {
	a, b := tcpPair(t)
	c := New(a, nil, client, "", &Options{ReadLimit: 1 << 20})
	t.Cleanup(func() { c.CloseNow() })
	msg := trustText(12, trustWords, size)
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(size)}
	if !client {
		h.Masked, h.Mask = true, testKey
	}
	frame := wsframe.AppendHeader(nil, h)
	start := len(frame)
	frame = append(frame, msg...)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, frame[start:])
	}
	out := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(size), Masked: client}
	return &trustOneWay{c: c, peer: b, frame: frame, sink: make([]byte, len(wsframe.AppendHeader(nil, out))+size), buf: make([]byte, 0, size), msg: msg}
}

func (o *trustOneWay) read(t *testing.T, ctx context.Context) {
	if _, err := o.peer.Write(o.frame); err != nil {
		t.Fatal(err)
	}
	_, got, err := o.c.ReadInto(ctx, o.buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, o.msg) {
		t.Fatalf("read %d bytes, not the message sent", len(got))
	}
	o.buf = got
}

func (o *trustOneWay) write(t *testing.T, ctx context.Context) {
	if err := o.c.Write(ctx, MessageBinary, o.msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(o.peer, o.sink); err != nil {
		t.Fatal(err)
	}
	if !o.c.client && !bytes.HasSuffix(o.sink, o.msg) { // (a client's frame is masked)
		t.Fatal("the frame on the wire does not carry the message")
	}
}

// Case 12. Steady state costs 0 allocations per message read (ReadInto)
// and written (Write) with a cancellable context without deadline, as with
// context.Background(). Under the race detector, which makes sync.Pool
// drop items, the counts are compared with context.Background()'s instead
// of with zero.
func TestTrust12NoAllocsWithCancellableContext(t *testing.T) {
	for _, size := range []int{16, 1 << 10} {
		for _, client := range []bool{false, true} {
			role := "server"
			if client {
				role = "client"
			}
			t.Run(fmt.Sprintf("%s/%d", role, size), func(t *testing.T) {
				o := newTrustOneWay(t, client, size)
				bg := context.Background()
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				for range 10 { // warm up: pools, buffers, runtime structures
					o.read(t, ctx)
					o.write(t, ctx)
					o.read(t, bg)
					o.write(t, bg)
				}
				reads := testing.AllocsPerRun(200, func() { o.read(t, ctx) })
				writes := testing.AllocsPerRun(200, func() { o.write(t, ctx) })
				if !raceBuild {
					assert.Zero(t, reads, "allocations per ReadInto with a cancellable context")
					assert.Zero(t, writes, "allocations per Write with a cancellable context")
					return
				}
				bgReads := testing.AllocsPerRun(200, func() { o.read(t, bg) })
				bgWrites := testing.AllocsPerRun(200, func() { o.write(t, bg) })
				assert.LessOrEqual(t, reads, bgReads+1, "allocations per ReadInto: cancellable context vs context.Background()")
				assert.LessOrEqual(t, writes, bgWrites+1, "allocations per Write: cancellable context vs context.Background()")
			})
		}
	}
}

// A Writer whose message was cut short by its context with no trace
// (CloseCode 0) reports a later end of the connection: once the
// connection has failed or closed, its Write and Close return an error
// with a non-zero CloseCode, as every later call on the Conn does. (Found
// by TestModel, seed 1796215195622501279 scenario 22: the Writer's Close
// returned the stale context error after a read had failed the
// connection with 1011.)
func TestWriterCutShortThenConnEnds(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		var c *Conn
		if compressed {
			c, _ = trustDeflatePair(t)
		} else {
			a, _ := tcpPair(t)
			c = New(a, nil, false, "", nil)
			t.Cleanup(func() { c.CloseNow() })
		}
		ctx, cancel := context.WithCancel(context.Background())
		w, err := c.Writer(ctx, MessageBinary)
		require.NoError(t, err)
		cancel()
		_, err = w.Write(make([]byte, 64<<10))
		require.ErrorIs(t, err, context.Canceled, "compressed=%v", compressed)
		require.Zero(t, CloseCode(err), "nothing went out: the connection stays usable")
		c.CloseNow()
		<-c.Done()
		_, err = w.Write([]byte("more"))
		require.Error(t, err)
		require.NotZero(t, CloseCode(err), "compressed=%v: Write after the end: %v", compressed, err)
		err = w.Close()
		require.Error(t, err)
		require.NotZero(t, CloseCode(err), "compressed=%v: Close after the end: %v", compressed, err)
	}
}
