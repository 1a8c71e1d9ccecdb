//go:build unix

package conn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	nurl "net/url"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// TestSoak holds thousands of connections to a server written the way an
// application would write one (echo, a periodic broadcast to everyone
// through per-connection send queues, a deadline on every write, slow
// consumers dropped), while a share of the clients misbehave:
//
//   - stop-reading clients send a burst of large messages and never read
//     again, so that the server's writes to them time out;
//   - vanishing clients drop the TCP connection in the middle of a frame
//     (or of a header, or of a fragmented message), over and over;
//   - trickling clients send well-formed frames one byte at a time, slower
//     than the keepalive interval, and expect their echoes;
//   - garbage clients send random bytes, invalid UTF-8, reserved opcodes,
//     oversized control frames, unmasked frames, frames over the read
//     limit or broken handshakes, and check the close code (or HTTP
//     status) they get.
//
// The other clients are well behaved: they send messages of all sizes,
// text and binary, and check that every echo and every broadcast arrives,
// byte for byte, in order, exactly once. At the end the goroutine count
// and the heap must come back near where they started.
//
// It runs only when WS_SOAK is set (make soak); WS_SOAK_CONNS (default
// 2000) and WS_SOAK_DURATION (default 60s) size it.
func TestSoak(t *testing.T) {
	if os.Getenv("WS_SOAK") == "" {
		t.Skip("the soak test runs with `make soak` (WS_SOAK=1; WS_SOAK_CONNS and WS_SOAK_DURATION size it)")
	}
	conns := soakEnvInt(t, "WS_SOAK_CONNS", 2000)
	duration := soakEnvDuration(t, "WS_SOAK_DURATION", 60*time.Second)
	soakRaiseNoFile(t, uint64(2*conns+1024))

	runtime.GC()
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse

	hub := &soakHub{peers: make(map[*soakPeer]struct{}), ends: make(map[string]int)}
	srv := httptest.NewServer(http.HandlerFunc(hub.handle))
	srvClosed := false
	defer func() {
		if !srvClosed {
			srv.Close()
		}
	}()
	addr := srv.Listener.Addr().String()
	url := "ws://" + addr + "/soak"

	rep := &soakReport{}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	finish := make(chan struct{}) // closed when the good clients are to check and close
	var finalSeq atomic.Int64

	// The broadcaster: every 200 ms, one message to every connection.
	broadcasterDone := make(chan struct{})
	go func() {
		defer close(broadcasterDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				hub.broadcast()
			}
		}
	}()

	// Peak sampling.
	var peakGoroutines atomic.Int64
	var peakHeap atomic.Uint64
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-finish:
				return
			case <-tick.C:
				if n := int64(runtime.NumGoroutine()); n > peakGoroutines.Load() {
					peakGoroutines.Store(n)
				}
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peakHeap.Load() {
					peakHeap.Store(m.HeapInuse)
				}
			}
		}
	}()

	dialSem := make(chan struct{}, 64) // connection attempts under way at once
	var misbehaving, good sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		kind := soakKindOf(i)
		rng := rand.New(rand.NewPCG(uint64(i), 0x50a6))
		cl := &soakClient{id: i, kind: kind, url: url, addr: addr, rng: rng, rep: rep, dialSem: dialSem}
		if kind == soakGood {
			good.Add(1)
			go func() {
				defer good.Done()
				defer rep.recoverPanic(kind)
				cl.good(runCtx, finish, &finalSeq)
			}()
			continue
		}
		misbehaving.Add(1)
		go func() {
			defer misbehaving.Done()
			defer rep.recoverPanic(kind)
			switch kind {
			case soakStopReading:
				cl.stopReading(runCtx)
			case soakVanish:
				cl.vanish(runCtx)
			case soakTrickle:
				cl.trickle(runCtx)
			case soakGarbage:
				cl.garbage(runCtx)
			}
		}()
	}

	time.Sleep(duration)
	live := hub.liveCount()
	t.Logf("after %v: %d server connections live, %d accepted so far, %d goroutines", time.Since(start).Round(time.Second), live, hub.accepted.Load(), runtime.NumGoroutine())

	// Wind down: the misbehaving clients stop, the broadcaster stops, the
	// good clients check what they got and close.
	stopRun()
	<-broadcasterDone
	if !soakWait(&misbehaving, 90*time.Second) {
		t.Errorf("misbehaving clients did not finish within 90 s")
	}
	finalSeq.Store(hub.stop())
	close(finish)
	<-samplerDone
	if !soakWait(&good, 120*time.Second) {
		t.Errorf("good clients did not finish within 120 s")
	}
	for i := 0; i < 600 && hub.liveCount() > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if n := hub.liveCount(); n > 0 {
		t.Errorf("%d server connections still live after every client closed", n)
	}
	srv.Close()
	srvClosed = true

	// Back to baseline? Bounded polls, generous bounds.
	const goroutineSlack = 10
	goroutinesAfter := runtime.NumGoroutine()
	for i := 0; i < 600 && goroutinesAfter > baseGoroutines+goroutineSlack; i++ {
		time.Sleep(100 * time.Millisecond)
		goroutinesAfter = runtime.NumGoroutine()
	}
	const heapSlack = 32 << 20
	var heapAfter uint64
	for i := 0; i < 30; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&ms)
		heapAfter = ms.HeapInuse
		if heapAfter <= baseHeap+heapSlack {
			break
		}
		time.Sleep(time.Second)
	}

	t.Logf("connections: %d clients (%s); %d upgrades accepted, %d refused; %v of traffic",
		conns, soakMix(conns), hub.accepted.Load(), hub.refused.Load(), duration)
	t.Logf("broadcasts: %d; server drops: %d send queue full, %d write errors, %d echo queue timeouts",
		finalSeq.Load(), hub.queueFull.Load(), hub.writeErrs.Load(), hub.echoTimeouts.Load())
	t.Logf("server reads ended: %s", hub.endsSummary())
	t.Logf("clients: %s", rep.summary())
	t.Logf("goroutines: %d before, %d peak, %d after; heap in use: %.1f MiB before, %.1f MiB peak, %.1f MiB after",
		baseGoroutines, peakGoroutines.Load(), goroutinesAfter,
		float64(baseHeap)/(1<<20), float64(peakHeap.Load())/(1<<20), float64(heapAfter)/(1<<20))

	if p := hub.firstPanic(); p != "" {
		t.Errorf("the server panicked (%d times); first:\n%s", hub.panics.Load(), p)
	}
	for _, f := range rep.failures() {
		t.Error(f)
	}
	if goroutinesAfter > baseGoroutines+goroutineSlack {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d after, %d before (slack %d)\n%s", goroutinesAfter, baseGoroutines, goroutineSlack, soakStackSummary(string(buf[:n])))
	}
	if heapAfter > baseHeap+heapSlack {
		t.Errorf("heap in use: %.1f MiB after, %.1f MiB before (slack %d MiB)", float64(heapAfter)/(1<<20), float64(baseHeap)/(1<<20), heapSlack>>20)
	}
}

