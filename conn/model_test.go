package conn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// isQueued reports whether err is outcome (b) of the failure rule (issue
// 12): a write timed out after part of its frame went out, the rest is
// queued, and the message will be delivered whole.
func isQueued(err error) bool {
	return errors.Is(err, ErrQueued)
}

// TestModel is a randomized, seeded, bounded model test of the failure and
// cancellation rule of issue 12 (outcomes (a) no trace, (b) queued, (c)
// failed with 1011). Each scenario connects a Conn under test (the SUT) to
// a peer over loopback TCP (New, or Accept/Dial through httptest), TLS
// (an in-test self-signed ECDSA certificate) or net.Pipe, with compression
// off, without or with context takeover. The peer is either another Conn,
// which never cancels anything, or a raw frame peer that checks every
// frame on the wire (masking, RSV bits, fragmentation, control frames, the
// close code; it inflates what the SUT compressed itself). Several
// goroutines call Write, WritePrepared, Writer (streamed pieces, ReadFrom),
// Ping, NetConn writes, and in some scenarios once Close or CloseNow on the
// SUT, and one goroutine reads (Read,
// ReadInto, Reader and its message reader, NetConn reads), with random
// contexts: the long-lived parent itself, already cancelled, a deadline in
// the past, short timeouts, cancellation from another goroutine at a
// random moment; NetConn calls with random deadlines. Every message checks
// itself (writer, sequence number, length, CRC; sizes from 0 to 200 KiB
// with the length-encoding and buffer boundaries, text as valid UTF-8 with
// characters of 1 to 4 bytes) and is compared byte for byte with what was
// sent, in both directions. The model checks:
//
//   - a send that returned nil, or an error that isQueued (outcome (b);
//     NetConn: a timeout with n == len(p)), arrives intact, in order for its
//     writer and after every message whose send had returned before it
//     began; a send that returned CloseCode 0 otherwise (outcome (a))
//     never arrives; with a non-zero CloseCode it may or may not arrive;
//   - nothing is delivered altered, truncated, spliced or out of place with
//     a nil error, in either direction; a message reader returns io.EOF
//     only at the real end of its message;
//   - an error with CloseCode 0 wraps the call's context error (NetConn: is
//     a timeout, after its deadline); the connection then stays usable: the
//     round trip at the end of the scenario works;
//   - after an error with a non-zero CloseCode, Done() closes, and the peer
//     sees the end with 1011 or the code given to Close (never a protocol
//     error: the peer is well behaved);
//   - calls that begin after Done() closed, or after a call returned 1011,
//     fail with a non-zero CloseCode;
//   - once the Conn has ended, no registration is left on the long-lived
//     parent context (counted through its AfterFunc method), no goroutine
//     outlives the scenario, and both Conns become unreachable (a cleanup
//     on each) while that context is still alive.
//
// Time only drives the random schedule; every wait is bounded by a
// generous safety timeout that only a hang reaches. A failure prints the
// seed, the scenario, the command that repeats it, each kind of violation
// with its first instance, and the last lines of the operation log. The
// statistics at the end count the calls by outcome and say what ended
// each scenario.
//
// Parameters (flags or environment):
//
//	-model.seed / WS_MODEL_SEED          seed (default: the clock; always logged)
//	-model.iter / WS_MODEL_ITER          number of scenarios (default 24, 12 with -short;
//	                                     more for a soak: the scenarios cycle through
//	                                     the transports and compression modes)
//	-model.scenario / WS_MODEL_SCENARIO  run only scenario n (same seed: same plan)
//	WS_MODEL_OPS=n                       operations per goroutine (to minimise)
//	WS_MODEL_KINDS=Write,Read,...        only these operation kinds (Write, WritePrepared,
//	                                     Writer, NetWrite, Ping, Close, Read, ReadInto,
//	                                     Reader, ReaderResume, NetRead)
//	WS_MODEL_TRANSPORT=tcp|http|tls|pipe, WS_MODEL_COMPRESSION=off|nct|ct,
//	WS_MODEL_PEER=conn|raw               override the scenario's choice
//	WS_MODEL_LOG=n                       lines of operation log in a failure (default 80)
//	WS_MODEL_MAXFAIL=n                   stop after n failing scenarios (default 5; 0: never)
//	WS_MODEL_IGNORE=kind,...             log these kinds of violation without failing
//	WS_MODEL_NOZERO=1                    no zero-length reads of message readers
//	WS_MODEL_VERBOSE=1                   log the operation log of passing scenarios too
func TestModel(t *testing.T) {
	p := modelParamsFrom(t)
	t.Logf("model seed %d: repeat with WS_MODEL_SEED=%d (add WS_MODEL_SCENARIO=<n> for one scenario); %d scenarios",
		p.seed, p.seed, p.iters)
	// Also on stderr, which go test shows when the binary dies (a panic
	// in a goroutine of the package, a timeout), when t.Log output is lost.
	fmt.Fprintf(os.Stderr, "TestModel: WS_MODEL_SEED=%d\n", p.seed)
	summary := map[string][]int{}
	stats := map[string]int{}
	failed := 0
	for i := 0; i < p.iters; i++ {
		if p.only >= 0 && i != p.only {
			continue
		}
		if p.maxFail > 0 && failed >= p.maxFail {
			t.Logf("model seed %d: stopped after %d failing scenarios (WS_MODEL_MAXFAIL=0 runs them all)", p.seed, failed)
			break
		}
		cfg := newModelConfig(p, i)
		if testing.Verbose() || p.only >= 0 {
			fmt.Fprintf(os.Stderr, "TestModel: WS_MODEL_SEED=%d WS_MODEL_SCENARIO=%d (%s)\n", p.seed, i, cfg.name())
		}
		var kinds []string
		t.Run(cfg.name(), func(t *testing.T) { kinds = runModelScenario(t, p, cfg, stats) })
		for _, k := range kinds {
			summary[k] = append(summary[k], i)
		}
		if len(kinds) > 0 {
			failed++
		}
	}
	t.Log(modelStats(stats))
	if len(summary) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "model seed %d: violations by kind (scenario numbers; WS_MODEL_SEED=%d WS_MODEL_SCENARIO=<n> repeats one):\n", p.seed, p.seed)
		keys := make([]string, 0, len(summary))
		for k := range summary {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %-34s %v\n", k, summary[k])
		}
		t.Log(b.String())
	}
}

// modelStats formats the outcomes of the calls, by kind: ok, (a), (b),
// end (a non-zero CloseCode).
func modelStats(stats map[string]int) string {
	kinds := map[string]bool{}
	var ends []string
	for k, n := range stats {
		if strings.HasPrefix(k, "first end: ") {
			ends = append(ends, fmt.Sprintf("  %3d× %s", n, k[len("first end: "):]))
			continue
		}
		kinds[k[:strings.IndexByte(k, ' ')]] = true
	}
	sort.Strings(ends)
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("calls by outcome (ok, (a) no trace, (b) queued, end: non-zero CloseCode):\n")
	for _, k := range names {
		fmt.Fprintf(&b, "  %-20s", k)
		for _, o := range []modelOutcome{outNil, outA, outB, outEnd} {
			fmt.Fprintf(&b, " %4s %-5d", o, stats[k+" "+o.String()])
		}
		b.WriteString("\n")
	}
	b.WriteString("what ended each scenario (the first call that returned a non-zero CloseCode, and the code):\n")
	b.WriteString(strings.Join(ends, "\n"))
	return b.String()
}

// ---------------------------------------------------------------------------
// Parameters and scenario configuration.

var (
	modelSeedFlag     = flag.String("model.seed", "", "TestModel: seed (default $WS_MODEL_SEED, else the clock)")
	modelIterFlag     = flag.Int("model.iter", 0, "TestModel: number of scenarios (default $WS_MODEL_ITER, else 24; 12 with -short)")
	modelScenarioFlag = flag.Int("model.scenario", -1, "TestModel: run only this scenario (default $WS_MODEL_SCENARIO, else all)")
)

type modelParams struct {
	seed      uint64
	iters     int
	only      int
	ops       int
	kinds     map[string]bool
	transport string
	comp      CompressionMode
	compSet   bool
	peer      string
	logLines  int
	verbose   bool
	maxFail   int
	ignore    map[string]bool
	noZero    bool
}

func modelParamsFrom(t *testing.T) modelParams {
	p := modelParams{only: -1, logLines: 80}
	seed := *modelSeedFlag
	if seed == "" {
		seed = os.Getenv("WS_MODEL_SEED")
	}
	if seed != "" {
		v, err := strconv.ParseUint(seed, 10, 64)
		if err != nil {
			t.Fatalf("model seed %q: %v", seed, err)
		}
		p.seed = v
	} else {
		p.seed = uint64(time.Now().UnixNano())
	}
	atoi := func(name string) int {
		s := os.Getenv(name)
		if s == "" {
			return -1
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		return v
	}
	p.iters = *modelIterFlag
	if p.iters <= 0 {
		p.iters = atoi("WS_MODEL_ITER")
	}
	if p.iters <= 0 {
		p.iters = 24
		if testing.Short() {
			p.iters = 12
		}
	}
	p.only = *modelScenarioFlag
	if p.only < 0 {
		p.only = atoi("WS_MODEL_SCENARIO")
	}
	if p.only >= p.iters {
		p.iters = p.only + 1
	}
	p.ops = max(atoi("WS_MODEL_OPS"), 0)
	if s := os.Getenv("WS_MODEL_KINDS"); s != "" {
		p.kinds = map[string]bool{}
		for _, k := range strings.Split(s, ",") {
			p.kinds[strings.TrimSpace(k)] = true
		}
	}
	p.transport = os.Getenv("WS_MODEL_TRANSPORT")
	switch p.transport {
	case "", "tcp", "http", "tls", "pipe":
	default:
		t.Fatalf("WS_MODEL_TRANSPORT=%q: want tcp, http, tls or pipe", p.transport)
	}
	switch s := os.Getenv("WS_MODEL_COMPRESSION"); s {
	case "":
	case "off":
		p.comp, p.compSet = CompressionDisabled, true
	case "nct":
		p.comp, p.compSet = CompressionNoContextTakeover, true
	case "ct":
		p.comp, p.compSet = CompressionContextTakeover, true
	default:
		t.Fatalf("WS_MODEL_COMPRESSION=%q: want off, nct or ct", s)
	}
	p.peer = os.Getenv("WS_MODEL_PEER")
	if n := atoi("WS_MODEL_LOG"); n >= 0 {
		p.logLines = n
	}
	p.verbose = os.Getenv("WS_MODEL_VERBOSE") != ""
	if s := os.Getenv("WS_MODEL_IGNORE"); s != "" {
		p.ignore = map[string]bool{}
		for _, k := range strings.Split(s, ",") {
			p.ignore[strings.TrimSpace(k)] = true
		}
	}
	p.noZero = os.Getenv("WS_MODEL_NOZERO") != ""
	p.maxFail = 5
	if n := atoi("WS_MODEL_MAXFAIL"); n >= 0 {
		p.maxFail = n
	}
	return p
}

var (
	modelTransports = []string{"tcp", "http", "tls", "pipe"}
	modelModes      = []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover}
)

// modelConfig is one scenario. Everything random in it comes from the
// seed and the scenario number, so a scenario can be run again alone.
type modelConfig struct {
	index     int
	seed      uint64 // of everything random in the scenario
	transport string // tcp (New), http (Accept/Dial), tls (New over crypto/tls), pipe (New over net.Pipe)
	comp      CompressionMode
	sutClient bool // the SUT plays the client
	raw       bool // the peer is the raw frame peer, not a Conn
	writers   int
	writerOps int
	readerOps int
	closeOp   bool // one writer calls Close, or CloseNow, at a random point
	netConn   bool // NetConn reads and writes are among the operations
	netType   MessageType
	peerBias  float64 // share of the peer's messages of netType
	threshold int     // CompressionThreshold
	maxSize   int
	sndBuf    int // socket buffer sizes on TCP (0: the system's)
	rcvBuf    int
	peerStall bool // the peer pauses between reads now and then
	peerPace  int  // 0: eager, 1: trickle (the SUT often waits for a message)
	dribble   bool // the raw peer writes large frames in pieces, with pauses
	pings     bool // the raw peer pings
	// gentle: reads mostly with contexts that end only between messages,
	// and a peer that stalls often, so that the connection lives long and
	// writes are cut in the middle of their frames.
	gentle bool
}

