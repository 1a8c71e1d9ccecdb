package labserver

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// FuzzTapPairing builds a stream of frames from the input, feeds it to a
// tap in chunks of the input's choosing, announces each frame's header
// (as conn's frame observer does, once the header's bytes have been read),
// and checks that every frame is reported once, in order, with its own
// header bytes and payload.
func FuzzTapPairing(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		type frame struct {
			h       wsframe.Header
			hdr     []byte
			payload []byte // as on the wire (masked)
		}
		var frames []frame
		var stream []byte
		ops := []wsframe.Opcode{wsframe.OpContinuation, wsframe.OpText, wsframe.OpBinary, wsframe.OpClose, wsframe.OpPing, wsframe.OpPong}
		for len(data) > 0 && len(frames) < 64 {
			b := next()
			h := wsframe.Header{Fin: b&1 != 0, Opcode: ops[int(b>>1)%len(ops)], Masked: b&0x80 != 0}
			switch n := int(next()); {
			case n == 255:
				h.Length = 70000 // the 64-bit form
			case n >= 200:
				h.Length = int64(126 + n) // the 16-bit form
			default:
				h.Length = int64(n)
			}
			if h.Masked {
				h.Mask = [4]byte{next(), next(), next(), next()}
			}
			p := make([]byte, h.Length)
			for i := range p {
				p[i] = byte(i) ^ b
			}
			hdr := wsframe.AppendHeader(nil, h)
			frames = append(frames, frame{h, hdr, p})
			stream = append(append(stream, hdr...), p...)
		}
		ss := &session{events: make(chan []byte, len(frames)+8), start: time.Now()}
		tp := newTap(ss)
		announced, fed, headerEnd := 0, 0, 0
		announce := func() {
			for announced < len(frames) && headerEnd+len(frames[announced].hdr) <= fed {
				fr := frames[announced]
				tp.onFrame(conn.Inbound, fr.h, nil)
				headerEnd += len(fr.hdr) + len(fr.payload)
				announced++
			}
		}
		for fed < len(stream) {
			n := 1 + int(next())*37%5000
			n = min(n, len(stream)-fed)
			tp.feed(stream[fed : fed+n])
			fed += n
			announce()
		}
		announce()
		if len(ss.events) != len(frames) {
			t.Fatalf("%d reports for %d frames", len(ss.events), len(frames))
		}
		for i, fr := range frames {
			var r struct {
				Type, Dir, Header, Payload string
				Len                        int64
			}
			if err := json.Unmarshal(<-ss.events, &r); err != nil {
				t.Fatal(err)
			}
			shown := fr.payload[:min(len(fr.payload), shownBytes)]
			if r.Type != "frame" || r.Dir != "in" || r.Len != fr.h.Length ||
				r.Header != hex.EncodeToString(fr.hdr) || r.Payload != hex.EncodeToString(shown) {
				t.Fatalf("frame %d: reported %+v, want header %x payload %x", i, r, fr.hdr, shown)
			}
		}
		if tp.broken || len(tp.in) != 0 || len(tp.pending) != 0 {
			t.Fatalf("tap left broken=%v, %d bytes, %d frames", tp.broken, len(tp.in), len(tp.pending))
		}
	})
}