// The server side.

const (
	soakReadLimit    = 64 << 10
	soakWriteTimeout = 3 * time.Second
	soakQueueLen     = 256
)

type soakHub struct {
	mu      sync.Mutex
	peers   map[*soakPeer]struct{}
	seq     int64 // number of the next broadcast
	stopped bool

	live, accepted, refused            atomic.Int64
	queueFull, writeErrs, echoTimeouts atomic.Int64
	panics                             atomic.Int64

	endsMu    sync.Mutex
	ends      map[string]int // how server reads ended, by close code
	panicText string
}

type soakPeer struct {
	c    *Conn
	q    chan soakOut
	done chan struct{}
	once sync.Once
}

func (p *soakPeer) end() { p.once.Do(func() { close(p.done) }) }

type soakOut struct {
	typ  MessageType
	data []byte
	pm   *PreparedMessage
}

func (h *soakHub) handle(w http.ResponseWriter, r *http.Request) {
	c, err := Accept(w, r, &AcceptOptions{
		ReadLimit:    soakReadLimit,
		PingInterval: 2 * time.Second,
		PingTimeout:  2 * time.Second,
		CloseTimeout: 2 * time.Second,
	})
	if err != nil {
		h.refused.Add(1)
		return
	}
	h.accepted.Add(1)
	h.live.Add(1)
	// The connection's loop gets a goroutine of its own and the handler
	// returns, as conn's documentation advises for many connections.
	go h.serve(c)
}

