package suite

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"sync"
)

// deflateOffer is one permessage-deflate offer a client makes (RFC 7692),
// in the shape the real suite uses: it always says it accepts the server
// asking it to drop context takeover or to use a smaller window, and may
// ask the server for either.
type deflateOffer struct {
	// requestNoContextTakeover asks the server not to keep its compression
	// context between messages (server_no_context_takeover).
	requestNoContextTakeover bool
	// requestMaxWindowBits, when 8..15, asks the server to use at most a
	// window of 2^bits (server_max_window_bits).
	requestMaxWindowBits int
}

func (o deflateOffer) header() string {
	s := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	if o.requestNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.requestMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.requestMaxWindowBits)
	}
	return s
}

// deflateAccept is how the suite, as a server, answers an offer: accept it
// and optionally ask the client to drop context takeover or to shrink its
// window. ok=false declines the offer.
type deflateAccept func(o clientOffer) (resp deflateParams, ok bool)

// deflateSpec configures compression for a case in both roles.
type deflateSpec struct {
	offers []deflateOffer
	accept deflateAccept
}

// clientOffer is a parsed offer from a client under test.
type clientOffer struct {
	serverNoContextTakeover bool
	serverMaxWindowBits     int // 0: not present
	clientNoContextTakeover bool
	clientMaxWindowBits     int // -1: present without value, 0: absent
}

// deflateParams are the negotiated parameters of a connection.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0: default (15)
	clientMaxWindowBits     int // 0: default (15)
}

func (p deflateParams) header() string {
	s := "permessage-deflate"
	if p.serverNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if p.clientNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if p.serverMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(p.serverMaxWindowBits)
	}
	if p.clientMaxWindowBits != 0 {
		s += "; client_max_window_bits=" + strconv.Itoa(p.clientMaxWindowBits)
	}
	return s
}

// extension is one element of a Sec-WebSocket-Extensions header.
type extension struct {
	name   string
	params map[string]string // value "" for a parameter without value
	order  []string
}

// parseExtensions splits a Sec-WebSocket-Extensions value. Quoted values
// are not used by permessage-deflate and are rejected.
func parseExtensions(v string) ([]extension, error) {
	var out []extension
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ";")
		e := extension{name: strings.ToLower(strings.TrimSpace(parts[0])), params: map[string]string{}}
		if e.name == "" {
			return nil, fmt.Errorf("empty extension name in %q", v)
		}
		for _, p := range parts[1:] {
			p = strings.TrimSpace(p)
			if p == "" {
				return nil, fmt.Errorf("empty extension parameter in %q", v)
			}
			k, val, _ := strings.Cut(p, "=")
			k = strings.ToLower(strings.TrimSpace(k))
			val = strings.TrimSpace(val)
			if strings.ContainsAny(val, "\"") {
				return nil, fmt.Errorf("quoted extension parameter in %q", v)
			}
			if _, dup := e.params[k]; dup {
				return nil, fmt.Errorf("duplicate extension parameter %q", k)
			}
			e.params[k] = val
			e.order = append(e.order, k)
		}
		out = append(out, e)
	}
	return out, nil
}

func windowBits(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, fmt.Errorf("window bits %q not in 8..15", v)
	}
	return n, nil
}

// parseDeflateResponse reads a server's answer to our offers. It returns
// nil params when the server did not enable permessage-deflate. Like the
// real suite, it takes any well-formed answer, whether or not it grants
// what an offer asked of the server (gorilla's server, for one, answers
// every offer with both no_context_takeover parameters and ignores window
// requests): the parameters only say how each side compresses, and the
// suite inflates any window up to 2^15. The cases judge the echoes.
func parseDeflateResponse(v string) (*deflateParams, error) {
	exts, err := parseExtensions(v)
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, nil
	}
	if len(exts) > 1 || exts[0].name != "permessage-deflate" {
		return nil, fmt.Errorf("server enabled extensions we did not offer: %q", v)
	}
	var p deflateParams
	for _, k := range exts[0].order {
		val := exts[0].params[k]
		switch k {
		case "server_no_context_takeover":
			p.serverNoContextTakeover = true
		case "client_no_context_takeover":
			p.clientNoContextTakeover = true
		case "server_max_window_bits":
			if p.serverMaxWindowBits, err = windowBits(val); err != nil {
				return nil, err
			}
		case "client_max_window_bits":
			if p.clientMaxWindowBits, err = windowBits(val); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown permessage-deflate parameter %q", k)
		}
	}
	return &p, nil
}

