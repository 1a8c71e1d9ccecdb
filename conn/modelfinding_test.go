package conn

// Deterministic reproductions of what TestModel (model_test.go) found,
// kept as regression tests: each failed on the code of its day, before the
// fix named in its comment's commit history. TestModel finds such bugs in
// random interleavings; these pin each one down.

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

func reproDeflate(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(p)
	fw.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatal("no sync flush tail")
	}
	return out[:len(out)-4]
}

func reproText(n int) []byte {
	return []byte(strings.Repeat("alpha beta gamma delta ", n/23+1)[:n])
}

// 1. A zero-length Read of a compressed message's reader returns io.EOF
// before the message was read.
func TestModelFinding1ZeroLengthReadEOF(t *testing.T) {
	nct := handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	server, client := compressedPair(t, nct, Options{})
	msg := reproText(209)
	go client.Write(context.Background(), MessageText, msg)
	_, r, err := server.Reader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Read(nil)
	t.Logf("Read(nil) = %d, %v", n, err)
	rest, err2 := io.ReadAll(r)
	t.Logf("then ReadAll = %d bytes, %v", len(rest), err2)
	if err == io.EOF {
		t.Errorf("io.EOF before any of the %d bytes", len(msg))
	}
}

// 2. A compressed Writer (context takeover) whose context ends after the
// compressor took bytes but before a frame went out returns CloseCode 0;
// the next message carries the abandoned bytes.
func TestModelFinding2WriterTakeoverSplice(t *testing.T) {
	server, client := compressedPair(t, handshake.DeflateParams{}, Options{})
	a, b := reproText(9000), []byte(strings.Repeat("the next message ", 20))
	ctx, cancel := context.WithCancel(context.Background())
	w, err := server.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(a[:5000]); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, werr := w.Write(a[5000:])
	cerr := w.Close()
	t.Logf("Write after cancel: %v (CloseCode %d); Close: %v (CloseCode %d)", werr, CloseCode(werr), cerr, CloseCode(cerr))
	go server.Write(context.Background(), MessageText, b)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, got, err := client.Read(rctx)
	t.Logf("peer read: %d bytes, %v; starts %q", len(got), err, got[:min(len(got), 30)])
	if err == nil && !bytes.Equal(got, b) {
		t.Errorf("the peer got %d bytes for a %d-byte message (%d bytes of the abandoned one in front)", len(got), len(b), len(got)-len(b))
	}
}

// 3. With context takeover toward the SUT, Close discards compressed
// messages without inflating them, then hands over to a reader: the next
// message inflates against a stale window.
func TestModelFinding3CloseDrainTakeover(t *testing.T) {
	server, client := compressedPair(t, handshake.DeflateParams{}, Options{CloseTimeout: 2 * time.Second})
	ctx := context.Background()
	// A first message, read; a second one, that Close will discard; a
	// third, made of the second's words, that refers back to it.
	// m1 fills the window; m3 copies from m2 at distances that, without
	// m2, land inside m1.
	m1 := []byte(strings.Repeat("one two three four five six seven ", 1200))
	m2 := []byte(strings.Repeat("zebra quokka narwhal axolotl ", 40))
	m3 := []byte(strings.Repeat("zebra quokka narwhal axolotl ", 20))
	for _, m := range [][]byte{m1, m2} {
		if err := client.Write(ctx, MessageText, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, got, err := server.Read(ctx); err != nil || !bytes.Equal(got, m1) {
		t.Fatal("m1", err)
	}
	// m2 is in the socket. Close (nobody reads): it drains m2 and waits.
	closed := make(chan error, 1)
	go func() { closed <- server.Close(wsframe.CloseNormal, "") }()
	time.Sleep(100 * time.Millisecond) // let Close drain m2 (scratch test only)
	// A reader turns up: Close hands over at the next frame.
	got := make(chan []byte, 1)
	go func() {
		_, p, err := server.Read(ctx)
		t.Logf("server Read after Close began: %d bytes, %v", len(p), err)
		got <- p
	}()
	time.Sleep(50 * time.Millisecond)
	// The peer still sends m3 before it sees the close frame: its
	// compressor refers to m2.
	client.Write(ctx, MessageText, m3)
	go client.Read(ctx) // answers the close
	p := <-got
	if p != nil && !bytes.Equal(p, m3) {
		t.Errorf("an altered message delivered with a nil error: got %q, want %q", p[:min(40, len(p))], m3[:40])
	}
	<-closed
}

// 4. NetConn.SetWriteDeadline while a write with a deadline context is
// still in its call on a Conn that has just ended: nil dereference.
type reproStuckConn struct {
	net.Conn
	block   chan struct{}
	writing chan struct{}
	once    sync.Once
}

func (s *reproStuckConn) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.writing) })
	<-s.block // ignores deadlines and Close: a slow stack
	return len(p), nil
}