func (h *soakHub) recoverPanic() {
	if v := recover(); v != nil {
		h.panics.Add(1)
		h.endsMu.Lock()
		if h.panicText == "" {
			h.panicText = fmt.Sprintf("%v\n%s", v, debug.Stack())
		}
		h.endsMu.Unlock()
	}
}

func (h *soakHub) firstPanicText() string {
	h.endsMu.Lock()
	defer h.endsMu.Unlock()
	return h.panicText
}

func (h *soakHub) serve(c *Conn) {
	defer h.live.Add(-1)
	defer c.CloseNow()
	defer h.recoverPanic()
	p := &soakPeer{c: c, q: make(chan soakOut, soakQueueLen), done: make(chan struct{})}
	if !h.join(p) {
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer h.recoverPanic()
		h.writeLoop(p)
	}()
	defer func() {
		h.leave(p)
		<-writerDone
	}()
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			h.noteEnd(err)
			return
		}
		t := time.NewTimer(10 * time.Second)
		select {
		case p.q <- soakOut{typ: typ, data: data}:
			t.Stop()
		case <-p.done:
			t.Stop()
			return
		case <-t.C:
			h.echoTimeouts.Add(1)
			return
		}
	}
}

func (h *soakHub) writeLoop(p *soakPeer) {
	for {
		select {
		case out := <-p.q:
			ctx, cancel := context.WithTimeout(context.Background(), soakWriteTimeout)
			var err error
			if out.pm != nil {
				err = p.c.WritePrepared(ctx, out.pm)
			} else {
				err = p.c.Write(ctx, out.typ, out.data)
			}
			cancel()
			if err != nil {
				h.writeErrs.Add(1)
				h.leave(p)
				p.c.CloseNow() // a slow or dead consumer is dropped
				return
			}
		case <-p.done:
			return
		}
	}
}

// join adds p to the broadcast and queues its welcome: the number of the
// first broadcast it will get.
func (h *soakHub) join(p *soakPeer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	p.q <- soakOut{typ: MessageText, data: []byte("W:" + strconv.FormatInt(h.seq, 10))}
	h.peers[p] = struct{}{}
	return true
}

func (h *soakHub) leave(p *soakPeer) {
	h.mu.Lock()
	delete(h.peers, p)
	h.mu.Unlock()
	p.end()
}

func (h *soakHub) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	seq := h.seq
	h.seq++
	data := []byte("B:" + strconv.FormatInt(seq, 10) + ":")
	data = append(data, bytes.Repeat([]byte{'.'}, int(seq%7)*64)...)
	pm, _ := NewPreparedMessage(MessageText, data)
	for p := range h.peers {
		select {
		case p.q <- soakOut{pm: pm}:
		default: // a consumer that does not keep up is dropped
			h.queueFull.Add(1)
			delete(h.peers, p)
			p.end()
			go p.c.CloseNow()
		}
	}
}

// stop ends the broadcast and returns the number of broadcasts sent.
func (h *soakHub) stop() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	return h.seq
}

func (h *soakHub) liveCount() int64 { return h.live.Load() }

func (h *soakHub) noteEnd(err error) {
	key := strconv.Itoa(int(CloseCode(err)))
	h.endsMu.Lock()
	h.ends[key]++
	h.endsMu.Unlock()
}

func (h *soakHub) endsSummary() string {
	h.endsMu.Lock()
	defer h.endsMu.Unlock()
	keys := make([]string, 0, len(h.ends))
	for k := range h.ends {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s×%d ", k, h.ends[k])
	}
	return strings.TrimSpace(b.String())
}

func (h *soakHub) firstPanic() string { return h.firstPanicText() }

// The clients.

type soakKind int

const (
	soakGood soakKind = iota
	soakStopReading
	soakVanish
	soakTrickle
	soakGarbage
	soakKinds
)

var soakKindNames = [soakKinds]string{"good", "stop-reading", "vanish", "trickle", "garbage"}

// soakKindOf: six in ten clients are good, one in ten of each other kind.
func soakKindOf(i int) soakKind {
	switch i % 10 {
	case 6:
		return soakStopReading
	case 7:
		return soakVanish
	case 8:
		return soakTrickle
	case 9:
		return soakGarbage
	}
	return soakGood
}