// parseClientOffers reads the permessage-deflate offers of a client.
func parseClientOffers(v string) ([]clientOffer, error) {
	exts, err := parseExtensions(v)
	if err != nil {
		return nil, err
	}
	var out []clientOffer
	for _, e := range exts {
		if e.name != "permessage-deflate" {
			continue
		}
		var o clientOffer
		ok := true
		for _, k := range e.order {
			val := e.params[k]
			switch k {
			case "server_no_context_takeover":
				o.serverNoContextTakeover = true
			case "client_no_context_takeover":
				o.clientNoContextTakeover = true
			case "server_max_window_bits":
				if o.serverMaxWindowBits, err = windowBits(val); err != nil {
					ok = false
				}
			case "client_max_window_bits":
				o.clientMaxWindowBits = -1
				if val != "" {
					if o.clientMaxWindowBits, err = windowBits(val); err != nil {
						ok = false
					}
				}
			default:
				ok = false
			}
		}
		if ok {
			out = append(out, o)
		}
	}
	return out, nil
}

// pmdConn is the compression state of one connection. send* is our side,
// recv* the peer's.
type pmdConn struct {
	sendNoTakeover bool
	sendHuffOnly   bool // our window is limited below 32 KiB
	recvNoTakeover bool

	sendBuf bytes.Buffer
	fw      *flate.Writer
	// sendStarted says a message was compressed (or taken from the
	// cache); sendKey names what went into the compressor since its last
	// reset, and pending holds the messages taken from the cache that the
	// compressor has not seen yet (context takeover only).
	sendStarted  bool
	sendKey      streamKey
	pending      [][]byte
	pendingBytes int
	// sentKey names the compressed messages sent since the compressor's
	// last reset, the way recvKey names received ones: what the last of
	// them inflates to is known without inflating it (see compress).
	sentKey streamKey
	// lastSent is the last message compressed and lastDigest its digest:
	// when the case expects it back (expect is the same slice), its
	// checksum need not be computed again.
	lastSent   []byte
	lastDigest digest

	recvIn   []byte
	recvDict []byte
	fr       io.ReadCloser
	inBuf    bytes.Reader
	outBuf   bytes.Buffer
	// recvKey names the compressed messages inflated since the last
	// reset of the window; expect is the message the suite expects back
	// next (nil: none), which lets endMessage skip inflating an echo it
	// has inflated before.
	recvStarted bool
	recvBroken  bool
	recvKey     streamKey
	expect      []byte
}

// newPMD sets up compression; isServer says which side of params we are.
func newPMD(p deflateParams, isServer bool) *pmdConn {
	c := &pmdConn{}
	if isServer {
		c.sendNoTakeover = p.serverNoContextTakeover
		c.sendHuffOnly = p.serverMaxWindowBits != 0 && p.serverMaxWindowBits < 15
		c.recvNoTakeover = p.clientNoContextTakeover
	} else {
		c.sendNoTakeover = p.clientNoContextTakeover
		c.sendHuffOnly = p.clientMaxWindowBits != 0 && p.clientMaxWindowBits < 15
		c.recvNoTakeover = p.serverNoContextTakeover
	}
	return c
}

// maxPending bounds the messages a connection keeps for its compressor
// to catch up with after cache hits (context takeover only); past it the
// compressor catches up at once.
const maxPending = 256 << 20

