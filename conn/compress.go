package conn

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// CompressionMode selects permessage-deflate (RFC 7692).
type CompressionMode int

const (
	// CompressionDisabled neither offers nor accepts compression. It is the
	// default.
	CompressionDisabled CompressionMode = iota
	// CompressionNoContextTakeover compresses every message on its own, in
	// both directions. A connection holds no compression state between
	// messages: compressors and decompressors come from pools while a
	// message is being written or read. The right choice for many
	// connections, or messages that share little.
	CompressionNoContextTakeover
	// CompressionContextTakeover lets each side compress a message with the
	// help of the previous ones (a 32 KiB sliding window), which pays for
	// small, similar messages (chat, JSON updates). It costs memory per
	// connection: 64 KiB for the window of what the peer sends, and
	// compress/flate's compressor, about 1.2 MiB, once this side has sent a
	// compressed message (BenchmarkIdleMemoryCompression measures it). For
	// many connections, prefer CompressionNoContextTakeover.
	CompressionContextTakeover
)

// String returns the mode's name.
func (m CompressionMode) String() string {
	switch m {
	case CompressionDisabled:
		return "disabled"
	case CompressionNoContextTakeover:
		return "no-context-takeover"
	case CompressionContextTakeover:
		return "context-takeover"
	}
	return fmt.Sprintf("CompressionMode(%d)", int(m))
}

// DefaultCompressionThreshold is the size below which messages are sent
// uncompressed: deflate does not pay for tiny messages.
const DefaultCompressionThreshold = 128

// deflateTail is what a sync flush ends with; RFC 7692 §7.2.1 strips it
// from every compressed message and §7.2.2 puts it back before inflating.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// maxWindow is the size of deflate's largest window (15 bits).
const maxWindow = 1 << 15

// deflateConfig is what the handshake settled on for one connection.
type deflateConfig struct {
	writeTakeover bool // this side may keep its compression context
	readTakeover  bool // the peer keeps its context: keep a window of what it sent
	writeBits     int  // largest window this side may use, 8..15
	level         int  // compress/flate level
	threshold     int  // messages shorter than this go uncompressed
}

// serverDeflate chooses the response to the client's permessage-deflate
// offers: the first offer that is valid, adjusted to the mode. It returns
// the response and the connection's configuration, or false when no offer
// is acceptable (compression is then off).
func serverDeflate(mode CompressionMode, offers []handshake.Extension) (handshake.Extension, handshake.DeflateParams, bool) {
	if mode == CompressionDisabled {
		return handshake.Extension{}, handshake.DeflateParams{}, false
	}
	for _, e := range offers {
		if !strings.EqualFold(e.Name, handshake.DeflateName) {
			continue
		}
		p, err := handshake.ParseDeflateParams(e, true)
		if err != nil {
			continue // RFC 7692 §5: decline an offer we cannot honour
		}
		resp := handshake.DeflateParams{
			ServerNoContextTakeover: p.ServerNoContextTakeover || mode == CompressionNoContextTakeover,
			ClientNoContextTakeover: p.ClientNoContextTakeover || mode == CompressionNoContextTakeover,
			ServerMaxWindowBits:     p.ServerMaxWindowBits,
		}
		return resp.Extension(), resp, true
	}
	return handshake.Extension{}, handshake.DeflateParams{}, false
}

// clientDeflateOffer is what a client offers for the mode.
func clientDeflateOffer(mode CompressionMode) handshake.Extension {
	p := handshake.DeflateParams{ClientMaxWindowBits: -1}
	if mode == CompressionNoContextTakeover {
		p.ClientNoContextTakeover = true
		p.ServerNoContextTakeover = true
	}
	return p.Extension()
}

// clientDeflateResponse validates the server's answer to our offer.
func clientDeflateResponse(accepted []handshake.Extension) (handshake.DeflateParams, bool, error) {
	var found bool
	var p handshake.DeflateParams
	for _, e := range accepted {
		if !strings.EqualFold(e.Name, handshake.DeflateName) {
			continue
		}
		if found {
			return p, false, errors.New("conn: server accepted permessage-deflate twice")
		}
		var err error
		if p, err = handshake.ParseDeflateParams(e, false); err != nil {
			return p, false, fmt.Errorf("conn: server's permessage-deflate response: %w", err)
		}
		found = true
	}
	return p, found, nil
}