func soakMix(n int) string {
	var counts [soakKinds]int
	for i := 0; i < n; i++ {
		counts[soakKindOf(i)]++
	}
	var parts []string
	for k, c := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", c, soakKindNames[k]))
	}
	return strings.Join(parts, ", ")
}

// soakReport gathers what the clients saw.
type soakReport struct {
	mu     sync.Mutex
	counts [soakKinds]map[string]int
	fails  [soakKinds][]string
	failN  [soakKinds]int
}

func (r *soakReport) count(k soakKind, what string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts[k] == nil {
		r.counts[k] = make(map[string]int)
	}
	r.counts[k][what] += n
}

func (r *soakReport) fail(k soakKind, id int, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failN[k]++
	if len(r.fails[k]) < 5 {
		r.fails[k] = append(r.fails[k], fmt.Sprintf("client %d: ", id)+fmt.Sprintf(format, args...))
	}
}

func (r *soakReport) recoverPanic(k soakKind) {
	if v := recover(); v != nil {
		r.fail(k, -1, "client panicked: %v\n%s", v, debug.Stack())
	}
}

func (r *soakReport) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for k := soakKind(0); k < soakKinds; k++ {
		keys := make([]string, 0, len(r.counts[k]))
		for w := range r.counts[k] {
			keys = append(keys, w)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, w := range keys {
			fmt.Fprintf(&b, " %s=%d", w, r.counts[k][w])
		}
		parts = append(parts, fmt.Sprintf("%s:%s failures=%d", soakKindNames[k], b.String(), r.failN[k]))
	}
	return strings.Join(parts, "; ")
}

func (r *soakReport) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := soakKind(0); k < soakKinds; k++ {
		if r.failN[k] == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s clients: %d failures; first ones:\n  %s", soakKindNames[k], r.failN[k], strings.Join(r.fails[k], "\n  ")))
	}
	return out
}

type soakClient struct {
	id      int
	kind    soakKind
	url     string
	addr    string
	rng     *rand.Rand
	rep     *soakReport
	dialSem chan struct{}
}

func (cl *soakClient) fail(format string, args ...any) { cl.rep.fail(cl.kind, cl.id, format, args...) }
func (cl *soakClient) count(what string)               { cl.rep.count(cl.kind, what, 1) }