func newModelConfig(p modelParams, i int) modelConfig {
	rng := rand.New(rand.NewPCG(p.seed, uint64(i)*0x9e3779b97f4a7c15+1))
	c := modelConfig{index: i, seed: rng.Uint64()}
	combo := i % 12
	c.transport = modelTransports[combo/3]
	c.comp = modelModes[combo%3]
	c.sutClient = rng.IntN(2) == 0
	c.raw = rng.IntN(3) == 0
	c.writers = 1 + rng.IntN(3)
	c.writerOps = 8 + rng.IntN(20)
	c.readerOps = 10 + rng.IntN(30)
	c.closeOp = rng.IntN(4) == 0
	c.netConn = rng.IntN(2) == 0
	c.netType = MessageBinary
	if rng.IntN(3) == 0 {
		c.netType = MessageText
	}
	c.peerBias = 0.5
	if c.netConn && rng.IntN(2) == 0 {
		c.peerBias = 0.9
	}
	c.threshold = []int{0, 1, 64, 1024}[rng.IntN(4)]
	c.maxSize = 200 << 10
	if rng.IntN(2) == 0 {
		// Small send buffers make partial writes likely. Receive buffers
		// under 32 KiB, set after the connection is made, make Linux's
		// loopback TCP stall for seconds (zero-window probes), with or
		// without this package: not what is tested here.
		c.sndBuf = 4096 << rng.IntN(5)
		c.rcvBuf = 32768 << rng.IntN(3)
	}
	c.peerStall = rng.IntN(2) == 0
	c.peerPace = rng.IntN(2)
	c.dribble = rng.IntN(2) == 0
	c.pings = rng.IntN(2) == 0
	c.gentle = rng.IntN(2) == 0
	if c.gentle {
		c.peerStall = true
	}

	// Overrides, after all the draws: the rest of the scenario stays the same.
	if p.transport != "" {
		c.transport = p.transport
	}
	if p.compSet {
		c.comp = p.comp
	}
	switch p.peer {
	case "raw":
		c.raw = true
	case "conn":
		c.raw = false
	}
	if c.transport == "http" {
		c.raw = false // the raw peer speaks frames only, no handshake
	}
	if p.ops > 0 {
		c.writerOps, c.readerOps = p.ops, p.ops
	}
	return c
}

func (c modelConfig) roleName() string {
	if c.sutClient {
		return "client"
	}
	return "server"
}

func (c modelConfig) peerName() string {
	if c.raw {
		return "raw"
	}
	return "conn"
}

func modelCompName(m CompressionMode) string {
	switch m {
	case CompressionNoContextTakeover:
		return "nct"
	case CompressionContextTakeover:
		return "ct"
	}
	return "off"
}

func (c modelConfig) name() string {
	return fmt.Sprintf("%03d-%s-%s-%s-%s", c.index, c.transport, modelCompName(c.comp), c.roleName(), c.peerName())
}

func (c modelConfig) String() string {
	nc := "no NetConn"
	if c.netConn {
		nc = fmt.Sprintf("NetConn %v (peer sends %.0f%% of that type)", c.netType, 100*c.peerBias)
	}
	return fmt.Sprintf("transport=%s compression=%v sut=%s peer=%s writers=%d×%d ops, reader %d ops, close-op=%v, %s, threshold=%d, buffers snd=%d rcv=%d, peer stall=%v pace=%d dribble=%v pings=%v gentle=%v",
		c.transport, c.comp, c.roleName(), c.peerName(), c.writers, c.writerOps, c.readerOps, c.closeOp, nc,
		c.threshold, c.sndBuf, c.rcvBuf, c.peerStall, c.peerPace, c.dribble && c.raw, c.pings && c.raw, c.gentle)
}

const (
	modelSafety       = 20 * time.Second      // bounds waits that only a hang reaches
	modelCloseTimeout = 2 * time.Second       // Options.CloseTimeout of both Conns
	modelDoneBound    = 4 * modelCloseTimeout // bounds the wait for Done() after a failure
	modelAhead        = 8                     // how far the peer's writer may run ahead of the SUT's reader
)

// ---------------------------------------------------------------------------
// Self-checking messages.

// A message of modelHdr bytes or more starts with a header that names its
// writer and sequence number and carries its length and the CRC of the
// rest; shorter messages (0..25 bytes) are a prefix of modelTiny and are
// counted, not identified.
const (
	modelHdr    = 26 // "W%02xS%06xN%06xC%08x"
	modelTiny   = "tiny-0123456789abcdefghijk"
	modelPeerW  = 0xff // writer id of the peer's messages
	modelFinalW = 0xfe // writer id of the SUT's final round-trip message
)

var (
	modelWords = []string{"alpha ", "beta ", "gamma ", "delta ", "κόσμε ", "€uro ", "𝄞clef ", "ws6455 ", "frame ", `{"k":1} `}
	modelRunes = []rune{'a', 'z', 'Q', ' ', '0', 'é', 'ß', 'κ', '€', '世', '𝄞', '😀'}
	// modelBoundaries are sizes at the edges of length encodings, buffers
	// and the tiny/header split.
	modelBoundaries = []int{0, 1, 2, 25, 26, 27, 125, 126, 127, 1000, 4095, 4096, 16383, 16384, 16385, 65535, 65536, 65537, 131072, 204800}
)

// modelPayload makes message seq of writer w, deterministically.
func modelPayload(seed uint64, w, seq int, typ MessageType, size int) []byte {
	if size < modelHdr {
		return []byte(modelTiny[:size])
	}
	p := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed^0x6d6f64656c, uint64(w)<<32|uint64(seq)))
	modelFill(rng, p[modelHdr:], typ)
	copy(p, fmt.Sprintf("W%02xS%06xN%06xC%08x", w, seq, size, crc32.ChecksumIEEE(p[modelHdr:])))
	return p
}

// modelFill fills b with compressible words, random bytes (binary) or
// random characters of 1 to 4 bytes (text, valid UTF-8).
func modelFill(rng *rand.Rand, b []byte, typ MessageType) {
	if rng.IntN(2) == 0 {
		for i := 0; i < len(b); {
			w := modelWords[rng.IntN(len(modelWords))]
			if len(w) > len(b)-i {
				for ; i < len(b); i++ {
					b[i] = 'x'
				}
				break
			}
			i += copy(b[i:], w)
		}
		return
	}
	if typ == MessageBinary {
		for i := 0; i < len(b); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < len(b); j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return
	}
	for i := 0; i < len(b); {
		r := modelRunes[rng.IntN(len(modelRunes))]
		if n := utf8.RuneLen(r); n <= len(b)-i {
			i += utf8.EncodeRune(b[i:], r)
			continue
		}
		b[i] = 'a'
		i++
	}
}

// modelParse reads a message's header: its writer and sequence number,
// whether the header is well-formed, and whether length and CRC match.
func modelParse(p []byte) (w, seq int, hdrOK, bodyOK bool) {
	if len(p) < modelHdr || p[0] != 'W' || p[3] != 'S' || p[10] != 'N' || p[17] != 'C' {
		return 0, 0, false, false
	}
	w64, e1 := strconv.ParseUint(string(p[1:3]), 16, 8)
	s64, e2 := strconv.ParseUint(string(p[4:10]), 16, 32)
	n64, e3 := strconv.ParseUint(string(p[11:17]), 16, 32)
	c64, e4 := strconv.ParseUint(string(p[18:26]), 16, 32)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		return 0, 0, false, false
	}
	return int(w64), int(s64), true, int(n64) == len(p) && uint32(c64) == crc32.ChecksumIEEE(p[modelHdr:])
}

// modelDescribe names what a received payload is, for failure messages.
func modelDescribe(p []byte) string {
	if len(p) < modelHdr {
		return fmt.Sprintf("%d bytes %q", len(p), p)
	}
	w, seq, hdrOK, bodyOK := modelParse(p)
	switch {
	case !hdrOK:
		return fmt.Sprintf("%d bytes with no valid header (starts %q)", len(p), p[:min(len(p), 40)])
	case !bodyOK:
		return fmt.Sprintf("%d bytes claiming to be %s but with a wrong length or CRC (torn or altered)", len(p), modelID(w, seq))
	}
	return fmt.Sprintf("%s, %d bytes, intact", modelID(w, seq), len(p))
}

func modelID(w, seq int) string {
	switch w {
	case modelPeerW:
		return fmt.Sprintf("peer#%d", seq)
	case modelFinalW:
		return "sut-final"
	}
	return fmt.Sprintf("w%d/%d", w, seq)
}

// modelDiff says how got differs from want.
func modelDiff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	return fmt.Sprintf("got %d bytes, want %d; first difference at byte %d (got %q, want %q); got is %s",
		len(got), len(want), i, got[i:min(len(got), i+16)], want[i:min(len(want), i+16)], modelDescribe(got))
}

func modelSize(rng *rand.Rand, maxSize int) int {
	switch r := rng.IntN(100); {
	case r < 30:
		for {
			if n := modelBoundaries[rng.IntN(len(modelBoundaries))]; n <= maxSize {
				return n
			}
		}
	case r < 65:
		return rng.IntN(300)
	case r < 90:
		return 300 + rng.IntN(20000)
	default:
		return 20000 + rng.IntN(maxSize-20000+1)
	}
}

func modelType(rng *rand.Rand) MessageType {
	if rng.IntN(2) == 0 {
		return MessageText
	}
	return MessageBinary
}

// ---------------------------------------------------------------------------
// A context that counts the registrations made on it.

// modelCtx is a long-lived parent context that counts the registrations
// on it that are still in place (see countingCtx), and can be cancelled.
type modelCtx struct {
	countingCtx
	cancel context.CancelFunc
}

func newModelCtx() *modelCtx {
	ctx, cancel := context.WithCancel(context.Background())
	m := &modelCtx{cancel: cancel}
	m.Context = ctx
	return m
}

// ---------------------------------------------------------------------------
// The operation log and violations.

type modelLog struct {
	mu    sync.Mutex
	start time.Time
	ring  [400]string
	n     int
}

func (l *modelLog) add(who, format string, args ...any) {
	s := fmt.Sprintf("%9.3fms %-5s ", float64(time.Since(l.start).Microseconds())/1000, who) + fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.ring[l.n%len(l.ring)] = s
	l.n++
	l.mu.Unlock()
}

func (l *modelLog) tail(n int) (lines []string, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, l.n, len(l.ring))
	for i := l.n - n; i < l.n; i++ {
		lines = append(lines, l.ring[i%len(l.ring)])
	}
	return lines, l.n
}

type modelViolation struct {
	kind   string
	detail string
	count  int
}

// ---------------------------------------------------------------------------
// The scenario.

type modelKey struct{ w, seq int }

type modelTinyKey struct {
	size int
	typ  MessageType
}

// modelClass is what the model expects of a message once its send returned.
type modelClass int

const (
	classPending modelClass = iota // the send has not returned
	classMust                      // nil error, or queued: must arrive
	classMaybe                     // an error with a non-zero CloseCode: may arrive
	classNever                     // outcome (a): must not arrive
)

func (c modelClass) String() string {
	return [...]string{"pending", "must arrive", "may arrive", "must not arrive"}[c]
}

type modelAttempt struct {
	key     modelKey
	typ     MessageType
	payload []byte
	op      string
	class   modelClass
	start   int64 // r.tick when the send began
	end     int64 // r.tick when it returned
	recvPos int   // position among the messages the peer received, from 1; 0: not received
}

type modelPeerMsg struct {
	typ     MessageType
	payload []byte
	final   bool
}

// modelOutcome is how the model reads a call's result.
type modelOutcome int

const (
	outNil modelOutcome = iota
	outA                // CloseCode 0, not queued: no trace
	outB                // queued
	outEnd              // a non-zero CloseCode: the connection ends
)

func (o modelOutcome) String() string { return [...]string{"ok", "(a)", "(b)", "end"}[o] }

// modelStart is the state of things when a call began.
type modelStart struct {
	ended   bool  // Done() was closed
	failed  bool  // a call had returned CloseCode 1011: the connection failed
	wdlLive bool  // a NetConn write deadline was in effect
	wdlGen  int64 // r.wdlGen
	at      time.Time
}

// modelReadState is the SUT reader's model of where it stands in the
// peer's stream. It is used by the reader goroutine only.
type modelReadState struct {
	next    int  // index of the next peer message to begin
	cur     int  // index of the message in progress, -1 if none
	off     int  // bytes of cur consumed
	unknown bool // a read that was to discard the rest of cur failed: how much is left is unknown
	// The message reader of cur, when it came from Reader.
	mr      io.Reader
	mrCtx   context.Context
	mrEnded bool // a read of mr failed (its context ended)
	stale   []func()
	buf     []byte // ReadInto's buffer
	final   bool   // the peer's final message was read
	// netLoose: a NetConn read returned no data: it may have consumed the
	// empty messages at next (it skips them) and begun the first non-empty
	// one, which a whole read then discards.
	netLoose bool
}

type modelPeerEnd struct {
	err        error // what ended the peer's reading
	closeFrame bool  // the SUT's close frame arrived (raw peer)
	code       wsframe.CloseCode
	detected   string // the peer found the stream invalid
}