// newDeflateConfig turns the accepted parameters into this side's config.
func newDeflateConfig(p handshake.DeflateParams, client bool, level, threshold int) *deflateConfig {
	cfg := &deflateConfig{level: level, threshold: threshold}
	if cfg.level == 0 {
		cfg.level = flate.BestSpeed
	}
	if cfg.threshold == 0 {
		cfg.threshold = DefaultCompressionThreshold
	}
	ownNoTakeover, peerNoTakeover, ownBits := p.ServerNoContextTakeover, p.ClientNoContextTakeover, p.ServerMaxWindowBits
	if client {
		ownNoTakeover, peerNoTakeover, ownBits = p.ClientNoContextTakeover, p.ServerNoContextTakeover, p.ClientMaxWindowBits
	}
	cfg.writeTakeover = !ownNoTakeover
	cfg.readTakeover = !peerNoTakeover
	cfg.writeBits = 15
	if ownBits > 0 {
		cfg.writeBits = ownBits
	}
	return cfg
}

// A window smaller than deflate's 32 KiB is honoured by Huffman-only
// coding: it makes no back-references at all, so it fits any window, and
// needs no context either. compress/flate cannot limit the window of its
// LZ77 stages.
func (cfg *deflateConfig) huffmanOnly() bool { return cfg.writeBits < 15 }

// Compressors are pooled per level (flate.Writer is large).
var flateWriterPools sync.Map // level → *sync.Pool

func getFlateWriter(level int, w io.Writer) *flate.Writer {
	pool, _ := flateWriterPools.LoadOrStore(level, &sync.Pool{})
	if fw, ok := pool.(*sync.Pool).Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	fw, err := flate.NewWriter(w, level)
	if err != nil { // an invalid level: fall back to the default
		fw, _ = flate.NewWriter(w, flate.BestSpeed)
	}
	return fw
}

func putFlateWriter(level int, fw *flate.Writer) {
	fw.Reset(io.Discard)
	pool, _ := flateWriterPools.LoadOrStore(level, &sync.Pool{})
	pool.(*sync.Pool).Put(fw)
}

// sliceWriter appends what is written to a slice.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// compressor is the write side of permessage-deflate for one connection.
type compressor struct {
	cfg  *deflateConfig
	out  sliceWriter
	bp   *[]byte       // the pooled buffer behind out
	fw   *flate.Writer // kept across messages with context takeover
	live *flate.Writer // the writer of the message being compressed
}

var compressBufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

// begin prepares to compress one message into cp.out, a pooled buffer
// given back by done.
func (cp *compressor) begin() {
	if cp.out.b == nil {
		cp.bp = compressBufPool.Get().(*[]byte)
		cp.out.b = (*cp.bp)[:0]
	}
	cp.out.b = cp.out.b[:0]
	switch {
	case cp.cfg.huffmanOnly():
		cp.live = getFlateWriter(flate.HuffmanOnly, &cp.out)
	case cp.cfg.writeTakeover:
		if cp.fw == nil {
			cp.fw, _ = flate.NewWriter(&cp.out, cp.cfg.level)
			if cp.fw == nil {
				cp.fw, _ = flate.NewWriter(&cp.out, flate.BestSpeed)
			}
		}
		cp.live = cp.fw
	default:
		cp.live = getFlateWriter(cp.cfg.level, &cp.out)
	}
}

// write compresses p into c.out.
func (cp *compressor) write(p []byte) error {
	_, err := cp.live.Write(p)
	return err
}

// end flushes the message and strips the tail; c.out.b is the payload.
func (cp *compressor) end() error {
	err := cp.live.Flush()
	if err == nil && !bytes.HasSuffix(cp.out.b, deflateTail) {
		err = errors.New("conn: deflate flush did not end with 00 00 ff ff")
	}
	if err == nil {
		cp.out.b = cp.out.b[:len(cp.out.b)-len(deflateTail)]
	}
	cp.release()
	return err
}

// release gives a pooled writer back.
func (cp *compressor) release() {
	if cp.live == nil || cp.live == cp.fw {
		cp.live = nil
		return
	}
	level := cp.cfg.level
	if cp.cfg.huffmanOnly() {
		level = flate.HuffmanOnly
	}
	putFlateWriter(level, cp.live)
	cp.live = nil
}

// compress compresses a whole message; the result is valid until done.
func (cp *compressor) compress(p []byte) ([]byte, error) {
	cp.begin()
	if err := cp.write(p); err != nil {
		cp.release()
		return nil, err
	}
	if err := cp.end(); err != nil {
		return nil, err
	}
	return cp.out.b, nil
}

// done gives the output buffer back once the compressed message is sent.
// A buffer that grew large for one big message is dropped, not pooled.
func (cp *compressor) done() {
	if cp.bp != nil && cap(cp.out.b) <= 64<<10 {
		*cp.bp = cp.out.b[:0]
		compressBufPool.Put(cp.bp)
	}
	cp.bp, cp.out.b = nil, nil
}

// inflater decompresses one message. Inflaters are pooled: a connection
// holds one only while it reads a compressed message.
type inflater struct {
	fr  io.ReadCloser // a compress/flate reader, also a flate.Resetter
	src inflateSource
}