// compress deflates one message and strips the final 00 00 ff ff. A
// window limit below the default cannot be honoured by compress/flate, so
// then the suite sends Huffman-only blocks, which need no window at all.
// The result is valid until the next call and must not be modified
// (sendFrame copies it); p must not be modified after the call either,
// since with context takeover a cache hit keeps it for the compressor to
// catch up with.
//
// The compressor is deterministic: the same messages, from the same
// reset, give the same bytes. Groups 12 and 13 send the same sequences
// of messages again and again (13.1 to 13.7 and 12.1 cut the same
// corpus), so the output is cached under a key of everything the
// compressor saw since its reset (sendKey). With context takeover a hit
// leaves the compressor behind; the message is kept in pending, and the
// next miss first feeds the compressor what it missed, so its state is
// always the one it would have had without the cache.
func (c *pmdConn) compress(p []byte) []byte {
	level := flate.BestSpeed
	if c.sendHuffOnly {
		level = flate.HuffmanOnly
	}
	fresh := !c.sendStarted || c.sendNoTakeover
	c.sendStarted = true
	if fresh {
		c.sendKey = streamKey{1, uint64(level + 10)}
		c.sentKey = streamKey{2, 0}
		c.pending, c.pendingBytes = nil, 0
	}
	d := digestOf(p)
	c.sendKey = c.sendKey.chain(len(p), d)
	if out, ok := deflateCache.get(c.sendKey); ok {
		if c.sendNoTakeover {
			c.sent(out, p, d)
			return out
		}
		if c.pendingBytes+len(p) <= maxPending {
			c.pending = append(c.pending, p)
			c.pendingBytes += len(p)
			c.sent(out, p, d)
			return out
		}
	}
	if c.fw == nil {
		c.fw, _ = flate.NewWriter(&c.sendBuf, level)
	} else if fresh {
		c.fw.Reset(&c.sendBuf)
	}
	for _, q := range c.pending {
		c.sendBuf.Reset()
		c.fw.Write(q)
		c.fw.Flush()
	}
	c.pending, c.pendingBytes = nil, 0
	c.sendBuf.Reset()
	c.fw.Write(p)
	c.fw.Flush()
	out := bytes.TrimSuffix(c.sendBuf.Bytes(), []byte{0, 0, 0xff, 0xff})
	if len(out) == 0 {
		out = []byte{0}
	}
	out = bytes.Clone(out)
	deflateCache.put(c.sendKey, out)
	c.sent(out, p, d)
	return out
}

// sent records that the compressed message out, which inflates to p (with
// digest d), follows the messages sent since the last reset. Inflating the
// same compressed messages from an empty window gives the same messages,
// so a peer that echoes them with a compressor like ours (compress/flate
// at the same level, the same history: most Go peers) sends bytes whose
// inflated checksum is already in inflateCache, under the key endMessage
// computes for them. Only the checksum is stored; the echo is still
// compared with the message the case expects.
func (c *pmdConn) sent(out, p []byte, d digest) {
	c.lastSent, c.lastDigest = p, d
	if c.sendNoTakeover != c.recvNoTakeover {
		// The two directions reset at different times (the server
		// role's offer asks the suite not to keep its context): the
		// echo's key never names what the suite sent, past its first
		// message. Nothing to hash.
		return
	}
	c.sentKey = c.sentKey.next(out)
	inflateCache.put(c.sentKey, inflated{streamKey{}.chain(len(p), d), len(p)})
}

func (c *pmdConn) startMessage() { c.recvIn = c.recvIn[:0] }

// inflate collects compressed payload; the message is inflated at its end.
func (c *pmdConn) inflate(p []byte, limit int) ([]byte, error) {
	if len(c.recvIn)+len(p) > maxMessage {
		return nil, errors.New("compressed message too big")
	}
	c.recvIn = append(c.recvIn, p...)
	return nil, nil
}