type modelRun struct {
	t   *testing.T
	p   modelParams
	cfg modelConfig
	log modelLog

	sut    *Conn
	peer   *Conn     // the peer, when it is a Conn
	raw    *modelRaw // the peer, when it is raw
	netc   net.Conn  // NetConn over the SUT
	closeF []func()  // closes the transports and servers

	sutCtx     *modelCtx // parent of the SUT's calls
	peerCtx    context.Context
	peerCancel context.CancelFunc

	ops        atomic.Int64 // numbers the calls
	tick       atomic.Int64 // orders the starts and ends of sends
	endCalls   atomic.Int64 // calls that returned a non-zero CloseCode
	zeroCalls  atomic.Int64 // calls that returned CloseCode 0 errors
	closeCall  atomic.Bool
	failed     atomic.Bool // a call returned 1011
	firstEnd   atomic.Pointer[string]
	wdlActive  atomic.Int64 // NetConn write deadlines in effect
	wdlGen     atomic.Int64 // counts changes of NetConn write deadlines
	netWriteMu sync.Mutex   // one NetConn write at a time: they share a deadline
	sutNext    atomic.Int64 // r.rs.next, for the peer's flow control
	finalIndex atomic.Int64

	mu       sync.Mutex
	attempts map[modelKey]*modelAttempt
	order    []*modelAttempt
	lastSeq  map[int]int
	recv     int
	tinyRecv map[modelTinyKey]int
	peerMsgs map[int]modelPeerMsg
	codes    map[wsframe.CloseCode]bool // close codes the SUT may send
	stats    map[string]int             // calls by kind and outcome

	vmu   sync.Mutex
	viols []*modelViolation
	vidx  map[string]*modelViolation

	rs modelReadState

	peerFinish    chan struct{} // the peer's writer sends its final message and stops
	peerStop      chan struct{} // the peer's writer stops
	peerWExit     chan struct{}
	peerExit      chan struct{} // the peer's reader returned; peerEnd is set
	peerFinal     chan struct{} // the peer received the SUT's final message
	peerFinalOnce sync.Once
	peerEnd       modelPeerEnd
	readerOps     chan struct{} // the SUT reader's operations are done
	readerFinal   chan struct{} // the SUT reader read the peer's final message
	readerExit    chan struct{}
}

func newModelRun(t *testing.T, p modelParams, cfg modelConfig) *modelRun {
	r := &modelRun{
		t: t, p: p, cfg: cfg,
		sutCtx:      newModelCtx(),
		attempts:    map[modelKey]*modelAttempt{},
		lastSeq:     map[int]int{},
		tinyRecv:    map[modelTinyKey]int{},
		peerMsgs:    map[int]modelPeerMsg{},
		codes:       map[wsframe.CloseCode]bool{wsframe.CloseInternalError: true, wsframe.CloseNormal: true},
		stats:       map[string]int{},
		vidx:        map[string]*modelViolation{},
		peerFinish:  make(chan struct{}),
		peerStop:    make(chan struct{}),
		peerWExit:   make(chan struct{}),
		peerExit:    make(chan struct{}),
		peerFinal:   make(chan struct{}),
		readerOps:   make(chan struct{}),
		readerFinal: make(chan struct{}),
		readerExit:  make(chan struct{}),
	}
	r.log.start = time.Now()
	r.rs.cur = -1
	r.finalIndex.Store(-1)
	r.peerCtx, r.peerCancel = context.WithCancel(context.Background())
	return r
}

// violate records a breach of the rule. kind groups breaches of one sort.
func (r *modelRun) violate(kind, format string, args ...any) {
	d := fmt.Sprintf(format, args...)
	if r.p.ignore[kind] {
		r.log.add("!!", "(ignored) VIOLATION [%s] %s", kind, d)
		return
	}
	r.log.add("!!", "VIOLATION [%s] %s", kind, d)
	r.vmu.Lock()
	defer r.vmu.Unlock()
	if v := r.vidx[kind]; v != nil {
		v.count++
		return
	}
	v := &modelViolation{kind: kind, detail: d, count: 1}
	r.vidx[kind] = v
	r.viols = append(r.viols, v)
}

func modelErr(err error) string {
	if err == nil {
		return "nil"
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	q := ""
	if isQueued(err) {
		q = ", queued"
	}
	return fmt.Sprintf("%q (CloseCode %d%s)", s, uint16(CloseCode(err)), q)
}

// modelQueuedSeen is set once isQueued recognised an error in this
// process: then the sentinel exists, and a NetConn write that reports its
// whole message written with a timeout must carry it too.
var modelQueuedSeen atomic.Bool

func modelIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// begin notes the state of things as a call begins.
func (r *modelRun) begin() modelStart {
	st := modelStart{at: time.Now(), wdlLive: r.wdlActive.Load() > 0, wdlGen: r.wdlGen.Load(), failed: r.failed.Load()}
	select {
	case <-r.sut.Done():
		st.ended = true
	default:
	}
	return st
}

// tainted reports whether a NetConn write deadline may have been in
// effect during the call: its writes (a pong, too) may then time out.
func (r *modelRun) tainted(st modelStart) bool {
	return st.wdlLive || r.wdlGen.Load() != st.wdlGen || r.wdlActive.Load() > 0
}

// judge checks the result of a call bounded by ctx and says which outcome
// it is.
func (r *modelRun) judge(what string, ctx context.Context, err error, st modelStart) modelOutcome {
	if err == nil {
		switch {
		case st.ended:
			r.violate("call-succeeded-after-end", "%s returned nil although Done() was closed before it began (rule: every later call returns an error with a non-zero CloseCode)", what)
		case st.failed:
			r.violate("call-succeeded-after-failure", "%s returned nil although an earlier call had returned 1011 (rule (c): every later call returns an error with a non-zero CloseCode)", what)
		}
		return outNil
	}
	if code := CloseCode(err); code != 0 {
		if code == wsframe.CloseInternalError {
			r.failed.Store(true)
		}
		r.noteEnd(what, code)
		r.endCalls.Add(1)
		return outEnd
	}
	r.zeroCalls.Add(1)
	switch {
	case st.ended:
		r.violate("closecode-0-after-end", "%s returned %s although Done() was closed before it began (rule: every later call returns an error with a non-zero CloseCode)", what, modelErr(err))
		return outEnd
	case st.failed:
		r.violate("closecode-0-after-failure", "%s returned %s although an earlier call had returned 1011 (rule (c): every later call returns an error with a non-zero CloseCode)", what, modelErr(err))
		return outEnd
	}
	ctxErr := ctx.Err()
	if ctxErr == nil {
		// The connection's deadline may pass a moment before the
		// context's timer fires.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			ctxErr = context.DeadlineExceeded
		}
	}
	switch {
	case ctxErr != nil && errors.Is(err, ctxErr):
	case r.tainted(st) && modelIsTimeout(err):
		r.log.add("", "(%s: a timeout while a NetConn write deadline was in effect: accepted)", what)
	case ctxErr == nil:
		r.violate("closecode-0-without-ctx-end", "%s returned %s: CloseCode 0 says the connection is usable and the call left no trace, but its context had not ended (rule: outcomes (a)/(b) wrap ctx.Err())", what, modelErr(err))
	default:
		r.violate("closecode-0-not-ctx-error", "%s returned %s: CloseCode 0 but it does not wrap its context's error %v", what, modelErr(err), ctxErr)
	}
	if isQueued(err) {
		modelQueuedSeen.Store(true)
		return outB
	}
	return outA
}

// noteEnd notes the first call that returned a non-zero CloseCode, for
// the statistics: what ends scenarios.
func (r *modelRun) noteEnd(what string, code wsframe.CloseCode) {
	kind := "?"
	for _, f := range strings.Fields(what) {
		if i := strings.IndexByte(f, '('); i > 0 {
			kind = f[:i]
			break
		}
	}
	switch {
	case strings.Contains(what, "after the final message"):
		kind = "none: the final close"
	case r.closeCall.Load():
		kind = "after Close"
	}
	s := fmt.Sprintf("%s %d", kind, uint16(code))
	r.firstEnd.CompareAndSwap(nil, &s)
}

// judgeNet checks the result of a NetConn call whose deadline was dl.
// Reads may be hit by a NetConn write deadline (a pong goes out).
func (r *modelRun) judgeNet(what string, err error, dl time.Time, st modelStart, read bool) modelOutcome {
	if err == nil {
		switch {
		case st.ended:
			r.violate("call-succeeded-after-end", "%s returned nil although Done() was closed before it began (rule: every later call returns an error with a non-zero CloseCode)", what)
		case st.failed:
			r.violate("call-succeeded-after-failure", "%s returned nil although an earlier call had returned 1011 (rule (c): every later call returns an error with a non-zero CloseCode)", what)
		}
		return outNil
	}
	if !modelIsTimeout(err) {
		if err != io.EOF && CloseCode(err) == 0 {
			r.violate("netconn-error-closecode-0", "%s returned %s: not a timeout, yet CloseCode 0", what, modelErr(err))
		}
		r.noteEnd(what, CloseCode(err))
		r.endCalls.Add(1)
		return outEnd
	}
	code := CloseCode(err)
	if code == wsframe.CloseInternalError {
		r.failed.Store(true)
		r.noteEnd(what, code)
		r.endCalls.Add(1)
		return outEnd // outcome (c)
	}
	r.zeroCalls.Add(1)
	if code != 0 {
		r.violate("netconn-timeout-closecode", "%s returned the timeout %s: a NetConn timeout of outcome (a)/(b) must have CloseCode 0 (or 1011 for (c))", what, modelErr(err))
	}
	switch {
	case st.ended:
		r.violate("netconn-timeout-after-end", "%s returned the timeout %s although Done() was closed before it began (rule: every later call returns an error with a non-zero CloseCode)", what, modelErr(err))
	case st.failed:
		r.violate("closecode-0-after-failure", "%s returned the timeout %s although an earlier call had returned 1011 (rule (c): every later call returns an error with a non-zero CloseCode)", what, modelErr(err))
	}
	if dl.IsZero() || time.Now().Before(dl) {
		if read && r.tainted(st) {
			r.log.add("", "(%s: a timeout while a NetConn write deadline was in effect: accepted)", what)
		} else {
			when := "no deadline was set"
			if !dl.IsZero() {
				when = fmt.Sprintf("its deadline was %v away", time.Until(dl).Round(time.Microsecond))
			}
			r.violate("netconn-deadline-clobbered", "%s returned the timeout %s but %s: a context watch or another deadline clobbered the NetConn deadline", what, modelErr(err), when)
		}
	}
	if isQueued(err) {
		return outB
	}
	return outA
}

func (r *modelRun) logCall(who, what string, st modelStart, err error, out modelOutcome, extra string) {
	r.log.add(who, "%s -> %s [%v]%s (%v)", what, modelErr(err), out, extra, time.Since(st.at).Round(10*time.Microsecond))
	for _, f := range strings.Fields(what) {
		if i := strings.IndexByte(f, '('); i > 0 {
			r.count(f[:i], out)
			break
		}
	}
}

// count notes a call's outcome for the statistics.
func (r *modelRun) count(kind string, out modelOutcome) {
	r.mu.Lock()
	r.stats[kind+" "+out.String()]++
	r.mu.Unlock()
}

// opCtx makes the context of a call: the parent itself (not for Ping,
// which would wait for ever without a reader), generous, already
// cancelled, a deadline in the past, short timeouts, or cancellation from
// another goroutine at a random moment. done ends it.
func (r *modelRun) opCtx(rng *rand.Rand, parentOK bool) (ctx context.Context, desc string, done func()) {
	k := rng.IntN(100)
	if k < 15 && !parentOK {
		k = 15
	}
	return r.makeCtx(rng, k)
}

// readCtx is opCtx for reads: in a gentle scenario, mostly contexts that
// end only between messages (so that reads are rarely cut in the middle
// of one, which fails the connection).
func (r *modelRun) readCtx(rng *rand.Rand) (ctx context.Context, desc string, done func()) {
	if !r.cfg.gentle {
		return r.opCtx(rng, true)
	}
	k := rng.IntN(100)
	switch {
	case k < 35:
		k = 0 // parent
	case k < 65:
		k = 15 // generous
	case k < 78:
		k = 25 // cancelled
	case k < 90:
		k = 35 // past
	default:
		k = 45 + rng.IntN(55) // short, or cancelled at a random moment
	}
	return r.makeCtx(rng, k)
}