var inflaterPool = sync.Pool{New: func() any {
	in := &inflater{}
	in.fr = flate.NewReader(&in.src)
	return in
}}

// inflateSource feeds a compressed message to the flate reader: the frame
// payloads (unmasked, through Conn.readRaw) and then the stripped tail. It
// is an io.ByteReader, so that the flate reader never reads past the
// message.
type inflateSource struct {
	c    *Conn
	buf  [2048]byte
	r, w int
	tail int // bytes of deflateTail already given
	done bool
	err  error // the error of the last fill, which the flate reader keeps
}

func (s *inflateSource) fill() error {
	if s.done {
		if s.tail < len(deflateTail) {
			n := copy(s.buf[:], deflateTail[s.tail:])
			s.tail += n
			s.r, s.w = 0, n
			return nil
		}
		return io.EOF
	}
	n, err := s.c.readRaw(s.buf[:])
	for err == errControl {
		if err = s.c.answerPing(); err == nil {
			n, err = s.c.readRaw(s.buf[:])
		}
	}
	s.r, s.w = 0, n
	if err == io.EOF {
		s.done = true
		if n == 0 {
			return s.fill()
		}
		return nil
	}
	if err != nil {
		s.err = err
	}
	return err
}

func (s *inflateSource) ReadByte() (byte, error) {
	for s.r == s.w {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.r]
	s.r++
	return b, nil
}

func (s *inflateSource) Read(p []byte) (int, error) {
	for s.r == s.w {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.r:s.w])
	s.r += n
	return n, nil
}

// exhausted reports whether the whole message, tail included, was given.
func (s *inflateSource) exhausted() bool {
	return s.done && s.tail == len(deflateTail) && s.r == s.w
}

// errCorruptDeflate is the error for compressed data that does not
// inflate. RFC 7692 asks to fail the connection without naming a code; we
// send 1007 (invalid payload data), text or binary alike: the payload is
// not what its framing says it is.
var errCorruptDeflate = &wsframe.Error{Code: wsframe.CloseInvalidPayload, Reason: "invalid compressed data"}

// decompressor is the read side of permessage-deflate for one connection.
type decompressor struct {
	takeover bool
	window   []byte    // the last 32 KiB of what the peer sent, with context takeover
	in       *inflater // while a compressed message is read
}

// begin starts inflating a message.
func (d *decompressor) begin(c *Conn) {
	d.in = inflaterPool.Get().(*inflater)
	d.in.src = inflateSource{c: c}
	var dict []byte
	if d.takeover && len(d.window) > 0 {
		dict = d.window[max(0, len(d.window)-maxWindow):]
	}
	d.in.fr.(flate.Resetter).Reset(&d.in.src, dict)
}

// read inflates into p. It returns io.EOF once the message is complete.
func (d *decompressor) read(p []byte) (int, error) {
	if len(p) == 0 {
		// The flate reader returns (0, nil) for an empty p even when it
		// holds output, which the check below would take for the end.
		return 0, nil
	}
	n, err := d.in.fr.Read(p)
	if n > 0 && d.takeover {
		d.remember(p[:n])
	}
	if err == nil && d.in.src.err != nil {
		// The flate reader met an error of the connection (a timeout)
		// and keeps it, though it returns what it had decoded before:
		// say so now, so that this call, the one cut short, reports it.
		err = d.in.src.err
	}
	if err == nil {
		if n == 0 && d.in.src.exhausted() {
			return 0, io.EOF
		}
		return n, nil
	}
	if (err == io.ErrUnexpectedEOF || err == io.EOF) && d.in.src.exhausted() {
		// The flate reader ran out of input after the sync flush: that is
		// the end of the message.
		return n, io.EOF
	}
	var fe *wsframe.Error
	if errors.As(err, &fe) {
		return n, err
	}
	var ce flate.CorruptInputError
	if errors.As(err, &ce) || err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, errCorruptDeflate
	}
	return n, err // an I/O error from the connection
}

// remember appends inflated bytes to the window, keeping its last 32 KiB.
func (d *decompressor) remember(p []byte) {
	if len(p) >= maxWindow {
		d.window = append(d.window[:0], p[len(p)-maxWindow:]...)
		return
	}
	if len(d.window)+len(p) > 2*maxWindow {
		keep := d.window[len(d.window)-(maxWindow-len(p)):]
		d.window = append(d.window[:0], keep...)
	}
	if d.window == nil {
		d.window = make([]byte, 0, 2*maxWindow)
	}
	d.window = append(d.window, p...)
}

// end returns the inflater to the pool.
func (d *decompressor) end() {
	if d.in != nil {
		d.in.src = inflateSource{}
		inflaterPool.Put(d.in)
		d.in = nil
	}
}