func TestModelFinding4SetDeadlinePanicsAfterEnd(t *testing.T) {
	a, _ := net.Pipe()
	sc := &reproStuckConn{Conn: a, block: make(chan struct{}), writing: make(chan struct{})}
	defer close(sc.block)
	c := New(sc, nil, false, "", nil)
	nc := NetConn(context.Background(), c, MessageBinary)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	go c.Write(ctx, MessageBinary, []byte("stuck")) // a call in progress, with a deadline
	<-sc.writing
	c.CloseNow() // the Conn ends: endWatches clears w.ctx
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("SetWriteDeadline panicked: %v", p)
		}
	}()
	nc.SetWriteDeadline(time.Now().Add(time.Second))
}

// 5. A NetConn write cut short after part of its frame went out reports
// n == len(p) but its error does not match ErrQueued.
func TestModelFinding5NetConnQueuedUnmarked(t *testing.T) {
	c, p := serverWithPeer(t, nil)
	nc := NetConn(context.Background(), c, MessageBinary)
	nc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	big := bytes.Repeat([]byte("x"), 16<<20) // more than the socket buffers
	n, err := nc.Write(big)
	t.Logf("n=%d of %d, err=%v, ErrQueued=%v", n, len(big), err, errors.Is(err, ErrQueued))
	if n == len(big) && !errors.Is(err, ErrQueued) {
		t.Errorf("queued NetConn write: errors.Is(err, ErrQueued) = false")
	}
	nc.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { done <- c.Write(context.Background(), MessageText, []byte("next")) }()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := wsframe.ReadHeader(p.br)
	t.Logf("peer: first frame %v, %v", h, err)
	if err == nil {
		payload := make([]byte, h.Length)
		_, err = io.ReadFull(p.br, payload)
		t.Logf("peer: payload %d bytes, %v; whole big message: %v", len(payload), err, bytes.Equal(payload, big))
		h2, err2 := wsframe.ReadHeader(p.br)
		t.Logf("peer: second frame %v, %v", h2, err2)
	}
	t.Logf("Write(next): %v", <-done)
}

// 6. A compressed message's streaming read: the inflater latches the
// timeout while it still returns decoded bytes; the next read returns
// outcome (a) (CloseCode 0), and the failure surfaces on a later read
// with a fresh context, as 1011 wrapping the old context's error.
func TestModelFinding6InflaterLatchesTimeout(t *testing.T) {
	nct := handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	c, p := serverWithPeer(t, &Options{Deflate: &nct})
	msg := reproText(3000)
	z := reproDeflate(t, msg)
	half := len(z) / 2
	// Fragment 1 ends at a sync flush of its own, so that what it holds
	// can be decoded: deflate the first half separately is not possible in
	// one stream, so send the whole stream but split: the first fragment
	// carries a prefix that decodes to some output.
	p.send(p.frame(false, wsframe.RSV1, wsframe.OpText, z[:half]))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, r, err := c.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n1, err1 := r.Read(buf)
	n2, err2 := r.Read(buf)
	t.Logf("first Read: %d, %v; second Read: %d, %v (CloseCode %d)", n1, err1, n2, err2, CloseCode(err2))
	p.send(p.frame(true, 0, wsframe.OpContinuation, z[half:]))
	p.sendFrame(true, wsframe.OpBinary, []byte("next"))
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, got, err3 := c.Read(rctx)
	t.Logf("then Read with a fresh context: %q, %v (CloseCode %d)", got, err3, CloseCode(err3))
	if CloseCode(err2) == 0 && err3 != nil {
		t.Errorf("the cut-short read said (a) (CloseCode 0), yet a later read with a live context failed: %v", err3)
	}
}

