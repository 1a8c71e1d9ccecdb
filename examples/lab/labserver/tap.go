package labserver

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"sync"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// maxTapBacklog bounds the raw bytes a tap holds that no frame header has
// claimed yet; past it the tap stops pairing bytes with frames (frames are
// still reported, without their bytes).
const maxTapBacklog = 1 << 20

// A tap sits between a lab socket's Conn and its TCP connection. It keeps
// the 101 response as written, and the raw bytes read, which it pairs with
// the headers that the frame observer reports: each received frame is
// reported once all of its bytes went through, with its header bytes and
// its payload as they crossed the wire (masked).
//
// Received frames arrive in order and the observer is told about each one
// as soon as its header is decoded, while its bytes are already (or about
// to be) in the tap: the frame takes the next h.Size() bytes as its header
// and the following h.Length as its payload.
type tap struct {
	ss *session

	mu       sync.Mutex
	resp     []byte // the handshake response, as written
	respDone bool
	in       []byte     // raw bytes read that no frame has claimed yet
	pending  []*inFrame // frames announced by the observer, bytes not all seen
	broken   bool       // the pairing was given up (see maxTapBacklog)

	// The received message in progress (reset by takeMessage).
	msgFrames int
	msgWire   int64
	msgRSV1   bool
}

// inFrame is a received frame whose bytes are being collected.
type inFrame struct {
	h         wsframe.Header
	t         float64
	hdr       []byte
	hdrDone   bool
	payload   []byte // the first shownBytes of the payload, masked
	remaining int64
}

func newTap(ss *session) *tap { return &tap{ss: ss} }

// onFrame is the lab socket's frame observer.
func (t *tap) onFrame(dir conn.Direction, h wsframe.Header, p []byte) {
	if dir == conn.Outbound {
		// A sent frame is whole in memory: p is its payload (compressed
		// if RSV1; the server does not mask).
		if !h.Opcode.IsControl() {
			ss := t.ss
			ss.outFrames++
			ss.outWire += h.Length
			if h.Opcode != wsframe.OpContinuation {
				ss.outRSV1 = h.Rsv&wsframe.RSV1 != 0
			}
		}
		t.ss.report(frameReport("out", t.ss.ms(), h, wsframe.AppendHeader(nil, h), p[:min(len(p), shownBytes)]))
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, &inFrame{h: h, t: t.ss.ms()})
	t.process()
}

// feed adds raw bytes read from the connection.
func (t *tap) feed(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken {
		return
	}
	t.in = append(t.in, p...)
	t.process()
	if len(t.in) > maxTapBacklog {
		t.giveUp("more raw bytes than the frame reports claim")
	}
}

// process hands the raw bytes to the pending frames, in order, and reports
// each frame whose bytes have all been seen. The caller holds mu.
func (t *tap) process() {
	for len(t.pending) > 0 {
		f := t.pending[0]
		if t.broken {
			t.emit(f)
			t.pending = t.pending[1:]
			continue
		}
		if !f.hdrDone {
			n := f.h.Size()
			if len(t.in) < n {
				return
			}
			f.hdr = append([]byte(nil), t.in[:n]...)
			t.in = t.in[n:]
			f.hdrDone = true
			f.remaining = f.h.Length
			if !bytes.Equal(f.hdr, wsframe.AppendHeader(nil, f.h)) {
				// Not the shortest form, or out of step: either way
				// the bytes that follow cannot be trusted to pair.
				t.giveUp("raw header bytes differ from the decoded header")
				continue
			}
		}
		take := int(min(int64(len(t.in)), f.remaining))
		if room := shownBytes - len(f.payload); room > 0 {
			f.payload = append(f.payload, t.in[:min(take, room)]...)
		}
		t.in = t.in[take:]
		f.remaining -= int64(take)
		if f.remaining > 0 {
			return
		}
		t.emit(f)
		t.pending = t.pending[1:]
	}
	if len(t.in) == 0 {
		t.in = nil // let the backing array go
	}
}

// giveUp stops pairing bytes with frames. The caller holds mu.
func (t *tap) giveUp(why string) {
	if t.broken {
		return
	}
	t.broken = true
	t.in = nil
	t.ss.report(info("raw bytes no longer shown: " + why))
}

// emit reports a received frame. The caller holds mu.
func (t *tap) emit(f *inFrame) {
	if !f.h.Opcode.IsControl() {
		t.msgFrames++
		t.msgWire += f.h.Length
		if f.h.Opcode != wsframe.OpContinuation {
			t.msgRSV1 = f.h.Rsv&wsframe.RSV1 != 0
		}
	}
	hdr := f.hdr
	if hdr == nil {
		hdr = wsframe.AppendHeader(nil, f.h)
	}
	rep := frameReport("in", f.t, f.h, hdr, f.payload)
	if t.broken && f.payload == nil {
		rep["note"] = "payload bytes not available"
	}
	t.ss.report(rep)
}

// takeMessage returns the frame count, wire payload length and RSV1 of
// the data frames received since the last call (one message).
func (t *tap) takeMessage() (frames int, wire int64, rsv1 bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	frames, wire, rsv1 = t.msgFrames, t.msgWire, t.msgRSV1
	t.msgFrames, t.msgWire, t.msgRSV1 = 0, 0, false
	return
}

// wrote notes bytes written: the first ones are the 101 response.
func (t *tap) wrote(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.respDone {
		return
	}
	t.resp = append(t.resp, p...)
	if i := bytes.Index(t.resp, []byte("\r\n\r\n")); i >= 0 {
		t.resp = t.resp[:i+4]
		t.respDone = true
	} else if len(t.resp) > 8<<10 {
		t.respDone = true
	}
}

// response returns the handshake response as written.
func (t *tap) response() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.resp)
}

// tapWriter hands the handshake a tapped connection when it hijacks.
type tapWriter struct {
	http.ResponseWriter
	tap *tap
}

// Hijack hijacks the underlying connection and wraps it in a tapConn.
// The bytes the server had already buffered after the request (the
// client's first frames, perhaps) are fed to the tap now: conn reads them
// from the returned reader before it reads from the connection.
func (tw *tapWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(tw.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc := &tapConn{Conn: nc, tap: tw.tap}
	var br *bufio.Reader
	if brw != nil && brw.Reader != nil {
		br = brw.Reader
		if n := br.Buffered(); n > 0 {
			b, _ := br.Peek(n)
			tw.tap.feed(b)
		}
	} else {
		br = bufio.NewReader(tc)
	}
	return tc, bufio.NewReadWriter(br, bufio.NewWriter(tc)), nil
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (tw *tapWriter) Unwrap() http.ResponseWriter { return tw.ResponseWriter }

// tapConn is a connection whose reads and writes a tap sees.
type tapConn struct {
	net.Conn
	tap *tap
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.tap.feed(p[:n])
	}
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.tap.wrote(p)
	return c.Conn.Write(p)
}