// makeCtx makes the context of kind k (see opCtx).
func (r *modelRun) makeCtx(rng *rand.Rand, k int) (ctx context.Context, desc string, done func()) {
	switch {
	case k < 15:
		return r.sutCtx, "parent", func() {}
	case k < 25:
		ctx, cancel := context.WithTimeout(r.sutCtx, 5*time.Second)
		return ctx, "timeout(5s)", cancel
	case k < 35:
		ctx, cancel := context.WithCancel(r.sutCtx)
		cancel()
		return ctx, "cancelled", cancel
	case k < 45:
		d := time.Duration(1+rng.IntN(1000)) * time.Millisecond
		ctx, cancel := context.WithDeadline(r.sutCtx, time.Now().Add(-d))
		return ctx, "past", cancel
	case k < 62:
		d := time.Duration(rng.IntN(5000)) * time.Microsecond
		ctx, cancel := context.WithTimeout(r.sutCtx, d)
		return ctx, fmt.Sprintf("timeout(%v)", d), cancel
	case k < 75:
		d := 5*time.Millisecond + time.Duration(rng.IntN(55000))*time.Microsecond
		ctx, cancel := context.WithTimeout(r.sutCtx, d)
		return ctx, fmt.Sprintf("timeout(%v)", d), cancel
	default:
		d := time.Duration(rng.IntN(20000)) * time.Microsecond
		ctx, cancel := context.WithCancel(r.sutCtx)
		tm := time.AfterFunc(d, cancel)
		return ctx, fmt.Sprintf("cancel-after(%v)", d), func() { tm.Stop(); cancel() }
	}
}

// netDeadline picks a NetConn deadline: none, past, short, medium, far.
func netDeadline(rng *rand.Rand) (time.Time, string) {
	switch k := rng.IntN(100); {
	case k < 25:
		return time.Time{}, "none"
	case k < 40:
		return time.Now().Add(-time.Millisecond), "past"
	case k < 65:
		d := time.Duration(rng.IntN(5000)) * time.Microsecond
		return time.Now().Add(d), "in " + d.String()
	case k < 90:
		d := 5*time.Millisecond + time.Duration(rng.IntN(55000))*time.Microsecond
		return time.Now().Add(d), "in " + d.String()
	default:
		return time.Now().Add(5 * time.Second), "in 5s"
	}
}

type modelChoice struct {
	name   string
	weight int
}

func (r *modelRun) pick(rng *rand.Rand, choices []modelChoice) string {
	total := 0
	for _, c := range choices {
		if c.weight > 0 && (r.p.kinds == nil || r.p.kinds[c.name]) {
			total += c.weight
		}
	}
	if total == 0 {
		return ""
	}
	k := rng.IntN(total)
	for _, c := range choices {
		if c.weight > 0 && (r.p.kinds == nil || r.p.kinds[c.name]) {
			if k < c.weight {
				return c.name
			}
			k -= c.weight
		}
	}
	return ""
}

// ---------------------------------------------------------------------------
// Setup: transports and Conns.

var (
	modelCertOnce sync.Once
	modelCert     tls.Certificate
	modelCertPool *x509.CertPool
	modelCertErr  error
)

// modelTLS returns TLS configs with a self-signed ECDSA certificate for
// 127.0.0.1, made once per process.
func modelTLS() (server, client *tls.Config, err error) {
	modelCertOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		if err != nil {
			modelCertErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(6455),
			Subject:               pkix.Name{CommonName: "ws6455 model test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			modelCertErr = err
			return
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			modelCertErr = err
			return
		}
		modelCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
		modelCertPool = x509.NewCertPool()
		modelCertPool.AddCert(cert)
	})
	if modelCertErr != nil {
		return nil, nil, modelCertErr
	}
	return &tls.Config{Certificates: []tls.Certificate{modelCert}},
		&tls.Config{RootCAs: modelCertPool, ServerName: "127.0.0.1"}, nil
}

func (r *modelRun) setBuffers(sut, peer net.Conn) {
	if tc, ok := sut.(*net.TCPConn); ok && r.cfg.sndBuf > 0 {
		tc.SetWriteBuffer(r.cfg.sndBuf)
		tc.SetReadBuffer(r.cfg.rcvBuf)
	}
	if tc, ok := peer.(*net.TCPConn); ok && r.cfg.sndBuf > 0 {
		tc.SetWriteBuffer(r.cfg.sndBuf)
		tc.SetReadBuffer(r.cfg.rcvBuf)
	}
}

// setup connects the SUT and its peer.
func (r *modelRun) setup() error {
	cfg := r.cfg
	if cfg.transport == "http" {
		return r.setupHTTP()
	}
	var sutNC, peerNC net.Conn
	switch cfg.transport {
	case "pipe":
		sutNC, peerNC = net.Pipe()
	case "tcp", "tls":
		a, b, err := loopbackTCP()
		if err != nil {
			return err
		}
		sutNC, peerNC = a, b
		r.setBuffers(sutNC, peerNC)
		if cfg.transport == "tls" {
			scfg, ccfg, err := modelTLS()
			if err != nil {
				a.Close()
				b.Close()
				return err
			}
			// The WebSocket server is the TLS server.
			var sutTLS, peerTLS *tls.Conn
			if cfg.sutClient {
				sutTLS, peerTLS = tls.Client(a, ccfg), tls.Server(b, scfg)
			} else {
				sutTLS, peerTLS = tls.Server(a, scfg), tls.Client(b, ccfg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), modelSafety)
			errc := make(chan error, 1)
			go func() { errc <- peerTLS.HandshakeContext(ctx) }()
			err1 := sutTLS.HandshakeContext(ctx)
			err2 := <-errc
			cancel()
			if err1 != nil || err2 != nil {
				a.Close()
				b.Close()
				return fmt.Errorf("TLS handshake: %v / %v", err1, err2)
			}
			sutNC, peerNC = sutTLS, peerTLS
		}
	}
	r.closeF = append(r.closeF, func() { sutNC.Close(); peerNC.Close() })
	var params *handshake.DeflateParams
	if cfg.comp != CompressionDisabled {
		nct := cfg.comp == CompressionNoContextTakeover
		params = &handshake.DeflateParams{ServerNoContextTakeover: nct, ClientNoContextTakeover: nct}
	}
	opts := func() *Options {
		o := &Options{CloseTimeout: modelCloseTimeout, CompressionThreshold: cfg.threshold}
		if params != nil {
			p := *params
			o.Deflate = &p
		}
		return o
	}
	r.sut = New(sutNC, nil, cfg.sutClient, "", opts())
	if cfg.raw {
		r.raw = &modelRaw{
			p:        &rawPeer{t: r.t, nc: peerNC, br: bufio.NewReader(peerNC), client: !cfg.sutClient},
			deflate:  params != nil,
			takeover: cfg.comp == CompressionContextTakeover,
			pings:    map[string]bool{},
			ctl:      make(chan []byte, 1024), // more than the SUT's pings in a scenario
		}
	} else {
		r.peer = New(peerNC, nil, !cfg.sutClient, "", opts())
	}
	return nil
}

// setupHTTP connects the two Conns with Accept and Dial through httptest.
func (r *modelRun) setupHTTP() error {
	cfg := r.cfg
	accepted := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := Accept(w, req, &AcceptOptions{
			Compression: cfg.comp, CompressionThreshold: cfg.threshold, CloseTimeout: modelCloseTimeout,
		})
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}))
	defer srv.Close() // the Conns outlive the server: they are hijacked
	ctx, cancel := context.WithTimeout(context.Background(), modelSafety)
	defer cancel()
	client, _, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{
		Compression: cfg.comp, CompressionThreshold: cfg.threshold, CloseTimeout: modelCloseTimeout,
	})
	if err != nil {
		return err
	}
	var server *Conn
	select {
	case server = <-accepted:
	case <-ctx.Done():
	}
	if server == nil {
		client.CloseNow()
		return errors.New("Accept failed")
	}
	if cfg.sutClient {
		r.sut, r.peer = client, server
	} else {
		r.sut, r.peer = server, client
	}
	r.setBuffers(r.sut.NetConn(), r.peer.NetConn())
	r.closeF = append(r.closeF, func() { client.CloseNow(); server.CloseNow() })
	return nil
}

// ---------------------------------------------------------------------------
// Sends and their bookkeeping.

func (r *modelRun) newAttempt(w int, seq *int, typ MessageType, size int, op string) *modelAttempt {
	a := &modelAttempt{key: modelKey{w, *seq}, typ: typ, op: op}
	*seq++
	a.payload = modelPayload(r.cfg.seed, w, a.key.seq, typ, size)
	a.start = r.tick.Add(1)
	r.mu.Lock()
	r.attempts[a.key] = a
	r.order = append(r.order, a)
	r.mu.Unlock()
	return a
}

func (r *modelRun) settle(a *modelAttempt, c modelClass) {
	end := r.tick.Add(1)
	r.mu.Lock()
	a.class, a.end = c, end
	r.mu.Unlock()
}

func classOf(out modelOutcome) modelClass {
	switch out {
	case outNil, outB:
		return classMust
	case outA:
		return classNever
	}
	return classMaybe
}

// sutWriter is one of the goroutines that send on the SUT.
func (r *modelRun) sutWriter(g, closeAt int) {
	rng := rand.New(rand.NewPCG(r.cfg.seed, uint64(0x100+g)))
	who := fmt.Sprintf("w%d", g)
	seq := 0
	netW := 0
	if r.netc != nil {
		netW = 10
	}
	choices := []modelChoice{{"Write", 35}, {"Writer", 22}, {"WritePrepared", 6}, {"NetWrite", netW}, {"Ping", 10}}
	for i := 0; i < r.cfg.writerOps; i++ {
		if i == closeAt && (r.p.kinds == nil || r.p.kinds["Close"]) {
			r.opClose(who, rng)
			continue
		}
		switch r.pick(rng, choices) {
		case "Write":
			r.opWrite(who, g, &seq, rng, false)
		case "WritePrepared":
			r.opWrite(who, g, &seq, rng, true)
		case "Writer":
			r.opStream(who, g, &seq, rng)
		case "NetWrite":
			r.opNetWrite(who, g, &seq, rng)
		case "Ping":
			r.opPing(who, rng)
		}
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}
}

func (r *modelRun) opWrite(who string, g int, seq *int, rng *rand.Rand, prepared bool) {
	typ, size := modelType(rng), modelSize(rng, r.cfg.maxSize)
	if r.cfg.gentle && rng.IntN(3) == 0 {
		size = 20000 + rng.IntN(r.cfg.maxSize-20000) // large: more likely cut in its frame
	}
	name := "Write"
	if prepared {
		name = "WritePrepared"
	}
	ctx, cdesc, cdone := r.opCtx(rng, true)
	what := fmt.Sprintf("%s #%d %s(%v %dB %s, ctx=%s)", who, r.ops.Add(1), name, typ, size, modelID(g, *seq), cdesc)
	a := r.newAttempt(g, seq, typ, size, what)
	st := r.begin()
	var err error
	if prepared {
		pm, perr := NewPreparedMessage(typ, a.payload)
		if perr != nil {
			r.violate("harness", "NewPreparedMessage: %v", perr)
			cdone()
			r.settle(a, classMaybe)
			return
		}
		err = r.sut.WritePrepared(ctx, pm)
	} else {
		err = r.sut.Write(ctx, typ, a.payload)
	}
	out := r.judge(what, ctx, err, st)
	cdone()
	r.settle(a, classOf(out))
	r.logCall(who, what, st, err, out, "")
}

// opStream sends a message through Writer in random pieces (sometimes
// through ReadFrom), pausing between them now and then.
func (r *modelRun) opStream(who string, g int, seq *int, rng *rand.Rand) {
	typ, size := modelType(rng), modelSize(rng, r.cfg.maxSize)
	ctx, cdesc, cdone := r.opCtx(rng, true)
	what := fmt.Sprintf("%s #%d Writer(%v %dB %s, ctx=%s)", who, r.ops.Add(1), typ, size, modelID(g, *seq), cdesc)
	a := r.newAttempt(g, seq, typ, size, what)
	st := r.begin()
	w, err := r.sut.Writer(ctx, typ)
	if err != nil {
		out := r.judge(what, ctx, err, st)
		cdone()
		r.settle(a, classOf(out))
		r.logCall(who, what, st, err, out, "")
		return
	}
	var pieces []string
	rest := a.payload
	var werr error
	worst := outNil
	// A piece or the Close may return the error of an earlier piece: a
	// NetConn write deadline counts from the start of the message.
	since := func(s modelStart) modelStart {
		s.wdlLive, s.wdlGen = s.wdlLive || st.wdlLive, st.wdlGen
		return s
	}
	for len(rest) > 0 && werr == nil {
		wst := since(r.begin())
		if rng.IntN(8) == 0 {
			_, werr = io.Copy(w, bytes.NewReader(rest))
			pieces = append(pieces, fmt.Sprintf("ReadFrom %d", len(rest)))
			rest = nil
		} else {
			var n int
			switch k := rng.IntN(10); {
			case k < 3:
				n = 1 + rng.IntN(100)
			case k < 8:
				n = 100 + rng.IntN(20000)
			default:
				n = len(rest)
			}
			n = min(n, len(rest))
			_, werr = w.Write(rest[:n])
			pieces = append(pieces, strconv.Itoa(n))
			rest = rest[n:]
		}
		if werr != nil {
			worst = max(worst, r.judge(what+" Write", ctx, werr, wst))
			pieces = append(pieces, "err "+modelErr(werr))
		}
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}
	cst := since(r.begin())
	cerr := w.Close()
	cout := outNil
	if cerr != nil {
		cout = r.judge(what+" Close", ctx, cerr, cst)
	}
	cdone()
	var class modelClass
	switch {
	case werr == nil && cerr == nil:
		class = classMust
	case worst == outEnd || cout == outEnd:
		class = classMaybe
	case werr == nil && cout == outB:
		class = classMust // the last frame is queued
	default:
		class = classNever
	}
	r.settle(a, class)
	r.logCall(who, what, st, cerr, max(worst, cout), fmt.Sprintf(" pieces=%v -> %v", pieces, class))
}