// pause sleeps between lo and hi, or until ctx ends (false).
func (cl *soakClient) pause(ctx context.Context, lo, hi time.Duration) bool {
	d := lo + time.Duration(cl.rng.Int64N(int64(hi-lo)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// payload makes the payload of an echo request: "E:" and an identifier,
// then random bytes (binary) or random valid UTF-8 (text).
func (cl *soakClient) payload(typ MessageType, n int, tag string) []byte {
	b := []byte("E:" + tag + ":")
	if typ == MessageBinary {
		for len(b) < n {
			b = binary.LittleEndian.AppendUint64(b, cl.rng.Uint64())
		}
		return b[:max(n, len(tag)+3)]
	}
	pieces := []string{"a", "z", " ", "é", "κόσμε", "€", "𝄞", "日本", "\u00a0", "0"}
	for len(b) < n {
		b = append(b, pieces[cl.rng.IntN(len(pieces))]...)
	}
	return b
}

// size draws a message size: mostly small, some medium, a few near the
// server's read limit.
func (cl *soakClient) size() int {
	switch x := cl.rng.IntN(100); {
	case x < 70:
		return cl.rng.IntN(512)
	case x < 95:
		return 512 + cl.rng.IntN(16<<10)
	default:
		return 16<<10 + cl.rng.IntN(soakReadLimit-(16<<10)-64)
	}
}

func (cl *soakClient) acquire(ctx context.Context) bool {
	select {
	case cl.dialSem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (cl *soakClient) release() { <-cl.dialSem }

// good is a well-behaved client: it echoes messages until ctx ends, then,
// once finish is closed, checks that it got every broadcast up to
// finalSeq and every echo, and closes.
func (cl *soakClient) good(ctx context.Context, finish <-chan struct{}, finalSeq *atomic.Int64) {
	if !cl.acquire(ctx) {
		return
	}
	dctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	c, _, err := Dial(dctx, cl.url, &DialOptions{Proxy: soakNoProxy})
	cancel()
	cl.release()
	if err != nil {
		cl.fail("dial: %v", err)
		return
	}
	defer c.CloseNow()

	pending := make(chan soakOut, 64) // sent, echo awaited, in order
	echoedDone := make(chan struct{})
	readErr := make(chan error, 1)
	var nextSeq atomic.Int64
	nextSeq.Store(-1)
	var echoes, broadcasts atomic.Int64
	go func() {
		readErr <- func() error {
			for {
				typ, data, err := c.Read(context.Background())
				if err != nil {
					return err
				}
				switch {
				case bytes.HasPrefix(data, []byte("W:")):
					n, perr := strconv.ParseInt(string(data[2:]), 10, 64)
					if perr != nil || nextSeq.Load() != -1 {
						return fmt.Errorf("bad or repeated welcome %q", data)
					}
					nextSeq.Store(n)
				case bytes.HasPrefix(data, []byte("B:")):
					rest := data[2:]
					i := bytes.IndexByte(rest, ':')
					n, perr := strconv.ParseInt(string(rest[:max(i, 0)]), 10, 64)
					if i < 0 || perr != nil {
						return fmt.Errorf("bad broadcast %q", data)
					}
					if want := nextSeq.Load(); n != want {
						return fmt.Errorf("broadcast %d, want %d (a gap, a repeat, or before the welcome)", n, want)
					}
					if !bytes.Equal(rest[i+1:], bytes.Repeat([]byte{'.'}, int(n%7)*64)) {
						return fmt.Errorf("broadcast %d altered", n)
					}
					nextSeq.Add(1)
					broadcasts.Add(1)
				default:
					var want soakOut
					select {
					case want = <-pending:
					default:
						return fmt.Errorf("an echo nobody asked for: %d bytes %.40q", len(data), data)
					}
					if typ != want.typ || !bytes.Equal(data, want.data) {
						return fmt.Errorf("echo differs: got %v %d bytes %.40q, want %v %d bytes %.40q", typ, len(data), data, want.typ, len(want.data), want.data)
					}
					echoes.Add(1)
					if bytes.HasPrefix(data, []byte("E:done:")) {
						close(echoedDone)
					}
				}
			}
		}()
	}()

	send := func(typ MessageType, data []byte) error {
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case pending <- soakOut{typ: typ, data: data}:
		case err := <-readErr:
			readErr <- err
			return fmt.Errorf("read ended: %w", err)
		case <-t.C:
			return errors.New("64 echoes outstanding for 30 s")
		}
		wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return c.Write(wctx, typ, data)
	}
	for n := 0; ctx.Err() == nil; n++ {
		typ := MessageBinary
		if cl.rng.IntN(2) == 0 {
			typ = MessageText
		}
		if err := send(typ, cl.payload(typ, cl.size(), fmt.Sprintf("%d:%d", cl.id, n))); err != nil {
			cl.fail("send: %v", err)
			return
		}
		cl.count("sent")
		if !cl.pause(ctx, 100*time.Millisecond, time.Second) {
			break
		}
	}

	<-finish
	if err := send(MessageText, []byte(fmt.Sprintf("E:done:%d", cl.id))); err != nil {
		cl.fail("send done: %v", err)
		return
	}
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case <-echoedDone:
	case err := <-readErr:
		cl.fail("connection ended before the last echo (sent %d, echoed %d, broadcasts %d): %v (close code %d)",
			cl.rep.countOf(cl.kind, "sent"), echoes.Load(), broadcasts.Load(), err, CloseCode(err))
		return
	case <-t.C:
		cl.fail("no echo of the last message within 60 s")
		return
	}
	if n := len(pending); n != 0 {
		cl.fail("%d echoes missing", n)
	}
	if got, want := nextSeq.Load(), finalSeq.Load(); got != want {
		cl.fail("broadcasts: next expected %d, the server sent %d", got, want)
	}
	cl.rep.count(cl.kind, "echoes", int(echoes.Load()))
	cl.rep.count(cl.kind, "broadcasts", int(broadcasts.Load()))
	if err := c.Close(wsframe.CloseNormal, "bye"); err != nil {
		cl.fail("close handshake: %v", err)
	}
	select {
	case err := <-readErr:
		if code := CloseCode(err); code != wsframe.CloseNormal {
			cl.fail("the read ended with %v (code %d), want the server's 1000", err, code)
		}
	case <-time.After(30 * time.Second):
		cl.fail("the read did not end after Close")
	}
	cl.count("closed cleanly")
}

func (r *soakReport) countOf(k soakKind, what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[k][what]
}

var soakNoProxy = func(*http.Request) (*nurl.URL, error) { return nil, nil }

// rawDial connects and does the handshake, returning the raw connection
// and the reader that holds what followed the 101.
func (cl *soakClient) rawDial(ctx context.Context, smallRcvBuf bool) (net.Conn, *bufio.Reader, error) {
	if !cl.acquire(ctx) {
		return nil, nil, ctx.Err()
	}
	defer cl.release()
	hctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(hctx, "tcp", cl.addr)
	if err != nil {
		return nil, nil, err
	}
	if smallRcvBuf {
		nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	}
	u := &nurl.URL{Scheme: "ws", Host: cl.addr, Path: "/soak"}
	br, _, _, err := handshake.ClientHandshake(hctx, nc, u, nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, br, nil
}

// frame encodes a masked client frame.
func (cl *soakClient) frame(fin bool, rsv byte, op wsframe.Opcode, payload []byte) []byte {
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], cl.rng.Uint32())
	h := wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(payload)), Masked: true, Mask: key}
	b := wsframe.AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	wsframe.Mask(key, 0, b[start:])
	return b
}

