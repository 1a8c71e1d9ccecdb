package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// sizes are the message sizes of the matrix: the edges of the 7-bit, 16-bit
// and 64-bit length encodings, and our default read limit.
var sizes = []int{0, 125, 126, 65535, 65536, 1 << 20}

// payload returns size bytes of deterministic content for seed. Text is valid
// UTF-8 with 1- to 4-byte sequences, so that fragments and compression
// meet multi-byte characters; binary is pseudo-random (it compresses badly,
// so compressed messages of 64 KiB and more are still fragmented by the
// writer).
func payload(typ conn.MessageType, size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	b := make([]byte, 0, size)
	if typ == conn.MessageBinary {
		for len(b) < size {
			b = append(b, byte(r.Uint32()))
		}
		return b
	}
	runes := []rune("interop: héllo wörld ∑ ✓ 𝄞 — ")
	for len(b) < size {
		rn := runes[r.IntN(len(runes))]
		if len(b)+utf8.RuneLen(rn) > size {
			rn = 'x'
		}
		b = utf8.AppendRune(b, rn)
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func typeName(t conn.MessageType) string {
	if t == conn.MessageText {
		return "text"
	}
	return "binary"
}

// frameRec is one frame seen by a FrameObserver.
type frameRec struct {
	dir     conn.Direction
	h       wsframe.Header
	payload []byte // control frames only
}

// frameLog records every frame a Conn sends and receives.
type frameLog struct {
	mu     sync.Mutex
	frames []frameRec
}

func (l *frameLog) observe(dir conn.Direction, h wsframe.Header, p []byte) {
	r := frameRec{dir: dir, h: h}
	if h.Opcode >= wsframe.OpClose {
		r.payload = append([]byte{}, p...)
	}
	l.mu.Lock()
	l.frames = append(l.frames, r)
	l.mu.Unlock()
}

// take returns the frames recorded since the last call.
func (l *frameLog) take() []frameRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.frames
	l.frames = nil
	return f
}

// dataFrames returns the data frames (not control frames) going in dir.
func dataFrames(fs []frameRec, dir conn.Direction) []wsframe.Header {
	var out []wsframe.Header
	for _, f := range fs {
		if f.dir == dir && f.h.Opcode < wsframe.OpClose {
			out = append(out, f.h)
		}
	}
	return out
}

// controlFrames returns the payloads of the control frames with opcode op
// going in dir.
func controlFrames(fs []frameRec, dir conn.Direction, op wsframe.Opcode) [][]byte {
	var out [][]byte
	for _, f := range fs {
		if f.dir == dir && f.h.Opcode == op {
			out = append(out, f.payload)
		}
	}
	return out
}

// rsvWant says whether a message's first frame must, may or must not carry
// RSV1 (the permessage-deflate bit).
type rsvWant int

const (
	rsvNever  rsvWant = iota // compression not negotiated, or not used
	rsvAlways                // the sender compresses every such message
	rsvMaybe                 // the sender may send it uncompressed (it would not shrink)
)

// requireMessageFrames checks that hs are the frames of exactly one message
// of type typ: an opcode frame, then continuations, FIN on the last only,
// and RSV1 on the first only, as rsv says.
func requireMessageFrames(t *testing.T, hs []wsframe.Header, typ conn.MessageType, rsv rsvWant) {
	t.Helper()
	require.NotEmpty(t, hs)
	for i, h := range hs {
		wantOp := wsframe.OpContinuation
		var wantRsv byte
		if i == 0 {
			wantOp = wsframe.Opcode(typ)
			switch {
			case rsv == rsvAlways, rsv == rsvMaybe && h.Rsv == wsframe.RSV1:
				wantRsv = wsframe.RSV1
			}
		}
		require.Equal(t, wantOp, h.Opcode, "opcode of frame %d of %d", i, len(hs))
		require.Equal(t, wantRsv, h.Rsv, "RSV bits of frame %d of %d", i, len(hs))
		require.Equal(t, i == len(hs)-1, h.Fin, "FIN of frame %d of %d", i, len(hs))
	}
}

// serverConn is one connection accepted by an echoServer.
type serverConn struct {
	c   *conn.Conn
	req *http.Request
	log *frameLog
	// got receives every message read, before it is echoed.
	got chan received
	// end receives the error that ended the read loop.
	end chan error
}

type received struct {
	typ  conn.MessageType
	data []byte
}

// echoServer is our server: it accepts with opts, hands each connection to
// the test on conns, and echoes every message until the connection ends.
type echoServer struct {
	*httptest.Server
	conns chan *serverConn
}

func newEchoServer(t *testing.T, opts conn.AcceptOptions) *echoServer {
	t.Helper()
	s := &echoServer{conns: make(chan *serverConn, 16)}
	var wg sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		log := &frameLog{}
		o := opts
		o.OnFrame = log.observe
		c, err := conn.Accept(w, r, &o)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer c.CloseNow()
		sc := &serverConn{c: c, req: r, log: log, got: make(chan received, 64), end: make(chan error, 1)}
		s.conns <- sc
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				sc.end <- err
				return
			}
			select {
			case sc.got <- received{typ, msg}:
			default: // the test does not look at every message
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				sc.end <- err
				return
			}
		}
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Server.Close()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("echo server connections did not end")
		}
	})
	return s
}

// wsURL is the server's echo endpoint as a ws:// URL.
func (s *echoServer) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/echo" }

// accepted waits for the next connection.
func (s *echoServer) accepted(ctx context.Context, t *testing.T) *serverConn {
	t.Helper()
	select {
	case sc := <-s.conns:
		return sc
	case <-ctx.Done():
		t.Fatal("no connection reached our server")
	}
	return nil
}

// readLoop reads every message of a client Conn into a channel, so that the
// Conn always has a reader (pings, pongs and the close handshake are handled
// by reads) while the test goroutine writes and waits.
type readLoop struct {
	msgs chan received
	end  chan error
}

func startReadLoop(c *conn.Conn) *readLoop {
	rl := &readLoop{msgs: make(chan received, 64), end: make(chan error, 1)}
	go func() {
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				rl.end <- err
				close(rl.msgs)
				return
			}
			rl.msgs <- received{typ, msg}
		}
	}()
	return rl
}

func (rl *readLoop) next(ctx context.Context, t *testing.T) received {
	t.Helper()
	select {
	case m, ok := <-rl.msgs:
		if !ok {
			err := <-rl.end
			rl.end <- err
			t.Fatalf("the connection ended while a message was expected: %v", err)
		}
		return m
	case <-ctx.Done():
		t.Fatal("no message arrived")
	}
	return received{}
}

// closeErr waits for the error that ended a read loop and requires it to be
// the peer's close frame.
func closeErr(ctx context.Context, t *testing.T, end <-chan error) conn.CloseError {
	t.Helper()
	select {
	case err := <-end:
		var ce conn.CloseError
		require.True(t, errors.As(err, &ce), "the read ended with %v, not the peer's close frame", err)
		return ce
	case <-ctx.Done():
		t.Fatal("the connection did not end")
	}
	return conn.CloseError{}
}