func (r *modelRun) opNetWrite(who string, g int, seq *int, rng *rand.Rand) {
	typ, size := r.cfg.netType, max(1, modelSize(rng, r.cfg.maxSize))
	dl, ddesc := netDeadline(rng)
	what := fmt.Sprintf("%s #%d NetConn.Write(%v %dB %s, deadline=%s)", who, r.ops.Add(1), typ, size, modelID(g, *seq), ddesc)
	a := r.newAttempt(g, seq, typ, size, what)
	r.netWriteMu.Lock()
	if !dl.IsZero() {
		r.wdlActive.Add(1)
		r.wdlGen.Add(1)
	}
	// Undone even if a call panics (see catch): the other writers go on.
	defer func() {
		if !dl.IsZero() {
			r.wdlGen.Add(1)
			r.wdlActive.Add(-1)
		}
		r.netWriteMu.Unlock()
	}()
	r.netc.SetWriteDeadline(dl)
	st := r.begin()
	n, err := r.netc.Write(a.payload)
	out := r.judgeNet(what, err, dl, st, false)
	r.netc.SetWriteDeadline(time.Time{})
	class := classOf(out)
	switch {
	case out == outNil && n != size:
		r.violate("netconn-write-count", "%s returned n=%d with a nil error", what, n)
	case out == outA || out == outB:
		switch n {
		case size:
			class = classMust // outcome (b): n == len(p)
			if out == outA && modelQueuedSeen.Load() {
				r.violate("netconn-queued-unmarked", "%s returned n=len(p) with the timeout %s, which does not match the queued sentinel (rule (b): errors.Is(err, ErrQueued))", what, modelErr(err))
			}
		case 0:
			if out == outB {
				r.violate("netconn-write-count", "%s returned a queued error with n=0 (rule: n == len(p))", what)
			}
			class = classNever
		default:
			r.violate("netconn-write-count", "%s returned n=%d of %d with a timeout: neither (a) n=0 nor (b) n=len(p)", what, n, size)
			class = classMaybe
		}
	}
	r.settle(a, class)
	if out == outA && n == size {
		out = outB // n == len(p): the rest is queued
	}
	r.logCall(who, what, st, err, out, fmt.Sprintf(" n=%d -> %v", n, class))
}

func (r *modelRun) opPing(who string, rng *rand.Rand) {
	ctx, cdesc, cdone := r.opCtx(rng, false)
	what := fmt.Sprintf("%s #%d Ping(ctx=%s)", who, r.ops.Add(1), cdesc)
	st := r.begin()
	err := r.sut.Ping(ctx)
	out := r.judge(what, ctx, err, st)
	cdone()
	r.logCall(who, what, st, err, out, "")
}

func (r *modelRun) opClose(who string, rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		what := fmt.Sprintf("%s #%d CloseNow()", who, r.ops.Add(1))
		r.closeCall.Store(true)
		st := r.begin()
		err := r.sut.CloseNow()
		r.log.add(who, "%s -> %s (%v)", what, modelErr(err), time.Since(st.at).Round(10*time.Microsecond))
		return
	}
	code := []wsframe.CloseCode{wsframe.CloseNormal, wsframe.CloseGoingAway,
		wsframe.CloseCode(3000 + rng.IntN(1000)), wsframe.CloseCode(4000 + rng.IntN(1000))}[rng.IntN(4)]
	r.mu.Lock()
	r.codes[code] = true
	r.mu.Unlock()
	what := fmt.Sprintf("%s #%d Close(%d)", who, r.ops.Add(1), uint16(code))
	r.closeCall.Store(true)
	st := r.begin()
	err := r.sut.Close(code, "model close")
	r.log.add(who, "%s -> %s (%v)", what, modelErr(err), time.Since(st.at).Round(10*time.Microsecond))
}

// ---------------------------------------------------------------------------
// The SUT's reader.

// peerPlan is the type and size of the peer's message k.
func (r *modelRun) peerPlan(k int) (MessageType, int) {
	rng := rand.New(rand.NewPCG(r.cfg.seed, 0xff000000+uint64(k)))
	typ := r.cfg.netType
	if rng.Float64() >= r.cfg.peerBias {
		typ = MessageText + MessageBinary - typ
	}
	size := modelSize(rng, r.cfg.maxSize)
	if size > 20000 && rng.IntN(2) == 0 {
		size = modelSize(rng, r.cfg.maxSize) // fewer large ones
	}
	return typ, size
}

// peerMsg is the peer's message k.
func (r *modelRun) peerMsg(k int) modelPeerMsg {
	r.mu.Lock()
	m, ok := r.peerMsgs[k]
	r.mu.Unlock()
	if ok {
		return m
	}
	typ, size := r.peerPlan(k)
	m = modelPeerMsg{typ: typ, payload: modelPayload(r.cfg.seed, modelPeerW, k, typ, size)}
	r.mu.Lock()
	if old, ok := r.peerMsgs[k]; ok {
		m = old
	} else {
		r.peerMsgs[k] = m
	}
	r.mu.Unlock()
	return m
}

// setFinal makes the peer's message k its final one.
func (r *modelRun) setFinal(k int) modelPeerMsg {
	m := modelPeerMsg{typ: MessageBinary, payload: modelPayload(r.cfg.seed, modelPeerW, k, MessageBinary, 100), final: true}
	r.mu.Lock()
	r.peerMsgs[k] = m
	r.mu.Unlock()
	r.finalIndex.Store(int64(k))
	return m
}

func (r *modelRun) setNext(n int) {
	r.rs.next = n
	r.sutNext.Store(int64(n))
}

// checkRead checks a whole message the SUT read with a nil error.
func (r *modelRun) checkRead(what string, typ MessageType, data []byte) {
	rs := &r.rs
	if rs.netLoose {
		rs.netLoose = false
		// The candidates: next, the empty ones after it, the first
		// non-empty one, and the one after that.
		k := rs.next
		for ; ; k++ {
			m := r.peerMsg(k)
			if typ == m.typ && bytes.Equal(data, m.payload) {
				if k != rs.next {
					r.log.add("rd", "(peer#%d to peer#%d were consumed by an earlier NetConn read)", rs.next, k-1)
				}
				r.setNext(k)
				break
			}
			if len(m.payload) > 0 {
				if m2 := r.peerMsg(k + 1); typ == m2.typ && bytes.Equal(data, m2.payload) {
					r.log.add("rd", "(peer#%d to peer#%d were consumed by an earlier NetConn read)", rs.next, k)
					r.setNext(k + 1)
				}
				break
			}
		}
	}
	k := rs.next
	want := r.peerMsg(k)
	if (typ != want.typ || !bytes.Equal(data, want.payload)) && r.closeCall.Load() {
		// Close discards the messages that arrive while no one reads:
		// accept any later message, intact.
		w, seq, _, intact := modelParse(data)
		switch {
		case intact && w == modelPeerW && seq > k && typ == r.peerMsg(seq).typ && bytes.Equal(data, r.peerMsg(seq).payload):
			r.log.add("rd", "(peer#%d to peer#%d were discarded by Close)", k, seq-1)
			r.setNext(seq + 1)
			return
		case len(data) < modelHdr && string(data) == modelTiny[:len(data)]:
			r.log.add("rd", "(a tiny message, while Close discards: not identified)")
			r.setNext(k + 1)
			return
		}
	}
	if typ != want.typ || !bytes.Equal(data, want.payload) {
		r.violate("altered-read", "%s returned, with a nil error, a message that is not the expected peer#%d (%v %dB): got %v, %s",
			what, k, want.typ, len(want.payload), typ, modelDiff(want.payload, data))
		// Resynchronise on what it was, if it says.
		if w, seq, ok, _ := modelParse(data); ok && w == modelPeerW && seq >= k {
			r.setNext(seq + 1)
			return
		}
	}
	r.setNext(k + 1)
	if want.final && !rs.final {
		rs.final = true
		close(r.readerFinal)
	}
}

// abandon is called before a read that starts a new message: what is left
// of the message in progress will be discarded.
func (r *modelRun) abandon() {
	rs := &r.rs
	if rs.cur >= 0 {
		rs.unknown = true
		r.finishCur()
	}
}

// finishCur ends the model's message in progress. The context of its
// Reader is ended only once a later read has begun (see releaseStale).
func (r *modelRun) finishCur() {
	rs := &r.rs
	rs.cur, rs.off = -1, 0
	rs.mr, rs.mrCtx, rs.mrEnded = nil, nil, false
}

func (r *modelRun) releaseStale() {
	for _, f := range r.rs.stale {
		f()
	}
	r.rs.stale = nil
}

// beginMsg notes that the SUT began the peer's next message, of type typ.
func (r *modelRun) beginMsg(what string, typ MessageType) {
	rs := &r.rs
	k := rs.next
	if want := r.peerMsg(k); typ != want.typ {
		r.violate("altered-read", "%s began a %v message, but the peer's next message, peer#%d, is %v", what, typ, k, want.typ)
	}
	r.setNext(k + 1)
	rs.cur, rs.off = k, 0
}

// consume checks bytes p of the peer's stream as NetConn (stream: across
// messages) or a message reader (within cur) returned them.
func (r *modelRun) consume(what string, p []byte, stream bool) bool {
	rs := &r.rs
	for len(p) > 0 {
		if rs.cur < 0 {
			if !stream {
				r.violate("altered-read", "%s returned %d bytes after the end of its message", what, len(p))
				return false
			}
			for len(r.peerMsg(rs.next).payload) == 0 {
				r.setNext(rs.next + 1) // NetConn skips empty messages
			}
			rs.netLoose = false
			rs.cur, rs.off = rs.next, 0
			r.setNext(rs.next + 1)
		}
		want := r.peerMsg(rs.cur).payload
		if rs.off == len(want) {
			if !stream {
				r.violate("altered-read", "%s returned %d bytes beyond the %d of peer#%d", what, len(p), len(want), rs.cur)
				return false
			}
			r.finishCur()
			continue
		}
		m := min(len(p), len(want)-rs.off)
		if !bytes.Equal(p[:m], want[rs.off:rs.off+m]) {
			i := 0
			for p[i] == want[rs.off+i] {
				i++
			}
			r.violate("altered-read", "%s returned bytes that differ from peer#%d (%dB) at offset %d (got %q, want %q): a byte was lost, repeated or altered",
				what, rs.cur, len(want), rs.off+i, p[i:min(m, i+16)], want[rs.off+i:min(rs.off+m, rs.off+i+16)])
			return false
		}
		rs.off += m
		p = p[m:]
		if stream && rs.off == len(want) && rs.mr == nil {
			r.finishCur()
		}
	}
	return true
}

// netReadSafe reports whether a NetConn read now would only return data
// of its own type (else it fails the connection with 1003, rightly), and
// does not continue a message whose Reader context is still in charge.
func (r *modelRun) netReadSafe() bool {
	rs := &r.rs
	if r.netc == nil || rs.unknown || rs.final {
		return false
	}
	if rs.cur >= 0 {
		if rs.mr != nil && !rs.mrEnded {
			return false
		}
		if rs.off < len(r.peerMsg(rs.cur).payload) {
			return true
		}
	}
	for k := rs.next; ; k++ {
		if k == int(r.finalIndex.Load()) {
			return false
		}
		typ, size := r.peerPlan(k)
		if typ != r.cfg.netType {
			return false
		}
		if size > 0 {
			return true
		}
	}
}

func (r *modelRun) sutReader() {
	defer close(r.readerExit)
	var opsDone sync.Once
	defer opsDone.Do(func() { close(r.readerOps) })
	defer r.catch("the reader")
	rng := rand.New(rand.NewPCG(r.cfg.seed, 0x200))
	for i := 0; i < r.cfg.readerOps; i++ {
		resume, netRead, reader := 0, 0, 25
		if r.rs.mr != nil {
			resume = 15
		}
		if r.netReadSafe() {
			netRead = 20
		}
		if r.closeCall.Load() {
			// Close may discard messages: only whole reads can tell
			// which message they got.
			reader, netRead = 0, 0
		}
		if r.rs.netLoose {
			reader = 0 // only a whole read can tell which message it gets
		}
		switch r.pick(rng, []modelChoice{{"Read", 25}, {"ReadInto", 20}, {"Reader", reader}, {"ReaderResume", resume}, {"NetRead", netRead}}) {
		case "Read":
			r.opRead(rng, false)
		case "ReadInto":
			r.opRead(rng, true)
		case "Reader":
			r.opReader(rng)
		case "ReaderResume":
			r.readMR(fmt.Sprintf("rd #%d ReaderResume(peer#%d)", r.ops.Add(1), r.rs.cur), rng)
		case "NetRead":
			r.opNetRead(rng)
		}
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}
	opsDone.Do(func() { close(r.readerOps) })
	r.drain()
}