// stopReading sends a burst of large messages and never reads again: the
// server's echoes fill the socket, its writes time out, it drops us.
func (cl *soakClient) stopReading(ctx context.Context) {
	nc, _, err := cl.rawDial(ctx, true)
	if err != nil {
		if ctx.Err() == nil {
			cl.fail("dial: %v", err)
		}
		return
	}
	defer nc.Close()
	for i := 0; i < 40 && ctx.Err() == nil; i++ {
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(cl.frame(true, 0, wsframe.OpBinary, cl.payload(MessageBinary, 32<<10, "stuck"))); err != nil {
			cl.count("write ended by the server")
			break
		}
		cl.count("sent")
	}
	<-ctx.Done()
}

// vanish drops connections in the middle of things, over and over.
func (cl *soakClient) vanish(ctx context.Context) {
	for ctx.Err() == nil {
		nc, _, err := cl.rawDial(ctx, false)
		if err != nil {
			if ctx.Err() == nil {
				cl.count("dial error")
			}
			cl.pause(ctx, time.Second, 2*time.Second)
			continue
		}
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		switch v := cl.rng.IntN(4); v {
		case 0: // half a frame
			f := cl.frame(true, 0, wsframe.OpBinary, cl.payload(MessageBinary, 1000, "vanish"))
			nc.Write(f[:len(f)/2])
			cl.count("half a frame")
		case 1: // part of a header
			f := cl.frame(true, 0, wsframe.OpText, cl.payload(MessageText, 70000, "vanish"))
			nc.Write(f[:1+cl.rng.IntN(9)])
			cl.count("part of a header")
		case 2: // a fragmented message, cut in its second fragment
			first := cl.frame(false, 0, wsframe.OpText, cl.payload(MessageText, 300, "vanish"))
			second := cl.frame(true, 0, wsframe.OpContinuation, []byte(strings.Repeat("x", 300)))
			nc.Write(append(first, second[:100]...))
			cl.count("half a fragmented message")
		default: // right after the handshake
			cl.count("after the handshake")
		}
		if cl.rng.IntN(2) == 0 {
			nc.(*net.TCPConn).SetLinger(0) // a reset rather than a FIN
		}
		nc.Close()
		cl.pause(ctx, time.Second, 3*time.Second)
	}
}