// endMessage inflates the collected message, at most limit bytes.
//
// Inflating is deterministic too: the window is the last 32 KiB of what
// the compressed messages since its reset inflated to, so those messages
// (recvKey) and this one decide the output. When the same key inflated
// before to a message with the checksum and length of the one the suite
// expects (c.expect), that message is the output, without inflating.
func (c *pmdConn) endMessage(limit int) ([]byte, error) {
	if c.recvNoTakeover || !c.recvStarted {
		c.recvKey = streamKey{2, 0}
	}
	c.recvStarted = true
	c.recvKey = c.recvKey.next(c.recvIn)
	want := c.expect
	c.expect = nil
	if want != nil && len(want) <= limit && !c.recvBroken {
		if s, ok := inflateCache.get(c.recvKey); ok && s.n == len(want) && s.sum == c.sumOfExpected(want) {
			if !c.recvNoTakeover {
				c.keepWindow(want)
			}
			return want[:len(want):len(want)], nil
		}
	}
	in := append(c.recvIn, 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
	var dict []byte
	if !c.recvNoTakeover {
		dict = c.recvDict
	}
	c.inBuf.Reset(in)
	if c.fr == nil {
		c.fr = flate.NewReaderDict(&c.inBuf, dict)
	} else {
		c.fr.(flate.Resetter).Reset(&c.inBuf, dict)
	}
	c.outBuf.Reset()
	if _, err := c.outBuf.ReadFrom(io.LimitReader(c.fr, int64(limit)+1)); err != nil {
		c.recvBroken = true
		return nil, err
	}
	out := bytes.Clone(c.outBuf.Bytes())
	if len(out) > limit {
		c.recvBroken = true
		return nil, errors.New("inflated message too big")
	}
	if !c.recvNoTakeover {
		c.keepWindow(out)
	}
	if !c.recvBroken {
		inflateCache.put(c.recvKey, inflated{sumOf(out), len(out)})
	}
	return out, nil
}

// sumOfExpected is sumOf(want), without hashing want again when it is the
// message last compressed (compress's callers do not modify it).
func (c *pmdConn) sumOfExpected(want []byte) streamKey {
	if len(want) > 0 && len(want) == len(c.lastSent) && &want[0] == &c.lastSent[0] {
		return streamKey{}.chain(len(want), c.lastDigest)
	}
	return sumOf(want)
}

// windowSize is the largest LZ77 window of permessage-deflate (2^15).
const windowSize = 32 << 10

// keepWindow appends a message's inflated bytes to the window the next
// message may refer to, keeping only the last 32 KiB, in storage reused
// from message to message.
func (c *pmdConn) keepWindow(out []byte) {
	if len(out) >= windowSize {
		c.recvDict = append(c.recvDict[:0], out[len(out)-windowSize:]...)
		return
	}
	if drop := len(c.recvDict) + len(out) - windowSize; drop > 0 {
		n := copy(c.recvDict, c.recvDict[drop:])
		c.recvDict = c.recvDict[:n]
	}
	c.recvDict = append(c.recvDict, out...)
}

// acceptAsOffered accepts a client's offer, honouring what it asks of the
// server and asking nothing of the client.
func acceptAsOffered(o clientOffer) (deflateParams, bool) {
	return deflateParams{serverNoContextTakeover: o.serverNoContextTakeover, serverMaxWindowBits: o.serverMaxWindowBits}, true
}

// acceptAsking accepts an offer and asks the client to drop context
// takeover (noTakeover) and/or to use at most a 2^bits window (bits > 0).
// A server may always ask a client to drop context takeover (RFC 7692
// §7.1.1.2; the real suite does so with clients that did not offer it), but
// may limit the client's window only if the offer says the client can: it
// declines offers that do not.
func acceptAsking(noTakeover bool, bits int) deflateAccept {
	return func(o clientOffer) (deflateParams, bool) {
		if bits > 0 && o.clientMaxWindowBits == 0 {
			return deflateParams{}, false
		}
		p, _ := acceptAsOffered(o)
		p.clientNoContextTakeover = noTakeover
		p.clientMaxWindowBits = bits
		return p, true
	}
}

// firstOf tries accept functions in order.
func firstOf(fs ...deflateAccept) deflateAccept {
	return func(o clientOffer) (deflateParams, bool) {
		for _, f := range fs {
			if p, ok := f(o); ok {
				return p, true
			}
		}
		return deflateParams{}, false
	}
}

// deflateParamSets are the seven offer/answer combinations of group 13:
// what the suite offers as a client, and how it answers as a server.
var deflateParamSets = []struct {
	desc   string
	offers []deflateOffer
	accept deflateAccept
}{
	{"client offers the defaults; server accepts as offered",
		[]deflateOffer{{}}, acceptAsOffered},
	{"client asks the server not to keep context; server asks the same of the client",
		[]deflateOffer{{requestNoContextTakeover: true}}, acceptAsking(true, 0)},
	{"client asks the server for a 2^9 window; server asks the client for 2^9",
		[]deflateOffer{{requestMaxWindowBits: 9}}, acceptAsking(false, 9)},
	{"client asks the server for a 2^15 window; server asks the client for 2^15",
		[]deflateOffer{{requestMaxWindowBits: 15}}, acceptAsking(false, 15)},
	{"client asks for no context and a 2^9 window; server asks the same",
		[]deflateOffer{{requestNoContextTakeover: true, requestMaxWindowBits: 9}}, acceptAsking(true, 9)},
	{"client asks for no context and a 2^15 window; server asks the same",
		[]deflateOffer{{requestNoContextTakeover: true, requestMaxWindowBits: 15}}, acceptAsking(true, 15)},
	{"client makes three offers (no context with 2^9 window, no context, defaults); server takes the first it can",
		[]deflateOffer{{requestNoContextTakeover: true, requestMaxWindowBits: 9}, {requestNoContextTakeover: true}, {}},
		firstOf(acceptAsking(true, 9), acceptAsking(true, 0), acceptAsOffered)},
}

// streamKey names a sequence of messages by two independent 64-bit hashes
// (with seeds of this process): equal keys mean equal sequences, but for
// a chance of about 2^-128 per pair.
type streamKey [2]uint64

var streamSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// digest is a message's hash under each of the two seeds.
type digest [2]uint64

func digestOf(p []byte) digest {
	return digest{maphash.Bytes(streamSeeds[0], p), maphash.Bytes(streamSeeds[1], p)}
}

// next is the key of the sequence k followed by p.
func (k streamKey) next(p []byte) streamKey { return k.chain(len(p), digestOf(p)) }

// chain is next for a message of length n and digest d.
func (k streamKey) chain(n int, d digest) streamKey {
	var b [40]byte
	var out streamKey
	for i, seed := range streamSeeds {
		binary.LittleEndian.PutUint64(b[0:], k[0])
		binary.LittleEndian.PutUint64(b[8:], k[1])
		binary.LittleEndian.PutUint64(b[16:], uint64(i))
		binary.LittleEndian.PutUint64(b[24:], uint64(n))
		binary.LittleEndian.PutUint64(b[32:], d[i])
		out[i] = maphash.Bytes(seed, b[:])
	}
	return out
}

// sumOf is the checksum of one message.
func sumOf(p []byte) streamKey { return streamKey{}.next(p) }

// inflated is what a compressed message inflated to: its checksum and
// length.
type inflated struct {
	sum streamKey
	n   int
}

// streamCache maps stream keys to values, shared by the cases of one
// process, up to a budget of bytes (after which it only answers).
type streamCache[V any] struct {
	mu     sync.Mutex
	m      map[streamKey]V
	used   int
	budget int
	size   func(V) int
	hits   int // answers given, for tests
}

func (c *streamCache[V]) get(k streamKey) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if ok {
		c.hits++
	}
	return v, ok
}

func (c *streamCache[V]) put(k streamKey, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.size(v) + 64
	if _, ok := c.m[k]; ok || c.used+n > c.budget {
		return
	}
	if c.m == nil {
		c.m = map[streamKey]V{}
	}
	c.m[k] = v
	c.used += n
}

var (
	// deflateCache holds compressed messages (a copy: callers reuse
	// their buffers), 512 MiB at most.
	deflateCache = streamCache[[]byte]{budget: 512 << 20, size: func(b []byte) int { return len(b) }}
	// inflateCache holds checksums of inflated messages.
	inflateCache = streamCache[inflated]{budget: 64 << 20, size: func(inflated) int { return 32 }}
)