func (r *modelRun) opRead(rng *rand.Rand, into bool) {
	rs := &r.rs
	ctx, cdesc, cdone := r.readCtx(rng)
	name := "Read"
	if into {
		name = "ReadInto"
	}
	what := fmt.Sprintf("rd #%d %s(ctx=%s) [expects peer#%d]", r.ops.Add(1), name, cdesc, rs.next)
	r.abandon()
	st := r.begin()
	var typ MessageType
	var data []byte
	var err error
	if into {
		typ, data, err = r.sut.ReadInto(ctx, rs.buf)
		if cap(data) > 0 {
			rs.buf = data[:0]
		}
	} else {
		typ, data, err = r.sut.Read(ctx)
	}
	out := r.judge(what, ctx, err, st)
	cdone()
	extra := ""
	if err == nil {
		rs.unknown = false
		r.releaseStale()
		extra = " got " + modelDescribe(data)
		r.checkRead(what, typ, data)
	}
	r.logCall("rd", what, st, err, out, extra)
}

func (r *modelRun) opReader(rng *rand.Rand) {
	rs := &r.rs
	ctx, cdesc, cdone := r.readCtx(rng)
	what := fmt.Sprintf("rd #%d Reader(ctx=%s) [expects peer#%d]", r.ops.Add(1), cdesc, rs.next)
	r.abandon()
	st := r.begin()
	typ, mr, err := r.sut.Reader(ctx)
	out := r.judge(what, ctx, err, st)
	r.logCall("rd", what, st, err, out, "")
	if err != nil {
		cdone()
		return
	}
	rs.unknown = false
	r.releaseStale()
	rs.stale = append(rs.stale, cdone)
	if r.closeCall.Load() {
		r.log.add("rd", "(Close started: which message this is cannot be told; abandoned)")
		rs.unknown = true
		return
	}
	r.beginMsg(what, typ)
	rs.mr, rs.mrCtx, rs.mrEnded = mr, ctx, false
	r.readMR(what, rng)
}

// readMR reads the message in progress through its message reader, in
// random pieces, maybe not to the end.
func (r *modelRun) readMR(what string, rng *rand.Rand) {
	rs := &r.rs
	k := rs.cur
	want := r.peerMsg(k).payload
	reads := 1 + rng.IntN(6)
	if rng.IntN(3) == 0 {
		reads = 1000
	}
	var got []string
	defer func() { r.log.add("rd", "%s reads of peer#%d (%dB): %v", what, k, len(want), got) }()
	for i := 0; i < reads; i++ {
		var size int
		switch j := rng.IntN(10); {
		case j == 0 && !r.p.noZero:
			size = 0
		case j < 4:
			size = 1 + rng.IntN(100)
		case j < 8:
			size = 100 + rng.IntN(5000)
		default:
			size = 5000 + rng.IntN(70000)
		}
		buf := make([]byte, size)
		st := r.begin()
		n, err := rs.mr.Read(buf)
		got = append(got, fmt.Sprintf("%d/%d@%d", n, size, rs.off))
		if err == nil || err == io.EOF {
			r.count("MessageReader.Read", outNil)
		}
		if n > 0 && !r.consume(what+" message reader", buf[:n], false) {
			r.finishCur()
			return
		}
		if err == io.EOF {
			if rs.off != len(want) {
				r.violate("eof-before-end", "%s: the message reader returned io.EOF after %d of the %d bytes of peer#%d (rule: never io.EOF for a message that did not end)", what, rs.off, len(want), k)
			}
			got = append(got, "EOF")
			r.finishCur()
			return
		}
		if err != nil {
			rwhat := fmt.Sprintf("%s message reader Read at %d/%d", what, rs.off, len(want))
			out := r.judge(rwhat, rs.mrCtx, err, st)
			r.count("MessageReader.Read", out)
			got = append(got, fmt.Sprintf("err %s [%v]", modelErr(err), out))
			if out == outEnd {
				r.finishCur()
				return
			}
			rs.mrEnded = true // outcome (a): nothing lost, to be read on (through NetConn) or abandoned
			return
		}
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
	}
}

func (r *modelRun) opNetRead(rng *rand.Rand) {
	rs := &r.rs
	dl, ddesc := netDeadline(rng)
	size := 1 + rng.IntN(100)
	if rng.IntN(2) == 0 {
		size = 100 + rng.IntN(70000)
	}
	where := fmt.Sprintf("peer#%d", rs.next)
	if rs.cur >= 0 {
		where = fmt.Sprintf("peer#%d at %d/%d", rs.cur, rs.off, len(r.peerMsg(rs.cur).payload))
	}
	what := fmt.Sprintf("rd #%d NetConn.Read(%dB, deadline=%s) [at %s]", r.ops.Add(1), size, ddesc, where)
	buf := make([]byte, size)
	r.netc.SetReadDeadline(dl)
	st := r.begin()
	n, err := r.netc.Read(buf)
	r.netc.SetReadDeadline(time.Time{})
	var out modelOutcome
	if err != nil {
		out = r.judgeNet(what, err, dl, st, true)
	}
	r.logCall("rd", what, st, err, out, fmt.Sprintf(" n=%d", n))
	if n > 0 && r.closeCall.Load() {
		r.log.add("rd", "(Close started: NetConn bytes cannot be placed; not checked)")
		r.finishCur()
		rs.unknown = true
		return
	}
	if n > 0 && !r.consume(what, buf[:n], true) {
		r.finishCur()
		rs.unknown = true
		return
	}
	if out == outEnd {
		r.finishCur()
	}
	if n == 0 && err != nil && out != outEnd {
		if rs.cur >= 0 && rs.off == len(r.peerMsg(rs.cur).payload) {
			r.finishCur() // it may have gone on to the next message
		}
		if rs.cur < 0 {
			rs.netLoose = true
		}
	}
}

// drain reads with a generous context until the peer's final message,
// then once more: that read ends with the connection.
func (r *modelRun) drain() {
	rs := &r.rs
	for !rs.final {
		ctx, cancel := context.WithTimeout(context.Background(), modelSafety)
		what := fmt.Sprintf("rd #%d drain Read [expects peer#%d]", r.ops.Add(1), rs.next)
		r.abandon()
		st := r.begin()
		typ, data, err := r.sut.Read(ctx)
		out := r.judge(what, ctx, err, st)
		cancel()
		if err != nil {
			r.logCall("rd", what, st, err, out, "")
			return
		}
		rs.unknown = false
		r.releaseStale()
		r.checkRead(what, typ, data)
		if rs.final {
			r.logCall("rd", what, st, err, out, " got the peer's final message")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), modelSafety)
	defer cancel()
	what := fmt.Sprintf("rd #%d Read after the final message", r.ops.Add(1))
	st := r.begin()
	_, data, err := r.sut.Read(ctx)
	out := r.judge(what, ctx, err, st)
	r.logCall("rd", what, st, err, out, "")
	if err == nil {
		r.violate("altered-read", "%s returned a message (%s) after the peer's final one", what, modelDescribe(data))
	}
}

// ---------------------------------------------------------------------------
// The peer.

// peerGot checks a message the peer received from the SUT.
func (r *modelRun) peerGot(typ MessageType, data []byte) {
	if len(data) < modelHdr {
		if string(data) != modelTiny[:len(data)] {
			r.violate("altered-delivery", "the peer received a %v message of %d bytes that no one sent: %q", typ, len(data), data)
			return
		}
		r.mu.Lock()
		r.tinyRecv[modelTinyKey{len(data), typ}]++
		r.recv++
		r.mu.Unlock()
		r.log.add("peer", "got %v %dB (tiny)", typ, len(data))
		return
	}
	w, seq, hdrOK, _ := modelParse(data)
	r.mu.Lock()
	a := r.attempts[modelKey{w, seq}]
	var what string
	switch {
	case !hdrOK || a == nil:
		what = fmt.Sprintf("the peer received a %v message that no one sent: %s", typ, modelDescribe(data))
	case a.typ != typ || !bytes.Equal(a.payload, data):
		what = fmt.Sprintf("the peer received %s as %v: %s (sent by %s)", modelID(w, seq), typ, modelDiff(a.payload, data), a.op)
	case a.recvPos != 0:
		what = fmt.Sprintf("the peer received %s twice (sent by %s)", modelID(w, seq), a.op)
	}
	if what != "" {
		r.mu.Unlock()
		r.violate("altered-delivery", "%s", what)
		return
	}
	last, seen := r.lastSeq[w]
	r.recv++
	a.recvPos = r.recv
	r.lastSeq[w] = seq
	r.mu.Unlock()
	r.log.add("peer", "got %s %v %dB (pos %d)", modelID(w, seq), typ, len(data), a.recvPos)
	if seen && seq <= last {
		r.violate("order", "the peer received %s after %s of the same writer (sent by %s)", modelID(w, seq), modelID(w, last), a.op)
	}
	if w == modelFinalW {
		r.peerFinalOnce.Do(func() { close(r.peerFinal) })
	}
}

// peerReader reads what the SUT sends, as a Conn that never cancels.
func (r *modelRun) peerReader() {
	defer close(r.peerExit)
	defer r.catch("the peer's reader")
	rng := rand.New(rand.NewPCG(r.cfg.seed, 0x300))
	for {
		var typ MessageType
		var data []byte
		var err error
		if rng.IntN(4) == 0 || r.cfg.gentle && rng.IntN(2) == 0 {
			// Streamed, pausing inside the message now and then: the
			// SUT's writes block in the middle of their frames.
			var mr io.Reader
			if typ, mr, err = r.peer.Reader(r.peerCtx); err == nil {
				data, err = r.readPausing(rng, mr)
			}
		} else {
			typ, data, err = r.peer.Read(r.peerCtx)
		}
		if err != nil {
			r.peerEnd.err = err
			r.log.add("peer", "read ended: %s", modelErr(err))
			return
		}
		r.peerGot(typ, data)
		switch {
		case r.cfg.gentle && rng.IntN(3) == 0:
			time.Sleep(time.Duration(rng.IntN(30000)) * time.Microsecond)
		case r.cfg.peerStall && rng.IntN(6) == 0:
			time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
		}
	}
}

// readPausing reads all of rd in pieces of 1 to 16 KiB, pausing between
// some of them (at most 3 times a message: the peer must keep up).
func (r *modelRun) readPausing(rng *rand.Rand, rd io.Reader) ([]byte, error) {
	var data []byte
	buf := make([]byte, 1<<10+rng.IntN(15<<10))
	pauses := 3
	for {
		n, err := rd.Read(buf)
		data = append(data, buf[:n]...)
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
		if pauses == 0 {
			continue
		}
		switch {
		case r.cfg.gentle && rng.IntN(3) == 0:
			pauses--
			time.Sleep(time.Duration(rng.IntN(10000)) * time.Microsecond)
		case r.cfg.peerStall && rng.IntN(8) == 0:
			pauses--
			time.Sleep(time.Duration(rng.IntN(20000)) * time.Microsecond)
		}
	}
}