// trickle sends well-formed messages one byte every 100 ms (a message of
// about 56 bytes takes longer than the server's keepalive interval plus
// timeout) and expects each echo back.
func (cl *soakClient) trickle(ctx context.Context) {
	nc, br, err := cl.rawDial(ctx, false)
	if err != nil {
		if ctx.Err() == nil {
			cl.fail("dial: %v", err)
		}
		return
	}
	defer nc.Close()
	pending := make(chan []byte, 16)
	echoed := make(chan struct{}, 16)
	readEnd := make(chan string, 1)
	go func() {
		readEnd <- func() string {
			for {
				h, err := wsframe.ReadHeader(br)
				if err != nil {
					return "read: " + err.Error()
				}
				payload := make([]byte, h.Length)
				if _, err := io.ReadFull(br, payload); err != nil {
					return "read: " + err.Error()
				}
				switch {
				case h.Opcode == wsframe.OpClose:
					code := 0
					if len(payload) >= 2 {
						code = int(binary.BigEndian.Uint16(payload))
					}
					return fmt.Sprintf("close %d %q", code, payload[min(2, len(payload)):])
				case h.Opcode == wsframe.OpBinary && bytes.HasPrefix(payload, []byte("E:")):
					select {
					case want := <-pending:
						if !bytes.Equal(payload, want) {
							return fmt.Sprintf("echo differs: %.40q, want %.40q", payload, want)
						}
						echoed <- struct{}{}
					default:
						return fmt.Sprintf("an echo nobody asked for: %.40q", payload)
					}
				}
			}
		}()
	}()
	sent := 0
	for n := 0; ctx.Err() == nil; n++ {
		p := cl.payload(MessageBinary, 50, fmt.Sprintf("t%d:%d", cl.id, n))
		pending <- p
		f := cl.frame(true, 0, wsframe.OpBinary, p)
		for i := range f {
			nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(f[i : i+1]); err != nil {
				select {
				case why := <-readEnd:
					cl.fail("the server ended a trickling connection after %d messages: %s", sent, why)
				case <-time.After(5 * time.Second):
					cl.fail("write: %v", err)
				}
				return
			}
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
		sent++
		cl.count("sent")
		select {
		case <-echoed:
			cl.count("echoes")
		case why := <-readEnd:
			cl.fail("the server ended a trickling connection after %d messages: %s", sent, why)
			return
		case <-time.After(30 * time.Second):
			cl.fail("no echo within 30 s of a trickled message")
			return
		}
	}
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	nc.Write(cl.frame(true, 0, wsframe.OpClose, closePayload(wsframe.CloseNormal, "")))
	select {
	case why := <-readEnd:
		if !strings.HasPrefix(why, "close 1000") {
			cl.fail("closing: %s", why)
		}
	case <-time.After(30 * time.Second):
		cl.fail("no close frame back")
	}
}

// garbage sends one kind of rubbish per connection and checks the answer.
func (cl *soakClient) garbage(ctx context.Context) {
	for ctx.Err() == nil {
		if cl.rng.IntN(6) == 0 {
			cl.badHandshake(ctx)
			cl.pause(ctx, time.Second, 3*time.Second)
			continue
		}
		nc, br, err := cl.rawDial(ctx, false)
		if err != nil {
			if ctx.Err() == nil {
				cl.count("dial error")
			}
			cl.pause(ctx, time.Second, 2*time.Second)
			continue
		}
		var in []byte
		var want wsframe.CloseCode // 0: anything goes, as long as nothing breaks
		what := ""
		switch v := cl.rng.IntN(8); v {
		case 0:
			what = "random bytes"
			in = make([]byte, 64+cl.rng.IntN(2048))
			for i := range in {
				in[i] = byte(cl.rng.Uint32())
			}
		case 1:
			what, want = "invalid UTF-8", wsframe.CloseInvalidPayload
			p := cl.payload(MessageText, 100, "bad")
			p[50] = 0xff
			in = cl.frame(true, 0, wsframe.OpText, p)
		case 2:
			what, want = "reserved opcode", wsframe.CloseProtocolError
			in = cl.frame(true, 0, wsframe.Opcode(3+cl.rng.IntN(5)), []byte("x"))
		case 3:
			what, want = "oversized ping", wsframe.CloseProtocolError
			in = cl.frame(true, 0, wsframe.OpPing, make([]byte, 126+cl.rng.IntN(1000)))
		case 4:
			what, want = "unmasked frame", wsframe.CloseProtocolError
			in = wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpText, Length: 5})
			in = append(in, "hello"...)
		case 5:
			what, want = "over the read limit", wsframe.CloseTooBig
			in = cl.frame(false, 0, wsframe.OpBinary, make([]byte, soakReadLimit/2))
			in = append(in, cl.frame(true, 0, wsframe.OpContinuation, make([]byte, soakReadLimit/2+1))...)
		case 6:
			what, want = "reserved bits", wsframe.CloseProtocolError
			in = cl.frame(true, wsframe.RSV2, wsframe.OpBinary, []byte("x"))
		default:
			what, want = "one-byte close", wsframe.CloseProtocolError
			in = cl.frame(true, 0, wsframe.OpClose, []byte{3})
		}
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		nc.Write(in)
		// Read what comes back: broadcasts, maybe pings, then a close.
		wait := 10 * time.Second
		if want == 0 {
			wait = 2 * time.Second
		}
		nc.SetReadDeadline(time.Now().Add(wait))
		got, why := cl.readUntilClose(br)
		switch {
		case want == 0:
			cl.count(what)
		case got == 0 && (strings.HasSuffix(why, io.EOF.Error()) || strings.HasSuffix(why, syscall.ECONNRESET.Error())):
			// The server's loop ends with CloseNow as soon as its read
			// fails (the pattern conn's documentation shows), which can
			// close TCP before the failure's close frame is out. Counted,
			// not failed: see TestCloseRightAfterAFailedReadSendsTheCode.
			cl.count(what + ": TCP closed, no close frame")
		case got != want:
			cl.fail("%s: got %s, want close %d", what, why, want)
		default:
			cl.count(what)
			nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			nc.Write(cl.frame(true, 0, wsframe.OpClose, closePayload(want, "")))
		}
		nc.Close()
		cl.pause(ctx, time.Second, 3*time.Second)
	}
}