// 7. After the connection ended, a call whose context had ended too
// returns the context's error: CloseCode 0.
func TestModelFinding7EndedConnEndedCtx(t *testing.T) {
	c, _ := serverWithPeer(t, nil)
	c.CloseNow()
	<-c.Done()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Write(ctx, MessageText, []byte("x"))
	_, _, rerr := c.Read(ctx)
	nc := NetConn(context.Background(), c, MessageBinary)
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	_, nerr := nc.Write([]byte("x"))
	t.Logf("Write: %v (CloseCode %d); Read: %v (CloseCode %d); NetConn.Write past deadline: %v (CloseCode %d)",
		err, CloseCode(err), rerr, CloseCode(rerr), nerr, CloseCode(nerr))
	if CloseCode(err) == 0 || CloseCode(rerr) == 0 || CloseCode(nerr) == 0 {
		t.Errorf("a call after Done() closed returned CloseCode 0")
	}
}

// 6b. As 6, with a first fragment that decodes whole (it ends at a sync
// flush): the inflater has output ready when it latches the timeout.
func TestModelFinding6bInflaterLatchesTimeout(t *testing.T) {
	nct := handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	c, p := serverWithPeer(t, &Options{Deflate: &nct, CloseTimeout: time.Second})
	p1, p2 := reproText(3000), reproText(2000)
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(p1)
	fw.Flush()
	z1 := append([]byte(nil), b.Bytes()...)
	b.Reset()
	fw.Write(p2)
	fw.Flush()
	z2 := b.Bytes()[:b.Len()-4]
	// Fragment 1 stops just before the sync flush's LEN/NLEN (00 00 ff ff):
	// the inflater decodes p1, then waits inside a block header.
	full := append(append([]byte(nil), z1...), z2...)
	cut := len(z1) - 4
	p.send(p.frame(false, wsframe.RSV1, wsframe.OpText, full[:cut]))
	z2 = full[cut:]
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, r, err := c.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n1, err1 := r.Read(buf) // decodes all of z1, then waits for more: the deadline passes
	n2, err2 := r.Read(buf)
	t.Logf("first Read: %d, %v; second Read: %d, %v (CloseCode %d)", n1, err1, n2, err2, CloseCode(err2))
	p.send(p.frame(true, 0, wsframe.OpContinuation, z2))
	p.sendFrame(true, wsframe.OpBinary, []byte("next"))
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, got, err3 := c.Read(rctx)
	t.Logf("then Read with a fresh context: %q, %v (CloseCode %d)", got, err3, CloseCode(err3))
	if CloseCode(err2) == 0 && err3 != nil {
		t.Errorf("the cut-short read said (a) (CloseCode 0), yet a later read with a live context failed: %v", err3)
	}
}

// 8. After a read failed the connection with 1011, while the close
// handshake waits for the peer, a Read blocks (the read lock is held) and,
// when its context ends, returns CloseCode 0.
func TestModelFinding8ReadDuringFailedCloseHandshake(t *testing.T) {
	c, p := serverWithPeer(t, &Options{CloseTimeout: 3 * time.Second})
	p.sendFrame(false, wsframe.OpBinary, []byte("part"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx) // cut short in the middle of a message: (c)
	t.Logf("Read: %v (CloseCode %d)", err, CloseCode(err))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, _, err2 := c.Read(ctx2)
	t.Logf("next Read: %v (CloseCode %d) after %v; Done closed: %v", err2, CloseCode(err2), time.Since(start).Round(time.Millisecond), func() bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}())
	if CloseCode(err) == wsframe.CloseInternalError && CloseCode(err2) == 0 {
		t.Errorf("a call after the 1011 failure returned CloseCode 0")
	}
}

// 9. After a call returned 1011 (the close handshake still waits for the
// peer), calls whose context had already ended return CloseCode 0.
func TestModelFinding9EndedCtxAfterFailure(t *testing.T) {
	c, p := serverWithPeer(t, &Options{CloseTimeout: 3 * time.Second})
	p.sendFrame(false, wsframe.OpBinary, []byte("part"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx) // cut short in the middle of a message: (c)
	t.Logf("Read: %v (CloseCode %d)", err, CloseCode(err))
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, _, rerr := c.Read(done)
	perr := c.Ping(done)
	werr := c.Write(done, MessageText, []byte("x"))
	t.Logf("Read: %v (%d); Ping: %v (%d); Write: %v (%d)", rerr, CloseCode(rerr), perr, CloseCode(perr), werr, CloseCode(werr))
	if CloseCode(rerr) == 0 || CloseCode(perr) == 0 || CloseCode(werr) == 0 {
		t.Errorf("a call after the 1011 failure returned CloseCode 0")
	}
}