// peerNext waits until the peer's writer may send message k (flow
// control), and says whether it is to send the final message instead, or
// to stop.
func (r *modelRun) peerNext(k int) (final, stop bool) {
	for {
		select {
		case <-r.peerStop:
			return false, true
		case <-r.peerFinish:
			return true, false
		default:
		}
		opsDone := false
		select {
		case <-r.readerOps:
			opsDone = true // the reader only waits for the final message now
		default:
		}
		if !opsDone && k-int(r.sutNext.Load()) <= modelAhead {
			return false, false
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (r *modelRun) peerPause(rng *rand.Rand) {
	if r.cfg.peerPace == 1 {
		time.Sleep(time.Duration(rng.IntN(8000)) * time.Microsecond)
	} else if rng.IntN(4) == 0 {
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
	}
}

// peerWriter sends the peer's messages, as a Conn that never cancels.
func (r *modelRun) peerWriter() {
	defer close(r.peerWExit)
	defer r.catch("the peer's writer")
	rng := rand.New(rand.NewPCG(r.cfg.seed, 0x400))
	for k := 0; ; k++ {
		final, stop := r.peerNext(k)
		if stop {
			return
		}
		var m modelPeerMsg
		if final {
			m = r.setFinal(k)
		} else {
			m = r.peerMsg(k)
		}
		var err error
		if !final && rng.IntN(4) == 0 {
			var w io.WriteCloser
			if w, err = r.peer.Writer(r.peerCtx, m.typ); err == nil {
				for rest := m.payload; len(rest) > 0 && err == nil; {
					n := min(len(rest), 1+rng.IntN(30000))
					_, err = w.Write(rest[:n])
					rest = rest[n:]
					if rng.IntN(2) == 0 {
						time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					}
				}
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
		} else {
			err = r.peer.Write(r.peerCtx, m.typ, m.payload)
		}
		if err != nil {
			r.log.add("peer", "write of peer#%d ended: %s", k, modelErr(err))
			return
		}
		if final {
			r.log.add("peer", "sent its final message, peer#%d", k)
			return
		}
		r.peerPause(rng)
	}
}

// modelRaw is the raw peer: frames in and out, checked byte by byte, with
// no protocol logic but what the model needs (pong, close echo, inflate).
type modelRaw struct {
	p        *rawPeer
	deflate  bool
	takeover bool
	window   []byte // what the SUT sent, for its context takeover

	wmu    sync.Mutex // one frame at a time
	closed bool       // the close frame went out: nothing more
	pmu    sync.Mutex // guards pings (not wmu: reading must never wait for a write)
	pings  map[string]bool
	ctl    chan []byte // control frames for rawCtl to send, so that reading never waits for writing
}

func (rp *modelRaw) send(b []byte, dribble bool, rng *rand.Rand) error {
	rp.wmu.Lock()
	defer rp.wmu.Unlock()
	if rp.closed {
		return net.ErrClosed
	}
	rp.p.nc.SetWriteDeadline(time.Now().Add(modelSafety))
	if !dribble || len(b) < 2000 {
		_, err := rp.p.nc.Write(b)
		return err
	}
	for parts := 2 + rng.IntN(3); len(b) > 0; parts-- {
		n := len(b)
		if parts > 1 {
			n = 1 + rng.IntN(len(b))
		}
		if _, err := rp.p.nc.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
	}
	return nil
}

// modelPausingReader reads in pieces of 1 to 8 KiB, pausing before some
// of them (at most 3 times: it is made for one frame's payload).
type modelPausingReader struct {
	r      io.Reader
	rng    *rand.Rand
	pauses int
}

func (p *modelPausingReader) Read(b []byte) (int, error) {
	if p.pauses < 3 && p.rng.IntN(3) == 0 {
		p.pauses++
		time.Sleep(time.Duration(p.rng.IntN(10000)) * time.Microsecond)
	}
	return p.r.Read(b[:min(len(b), 1<<10+p.rng.IntN(7<<10))])
}

// rawCtl sends the control frames the raw reader asks for.
func (r *modelRun) rawCtl() {
	for b := range r.raw.ctl {
		r.raw.send(b, false, nil)
	}
}

func (r *modelRun) rawViolation(format string, args ...any) {
	d := fmt.Sprintf(format, args...)
	r.violate("peer-invalid-stream", "the raw peer saw on the wire: %s", d)
	r.peerEnd.detected = d
}

func (rp *modelRaw) inflate(p []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff}))
	var fr io.ReadCloser
	if rp.takeover && len(rp.window) > 0 {
		fr = flate.NewReaderDict(src, rp.window)
	} else {
		fr = flate.NewReader(src)
	}
	out, err := io.ReadAll(fr)
	if err == io.ErrUnexpectedEOF {
		err = nil // a sync-flushed stream without a final block
	}
	if err != nil {
		return nil, err
	}
	if rp.takeover {
		rp.window = append(rp.window, out...)
		if len(rp.window) > 1<<15 {
			rp.window = append([]byte(nil), rp.window[len(rp.window)-1<<15:]...)
		}
	}
	return out, nil
}

// rawReader reads the SUT's frames and checks each against the protocol.
func (r *modelRun) rawReader() {
	rp := r.raw
	defer close(r.peerExit)
	defer close(rp.ctl)
	defer rp.p.nc.Close()
	defer r.catch("the raw peer's reader")
	rawRng := rand.New(rand.NewPCG(r.cfg.seed, 0x700))
	var msg []byte
	var msgOp wsframe.Opcode
	inMsg, compressed := false, false
	for {
		rp.p.nc.SetReadDeadline(time.Now().Add(modelSafety))
		h, err := wsframe.ReadHeader(rp.p.br)
		if err != nil {
			r.peerEnd.err = err
			r.log.add("peer", "raw read ended: %v", err)
			return
		}
		if err := h.Check(0); err != nil {
			r.rawViolation("frame %v: %v", h, err)
			return
		}
		if h.Masked != r.cfg.sutClient {
			r.rawViolation("frame %v: masked=%v from a %s", h, h.Masked, r.cfg.roleName())
			return
		}
		if h.Length > 16<<20 {
			r.rawViolation("frame %v: longer than any message sent", h)
			return
		}
		payload := make([]byte, h.Length)
		var rd io.Reader = rp.p.br
		if r.cfg.gentle && h.Length > 1000 {
			rd = &modelPausingReader{r: rd, rng: rawRng}
		}
		if _, err := io.ReadFull(rd, payload); err != nil {
			r.peerEnd.err = err
			r.log.add("peer", "raw read ended in a frame's payload (%v): %v", h, err)
			return
		}
		if h.Masked {
			wsframe.Mask(h.Mask, 0, payload)
		}
		if h.Opcode.IsControl() && h.Rsv != 0 {
			r.rawViolation("control frame %v with RSV bits", h)
			return
		}
		switch h.Opcode {
		case wsframe.OpPing:
			rp.ctl <- rp.p.frame(true, 0, wsframe.OpPong, payload)
			continue
		case wsframe.OpPong:
			rp.pmu.Lock()
			known := rp.pings[string(payload)]
			rp.pmu.Unlock()
			if !known {
				r.rawViolation("a pong with payload %q, which no ping carried", payload)
				return
			}
			continue
		case wsframe.OpClose:
			code, reason, perr := wsframe.ParseClosePayload(payload)
			if perr != nil {
				r.rawViolation("close frame with payload %q: %v", payload, perr)
				return
			}
			if inMsg {
				r.log.add("peer", "(the close frame came in the middle of a message of %d bytes so far)", len(msg))
			}
			r.peerEnd.closeFrame, r.peerEnd.code = true, code
			r.log.add("peer", "raw got close %d %q", uint16(code), reason)
			rp.wmu.Lock()
			if !rp.closed {
				rp.closed = true
				echo := []byte{}
				if code != wsframe.CloseNoStatus {
					echo, _ = wsframe.AppendClosePayload(nil, code, "")
				}
				rp.p.nc.SetWriteDeadline(time.Now().Add(modelSafety))
				rp.p.nc.Write(rp.p.frame(true, 0, wsframe.OpClose, echo))
			}
			rp.wmu.Unlock()
			if !r.cfg.sutClient {
				// The SUT is the server: it closes first.
				rp.p.nc.SetReadDeadline(time.Now().Add(modelSafety))
				io.Copy(io.Discard, rp.p.br)
			}
			return
		case wsframe.OpText, wsframe.OpBinary:
			if inMsg {
				r.rawViolation("a new %v frame while a message of %d bytes was unfinished (a torn message)", h, len(msg))
				return
			}
			if h.Rsv != 0 && (h.Rsv != wsframe.RSV1 || !rp.deflate) {
				r.rawViolation("frame %v: RSV bits not negotiated", h)
				return
			}
			inMsg, msgOp, compressed, msg = true, h.Opcode, h.Rsv != 0, payload
		case wsframe.OpContinuation:
			if !inMsg {
				r.rawViolation("continuation frame %v without a message", h)
				return
			}
			if h.Rsv != 0 {
				r.rawViolation("continuation frame %v with RSV bits", h)
				return
			}
			msg = append(msg, payload...)
		default:
			r.rawViolation("frame %v with a reserved opcode", h)
			return
		}
		if !h.Fin {
			continue
		}
		inMsg = false
		data := msg
		if compressed {
			if data, err = rp.inflate(msg); err != nil {
				r.rawViolation("a compressed %v message of %d bytes does not inflate: %v", msgOp, len(msg), err)
				return
			}
		}
		if msgOp == wsframe.OpText && !utf8.Valid(data) {
			r.rawViolation("a text message of %d bytes that is not UTF-8", len(data))
			return
		}
		r.peerGot(MessageType(msgOp), data)
		if r.cfg.peerStall && (len(data)%7 == 0 || r.cfg.gentle && len(data)%3 == 0) {
			time.Sleep(time.Duration(len(data)%5000) * time.Microsecond)
		}
	}
}

// rawWriter sends the peer's messages in 1 to 3 fragments, pings between
// them, and large frames in pieces (dribble).
func (r *modelRun) rawWriter() {
	rp := r.raw
	defer close(r.peerWExit)
	defer r.catch("the raw peer's writer")
	rng := rand.New(rand.NewPCG(r.cfg.seed, 0x500))
	pings := 0
	ping := func() error {
		if !r.cfg.pings || rng.IntN(5) != 0 {
			return nil
		}
		pings++
		p := fmt.Sprintf("model-ping-%d", pings)
		rp.pmu.Lock()
		rp.pings[p] = true
		rp.pmu.Unlock()
		return rp.send(rp.p.frame(true, 0, wsframe.OpPing, []byte(p)), false, rng)
	}
	for k := 0; ; k++ {
		final, stop := r.peerNext(k)
		if stop {
			return
		}
		var m modelPeerMsg
		if final {
			m = r.setFinal(k)
		} else {
			m = r.peerMsg(k)
		}
		parts := 1
		if len(m.payload) >= 2 && !final {
			parts = 1 + rng.IntN(3)
		}
		op := wsframe.Opcode(m.typ)
		rest := m.payload
		var err error
		for i := 0; i < parts && err == nil; i++ {
			n := len(rest)
			if i < parts-1 {
				n = rng.IntN(len(rest) + 1)
			}
			err = rp.send(rp.p.frame(i == parts-1, 0, op, rest[:n]), r.cfg.dribble, rng)
			rest, op = rest[n:], wsframe.OpContinuation
			if err == nil {
				err = ping()
			}
		}
		if err != nil {
			r.log.add("peer", "raw write of peer#%d ended: %v", k, err)
			return
		}
		if final {
			r.log.add("peer", "sent its final message, peer#%d", k)
			return
		}
		r.peerPause(rng)
	}
}

// ---------------------------------------------------------------------------
// Running a scenario.

type modelReport struct {
	stats      map[string]int
	viols      []*modelViolation
	log        []string
	total      int
	goroutines bool // the goroutine check passed (the reachability check means something)
}

func runModelScenario(t *testing.T, p modelParams, cfg modelConfig, stats map[string]int) []string {
	base := runtime.NumGoroutine()
	r := newModelRun(t, p, cfg)
	sutCtx := r.sutCtx
	defer sutCtx.cancel()
	if err := r.setup(); err != nil {
		t.Fatalf("model seed %d scenario %d: setup: %v", p.seed, cfg.index, err)
	}
	sutGone, peerGone := make(chan struct{}), make(chan struct{})
	runtime.AddCleanup(r.sut, func(ch chan struct{}) { close(ch) }, sutGone)
	if r.peer != nil {
		runtime.AddCleanup(r.peer, func(ch chan struct{}) { close(ch) }, peerGone)
	} else {
		close(peerGone)
	}
	rep := r.run(base)
	r = nil // from here on, nothing of the run may keep the Conns alive
	for k, n := range rep.stats {
		stats[k] += n
	}

	if rep.goroutines {
		gone := false
		for i := 0; i < 200 && !gone; i++ {
			runtime.GC()
			select {
			case <-sutGone:
				select {
				case <-peerGone:
					gone = true
				default:
				}
			default:
			}
			if !gone {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if !gone {
			rep.viols = append(rep.viols, &modelViolation{kind: "conn-reachable", count: 1,
				detail: "after the run, with every goroutine gone and the long-lived parent context still alive, a Conn is still reachable (something, such as a registration on the context or a timer, holds it)"})
		}
	}
	var kinds []string
	for _, v := range rep.viols {
		kinds = append(kinds, v.kind)
	}
	if len(rep.viols) > 0 || p.verbose {
		var b strings.Builder
		if len(rep.viols) > 0 {
			fmt.Fprintf(&b, "model seed %d, scenario %d (%s): %d kinds of violation\n", p.seed, cfg.index, cfg.name(), len(rep.viols))
		} else {
			fmt.Fprintf(&b, "model seed %d, scenario %d (%s): passed\n", p.seed, cfg.index, cfg.name())
		}
		fmt.Fprintf(&b, "repeat: WS_MODEL_SEED=%d WS_MODEL_SCENARIO=%d go test -race -run '^TestModel$' ./conn\n", p.seed, cfg.index)
		fmt.Fprintf(&b, "config: %v\n", cfg)
		for _, v := range rep.viols {
			fmt.Fprintf(&b, "VIOLATION [%s] ×%d, first: %s\n", v.kind, v.count, v.detail)
		}
		fmt.Fprintf(&b, "last %d of %d log lines (seed %d, scenario %d):\n", len(rep.log), rep.total, p.seed, cfg.index)
		for _, l := range rep.log {
			b.WriteString("  " + l + "\n")
		}
		if len(rep.viols) > 0 {
			t.Error(b.String())
		} else {
			t.Log(b.String())
		}
	}
	return kinds
}

// await waits for ch, at most bound; past that it is a violation of the
// given kind.
func (r *modelRun) await(ch <-chan struct{}, bound time.Duration, kind, what string) bool {
	tm := time.NewTimer(bound)
	defer tm.Stop()
	select {
	case <-ch:
		return true
	case <-tm.C:
		stacks := ""
		if kind == "hang" || kind == "not-done" {
			stacks = "\n" + modelStacks()
		}
		r.violate(kind, "%s did not happen within %v (a generous bound)%s", what, bound, stacks)
		return false
	}
}

// checkZero checks that no registration is left on the SUT's parent
// context once the Conn ended. The context is never cancelled during the
// run, so a registration is gone as soon as it is stopped. (While the Conn
// lives it may keep one per direction for a context without a deadline,
// to reuse: that is only logged.)
func (r *modelRun) checkZero(when string, strict bool) {
	n := r.sutCtx.registrations()
	switch {
	case n == 0:
	case strict:
		r.violate("ctx-registration-left", "%d registration(s) left on the caller's long-lived context %s (rule: none may outlive the calls and the Conn)", n, when)
	default:
		r.log.add("main", "(%d registration(s) on the caller's long-lived context %s: kept for reuse while the Conn lives)", n, when)
	}
}

// catch turns a panic in one of the run's goroutines (a call into the
// package panicked) into a violation, so that the scenario ends and
// reports it with its seed.
func (r *modelRun) catch(who string) {
	if p := recover(); p != nil {
		buf := make([]byte, 64<<10)
		buf = buf[:runtime.Stack(buf, false)]
		r.violate("panic", "%s panicked: %v\n%s", who, p, buf)
		r.sut.CloseNow() // let the other goroutines finish
	}
}

// modelStacks returns the stacks of the goroutines in this module.
func modelStacks() string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ws6455") && !strings.Contains(g, "modelStacks") {
			out = append(out, g)
		}
	}
	if len(out) > 30 {
		out = append(out[:30], fmt.Sprintf("... and %d more", len(out)-30))
	}
	return strings.Join(out, "\n\n")
}