// readUntilClose reads frames until a close frame and returns its code,
// or 0 and what happened instead.
func (cl *soakClient) readUntilClose(br *bufio.Reader) (wsframe.CloseCode, string) {
	for {
		h, err := wsframe.ReadHeader(br)
		if err != nil {
			return 0, "no close frame: " + err.Error()
		}
		if h.Length > 1<<20 {
			return 0, fmt.Sprintf("a frame of %d bytes", h.Length)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, "no close frame: " + err.Error()
		}
		if h.Opcode == wsframe.OpClose {
			if len(payload) < 2 {
				return 0, "a close frame without a code"
			}
			code := wsframe.CloseCode(binary.BigEndian.Uint16(payload))
			return code, fmt.Sprintf("close %d %q", code, payload[2:])
		}
	}
}

// badHandshake sends an upgrade request without a key and expects 400.
func (cl *soakClient) badHandshake(ctx context.Context) {
	if !cl.acquire(ctx) {
		return
	}
	defer cl.release()
	nc, err := net.DialTimeout("tcp", cl.addr, 30*time.Second)
	if err != nil {
		cl.count("dial error")
		return
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(nc, "GET /soak HTTP/1.1\r\nHost: "+cl.addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		cl.fail("bad handshake: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		cl.fail("bad handshake: status %d, want 400", resp.StatusCode)
		return
	}
	cl.count("bad handshake")
}

// Helpers.

func soakWait(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func soakEnvInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func soakEnvDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 60s", name, v)
	}
	return d
}

// soakRaiseNoFile raises the soft limit on open files to need (at most the
// hard limit): each connection is two descriptors in this process.
func soakRaiseNoFile(t *testing.T, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Logf("getrlimit: %v", err)
		return
	}
	if lim.Cur >= need {
		return
	}
	lim.Cur = min(need, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Logf("setrlimit: %v", err)
	}
	if lim.Cur < need {
		t.Logf("open files limited to %d; %d wanted", lim.Cur, need)
	}
}

// soakStackSummary groups goroutine stacks by their first function, for a
// readable report of what is left over.
func soakStackSummary(all string) string {
	counts := map[string]int{}
	for _, g := range strings.Split(all, "\n\n") {
		lines := strings.Split(g, "\n")
		key := strings.Join(lines[1:min(len(lines), 6)], " | ")
		counts[key]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var b strings.Builder
	for i, k := range keys {
		if i == 15 {
			break
		}
		fmt.Fprintf(&b, "%d× %s\n", counts[k], k)
	}
	return b.String()
}