func (r *modelRun) isDone() bool {
	select {
	case <-r.sut.Done():
		return true
	default:
		return false
	}
}

func (r *modelRun) run(base int) modelReport {
	cfg := r.cfg
	if cfg.netConn {
		r.netc = NetConn(context.Background(), r.sut, cfg.netType)
	}
	r.log.add("", "scenario %d: %v", cfg.index, cfg)
	if r.raw != nil {
		go r.rawReader()
		go r.rawWriter()
		go r.rawCtl()
	} else {
		go r.peerReader()
		go r.peerWriter()
	}
	go r.sutReader()
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(cfg.seed, 0x600))
	closeWriter, closeAt := -1, -1
	if cfg.closeOp {
		closeWriter, closeAt = 1+rng.IntN(cfg.writers), rng.IntN(cfg.writerOps)
	}
	for g := 1; g <= cfg.writers; g++ {
		at := -1
		if g == closeWriter {
			at = closeAt
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.catch(fmt.Sprintf("writer w%d", g))
			r.sutWriter(g, at)
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	hung := !r.await(writersDone, modelSafety, "hang", "the writers' calls returning")
	hung = !r.await(r.readerOps, modelSafety, "hang", "the reader's calls returning") || hung
	close(r.peerFinish)
	if hung {
		r.sut.CloseNow()
	}
	expectEnd := r.endCalls.Load() > 0 || r.closeCall.Load() || r.isDone()
	r.log.add("main", "calls done: %d returned CloseCode 0 errors, %d a non-zero CloseCode; Close called %v, Done %v",
		r.zeroCalls.Load(), r.endCalls.Load(), r.closeCall.Load(), r.isDone())

	// After the calls: a round trip, unless the connection was to end.
	roundTrip := false
	if !hung {
		step := "the SUT reading the peer's final message"
		tm := time.NewTimer(modelSafety)
		select {
		case <-r.readerFinal:
		case <-r.readerExit:
		case <-tm.C:
		}
		tm.Stop()
		if r.finalRead() {
			step = "the SUT writing its final message"
			var seq int
			ctx, cancel := context.WithTimeout(context.Background(), modelSafety)
			what := "main final Write"
			a := r.newAttempt(modelFinalW, &seq, MessageBinary, 300, what)
			st := r.begin()
			err := r.sut.Write(ctx, MessageBinary, a.payload)
			out := r.judge(what, ctx, err, st)
			cancel()
			r.settle(a, classOf(out))
			r.logCall("main", what, st, err, out, "")
			if err == nil {
				step = "the peer receiving the SUT's final message"
				tm := time.NewTimer(modelSafety)
				select {
				case <-r.peerFinal:
					roundTrip = true
				case <-r.peerExit:
				case <-tm.C:
				}
				tm.Stop()
			}
		}
		if roundTrip {
			r.log.add("main", "round trip done")
			r.checkZero("once every call had returned and no message was in progress", false)
			st := r.begin()
			err := r.sut.Close(wsframe.CloseNormal, "model done")
			r.log.add("main", "final Close(1000) -> %s (%v)", modelErr(err), time.Since(st.at).Round(10*time.Microsecond))
		} else if !expectEnd {
			r.violate("roundtrip-failed", "no call returned a non-zero CloseCode (%d returned CloseCode 0: outcomes (a)/(b), which leave the connection usable), yet the final round trip failed at: %s (Done closed: %v)\n%s",
				r.zeroCalls.Load(), step, r.isDone(), modelStacks())
		}
	}
	if !r.isDone() {
		r.log.add("main", "waiting for Done()")
	}
	if !r.await(r.sut.Done(), modelDoneBound, "not-done", fmt.Sprintf("Done() closing (%d calls returned a non-zero CloseCode, Close called %v, round trip %v): the connection looks alive", r.endCalls.Load(), r.closeCall.Load(), roundTrip)) {
		r.sut.CloseNow()
	}
	r.log.add("main", "SUT Done")
	readerExited := r.await(r.readerExit, modelSafety, "hang", "the SUT reader returning after Done")
	if !readerExited {
		r.sut.CloseNow()
	}
	// The peer sees the end soon after, unless it is stuck writing (a
	// pong) into a TCP connection whose far end is gone but cannot tell
	// it (a zero window): then it is closed, and how it saw the end is
	// not checked.
	peerExited := true
	tm := time.NewTimer(modelDoneBound)
	select {
	case <-r.peerExit:
	case <-tm.C:
		peerExited = false
		r.log.add("main", "the peer had not seen the end %v after the SUT's Done: closing it, its view of the end is not checked", modelDoneBound)
	}
	tm.Stop()

	// Clean up.
	if readerExited {
		r.releaseStale() // the reader's state is its own until it returned
	}
	close(r.peerStop)
	r.closePeer()
	if r.netc != nil {
		r.netc.Close()
	}
	r.sut.CloseNow()
	for _, f := range r.closeF {
		f()
	}
	r.peerCancel()
	r.await(r.peerWExit, modelSafety, "hang", "the peer's writer returning")
	if r.await(r.peerExit, modelSafety, "hang", "the peer's reader returning once closed") && peerExited {
		r.checkPeerEnd()
		r.checkDelivery()
	}

	goroutinesOK := true
	deadline := time.Now().Add(modelSafety)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		goroutinesOK = false
		r.violate("goroutine-leak", "%d goroutines after the scenario, %d before:\n%s", n, base, modelStacks())
	}
	r.checkZero("after Done() closed and every goroutine returned", true)
	lines, total := r.log.tail(r.p.logLines)
	r.mu.Lock()
	stats := r.stats
	if e := r.firstEnd.Load(); e != nil {
		stats["first end: "+*e]++
	} else {
		stats["first end: none (round trip)"]++
	}
	r.mu.Unlock()
	r.vmu.Lock()
	defer r.vmu.Unlock()
	return modelReport{stats: stats, viols: r.viols, log: lines, total: total, goroutines: goroutinesOK}
}

func (r *modelRun) finalRead() bool {
	select {
	case <-r.readerFinal:
		return true
	default:
		return false
	}
}

func (r *modelRun) closePeer() {
	if r.peer != nil {
		r.peer.CloseNow()
	}
	if r.raw != nil {
		r.raw.p.nc.Close()
	}
}

// checkPeerEnd checks how the SUT ended the connection, as the peer saw it.
func (r *modelRun) checkPeerEnd() {
	pe := r.peerEnd
	if pe.detected != "" {
		return // reported already
	}
	closeFrame, code := pe.closeFrame, pe.code
	var ce CloseError
	var fe *wsframe.Error
	switch {
	case r.raw != nil:
	case errors.As(pe.err, &ce):
		closeFrame, code = true, ce.Code
	case errors.As(pe.err, &fe):
		r.violate("peer-invalid-stream", "the peer (a Conn) found what the SUT sent invalid: %s", modelErr(pe.err))
		return
	}
	if !closeFrame {
		r.log.add("peer", "the connection ended without the SUT's close frame: %s", modelErr(pe.err))
		return
	}
	r.mu.Lock()
	ok := r.codes[code]
	r.mu.Unlock()
	if !ok {
		hint := ""
		switch code {
		case wsframe.CloseProtocolError, wsframe.CloseInvalidPayload, wsframe.CloseUnsupportedData:
			hint = " (the SUT failed the connection on what a well-behaved peer sent: it lost its place in the stream)"
		case wsframe.ClosePolicyViolation:
			hint = " (a read cut short in a message must fail the connection with 1011)"
		}
		r.violate("unexpected-close-code", "the SUT closed the connection with %d (%v)%s; the rule allows 1011 for a failure, or the code given to Close", uint16(code), code, hint)
	}
}

// checkDelivery compares what the SUT's sends reported with what the peer
// received.
func (r *modelRun) checkDelivery() {
	pe := r.peerEnd
	var ce CloseError
	orderly := pe.closeFrame || errors.As(pe.err, &ce)
	if !orderly {
		r.log.add("peer", "(the peer did not read up to a close frame: acknowledged messages are not required to have arrived)")
	}
	type tiny struct{ must, maybe, never int }
	tinies := map[modelTinyKey]*tiny{}
	var recvd []*modelAttempt
	var problems []func()
	r.mu.Lock()
	for _, a := range r.order {
		if len(a.payload) < modelHdr {
			k := modelTinyKey{len(a.payload), a.typ}
			if tinies[k] == nil {
				tinies[k] = &tiny{}
			}
			switch a.class {
			case classMust:
				tinies[k].must++
			case classNever:
				tinies[k].never++
			default:
				tinies[k].maybe++
			}
			continue
		}
		if a.recvPos != 0 {
			recvd = append(recvd, a)
		}
		switch {
		case a.class == classMust && a.recvPos == 0 && orderly:
			problems = append(problems, func() {
				r.violate("lost-message", "%s was reported sent (nil error or queued) but never arrived, although the peer read up to the SUT's close frame", a.op)
			})
		case a.class == classNever && a.recvPos != 0:
			problems = append(problems, func() {
				r.violate("outcome-a-arrived", "%s returned an outcome-(a) error (CloseCode 0, not queued: no trace), yet the message arrived whole%s", a.op, modelQueuedHint)
			})
		}
	}
	for k, c := range tinies {
		got := r.tinyRecv[k]
		switch {
		case got > c.must+c.maybe+c.never:
			problems = append(problems, func() {
				r.violate("altered-delivery", "the peer received %d tiny %v messages of %d bytes, more than were sent (%d)", got, k.typ, k.size, c.must+c.maybe+c.never)
			})
		case got > c.must+c.maybe:
			problems = append(problems, func() {
				r.violate("outcome-a-arrived", "the peer received %d tiny %v messages of %d bytes, but only %d sends of them did not return outcome (a) (%d did)%s", got, k.typ, k.size, c.must+c.maybe, c.never, modelQueuedHint)
			})
		case got < c.must && orderly:
			problems = append(problems, func() {
				r.violate("lost-message", "the peer received %d tiny %v messages of %d bytes, but %d were reported sent", got, k.typ, k.size, c.must)
			})
		}
	}
	// Across writers: a message whose send returned before another's began
	// arrives first.
	for _, a := range recvd {
		for _, b := range recvd {
			if a.end != 0 && a.end < b.start && a.recvPos > b.recvPos {
				problems = append(problems, func() {
					r.violate("order", "%s arrived after %s, although its send returned before the other's began", a.op, b.op)
				})
			}
		}
	}
	r.mu.Unlock()
	for _, f := range problems {
		f()
	}
}

const modelQueuedHint = " (if its error said the rest of the frame is queued, this is outcome (b) without the ErrQueued sentinel: see isQueued)"
