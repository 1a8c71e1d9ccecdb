package suite

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"unicode/utf8"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/wsframe"
)

// Catalogue group 6: UTF-8 handling of text messages.

func init() { groups = append(groups, group6) }

// kappa is the Greek word "kosme", the classic UTF-8 sample.
var kappa = []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")

// utf8Set is one sub-group of the UTF-8 table (6.5 to 6.23): byte strings
// and whether each is valid UTF-8.
type utf8Set struct {
	title string
	items []utf8Item
}

type utf8Item struct {
	valid bool
	b     []byte
}

func valid(ss ...string) []utf8Item {
	out := make([]utf8Item, len(ss))
	for i, s := range ss {
		out[i] = utf8Item{true, []byte(s)}
	}
	return out
}

func invalid(ss ...string) []utf8Item {
	out := make([]utf8Item, len(ss))
	for i, s := range ss {
		out[i] = utf8Item{false, []byte(s)}
	}
	return out
}

// utf8Table lists the sequences of 6.5 to 6.23, in order. Most come from
// Markus Kuhn's UTF-8 decoder stress test, as in the real suite.
func utf8Table() []utf8Set {
	var prefixes []utf8Item
	for i := 1; i <= len(kappa); i++ {
		p := kappa[:i]
		prefixes = append(prefixes, utf8Item{utf8.Valid(p), p})
	}
	var contRun []byte
	for b := 0x80; b < 0xbf; b++ {
		contRun = append(contRun, byte(b))
	}
	var lonely []utf8Item
	for _, rg := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for b := rg[0]; b < rg[1]; b++ {
			s = append(s, byte(b), 0x20)
		}
		lonely = append(lonely, utf8Item{false, s})
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var concat string
	for _, m := range missing {
		concat += m
	}
	nonChars := []string{"\xef\xbf\xbe", "\xef\xbf\xbf"}
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				s := string([]byte{z1, z2, 0xbf, z3})
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong forms
				}
				nonChars = append(nonChars, s)
			}
		}
	}
	return []utf8Set{
		{"Some valid UTF-8 sequences", valid("hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", string(kappa))},
		{"All prefixes of a valid multi-byte UTF-8 string", prefixes},
		{"First possible sequence of each length", valid("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")},
		{"First possible sequence of length 5 and 6 (beyond Unicode)", invalid("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")},
		{"Last possible sequence of each length", valid("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")},
		{"Last possible sequence of length 4, 5 and 6 (beyond Unicode)", invalid("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")},
		{"Other boundary conditions", append(valid("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), invalid("\xf4\x90\x80\x80")...)},
		{"Unexpected continuation bytes", invalid("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(contRun))},
		{"Lonely start bytes", lonely},
		{"Sequences with the last continuation byte missing", invalid(missing...)},
		{"Concatenation of incomplete sequences", invalid(concat)},
		{"Bytes that never appear in UTF-8", invalid("\xfe", "\xff", "\xfe\xfe\xff\xff")},
		{"Overlong forms of an ASCII character", invalid("\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")},
		{"Longest overlong forms", invalid("\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")},
		{"Overlong forms of NUL", invalid("\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")},
		{"Single UTF-16 surrogates", invalid("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")},
		{"Paired UTF-16 surrogates", invalid("\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")},
		{"Non-characters (valid UTF-8)", valid(nonChars...)},
		{"Unicode specials (valid UTF-8)", valid("\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")},
	}
}

// textFrames splits p into frames of n bytes (n <= 0: one frame); with
// emptyEnd the last byte frame is not final and an empty final
// continuation frame ends the message.
func textFrames(p []byte, n int, emptyEnd bool) []frameSpec {
	if n <= 0 {
		return []frameSpec{frame(opText, p)}
	}
	var out []frameSpec
	op := byte(opText)
	for i := 0; i < len(p); i += n {
		end := min(i+n, len(p))
		out = append(out, frameSpec{op: op, payload: p[i:end], fin: end == len(p) && !emptyEnd})
		op = opCont
	}
	if emptyEnd {
		out = append(out, frame(op, nil))
	}
	return out
}

func group6() []*Case {
	hello := []byte("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
	bad := []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")
	echoOK := func(r *run, p []byte, frames ...frameSpec) {
		r.expect(report.OK, msgEvent(p, false))
		r.expectCloseByMe(1000)
		r.send(frames...)
		r.closeAfter(sec(1))
	}
	failUTF8 := func(r *run, wait float64, frames ...frameSpec) {
		r.expect(report.OK)
		r.expectFailUTF8()
		r.send(frames...)
		r.killAfter(sec(wait))
	}
	const echoExp = "The message comes back unchanged; then a clean close with code 1000."
	const failExp = "The peer fails the connection with code 1007 (invalid payload) as soon as it sees invalid UTF-8."
	out := []*Case{
		{ID: "6.1.1", Description: "Sends a text message with an empty payload.", Expectation: echoExp,
			open: func(r *run) { echoOK(r, []byte{}, frame(opText, nil)) }},
		{ID: "6.1.2", Description: "Sends a text message as three empty fragments.", Expectation: echoExp,
			open: func(r *run) {
				echoOK(r, []byte{}, frag(opText, "", false), frag(opCont, "", false), frag(opCont, "", true))
			}},
		{ID: "6.1.3", Description: "Sends a text message as three fragments: empty, with a payload, empty.", Expectation: echoExp,
			open: func(r *run) {
				echoOK(r, []byte("middle frame payload"), frag(opText, "", false), frag(opCont, "middle frame payload", false), frag(opCont, "", true))
			}},
		{ID: "6.2.1", Description: "Sends a valid UTF-8 text message with multi-byte characters in one frame.", Expectation: echoExp,
			open: func(r *run) { echoOK(r, hello, textFrames(hello, 0, false)...) }},
		{ID: "6.2.2", Description: "Sends the same valid UTF-8 text in two fragments split at a character boundary.", Expectation: echoExp,
			open: func(r *run) { echoOK(r, hello, textFrames(hello, 15, false)...) }},
		{ID: "6.2.3", Description: "Sends the same valid UTF-8 text in one-byte fragments, so that fragments end inside characters.", Expectation: echoExp,
			open: func(r *run) { echoOK(r, hello, textFrames(hello, 1, true)...) }},
		{ID: "6.2.4", Description: "Sends valid UTF-8 text made only of multi-byte characters in one-byte fragments.", Expectation: echoExp,
			open: func(r *run) { echoOK(r, kappa, textFrames(kappa, 1, true)...) }},
		{ID: "6.3.1", Description: "Sends a text message with invalid UTF-8 (an encoded surrogate) in one frame.", Expectation: failExp,
			open: func(r *run) { failUTF8(r, 1, textFrames(bad, 0, false)...) }},
		{ID: "6.3.2", Description: "Sends the same invalid UTF-8 text in one-byte fragments.", Expectation: failExp,
			open: func(r *run) { failUTF8(r, 1, textFrames(bad, 1, true)...) }},
		{ID: "6.4.1", Description: "Sends a text message in three fragments with one-second pauses between them; the second fragment makes the text invalid (a code point above U+10FFFF).",
			Expectation: "The first fragment is accepted; the peer fails the connection with code 1007 as soon as the second arrives (failing only at the end of the message is accepted as non-strict).",
			open:        slowInvalid([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), []byte("\xf4\x90\x80\x80"), []byte("edited"), false)},
		{ID: "6.4.2", Description: "As 6.4.1, but the invalid sequence starts at the end of the first fragment and its second byte alone is the second fragment.",
			Expectation: "The peer fails the connection with code 1007 as soon as the second fragment arrives (failing later is accepted as non-strict).",
			open:        slowInvalid([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4"), []byte("\x90"), []byte("\x80\x80edited"), false)},
		{ID: "6.4.3", Description: "As 6.4.1, but the three parts are pieces of one frame's payload, written with one-second pauses.",
			Expectation: "The peer fails the connection with code 1007 as soon as the invalid bytes arrive, inside the frame (failing later is accepted as non-strict).",
			open:        slowInvalid([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), []byte("\xf4\x90\x80\x80"), []byte("edited"), true)},
		{ID: "6.4.4", Description: "As 6.4.2, but the three parts are pieces of one frame's payload, written with one-second pauses.",
			Expectation: "The peer fails the connection with code 1007 as soon as the invalid byte arrives, inside the frame (failing later is accepted as non-strict).",
			open:        slowInvalid([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4"), []byte("\x90"), []byte("\x80\x80edited"), true)},
	}
	for i, set := range utf8Table() {
		for j, it := range set.items {
			it := it
			c := &Case{ID: fmt.Sprintf("6.%d.%d", i+5, j+1)}
			if it.valid {
				c.Description = fmt.Sprintf("%s: sends a text message whose payload is valid UTF-8, in one frame. Payload: 0x%x", set.title, it.b)
				c.Expectation = "The message comes back unchanged."
				c.open = func(r *run) {
					r.expect(report.OK, msgEvent(it.b, false))
					r.expectCloseByMe(1000)
					r.sendMessage(it.b, false, 0)
					r.killAfter(sec(0.5))
				}
			} else {
				c.Description = fmt.Sprintf("%s: sends a text message whose payload is not valid UTF-8, in one frame. Payload: 0x%x", set.title, it.b)
				c.Expectation = failExp
				c.open = func(r *run) {
					r.expect(report.OK)
					r.expectFailUTF8()
					r.sendMessage(it.b, false, 0)
					r.killAfter(sec(0.5))
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// expectFailUTF8: the peer must fail with 1007; if the suite has to close
// instead, the peer did not notice the bad text at all and the behaviour
// is FAILED too.
func (r *run) expectFailUTF8() {
	r.expClose = expectedClose{CloseCodes: []int{1007}, WrongEndpointFatal: true}
}

// slowInvalid sends a text message in three parts with one-second pauses,
// as frames or (inFrame) as pieces of one frame's payload, and records a
// timeout event each time a pause ends with the connection still open.
func slowInvalid(p1, p2, p3 []byte, inFrame bool) func(r *run) {
	return func(r *run) {
		r.expect(report.OK, event{Kind: "timeout", Data: []byte("A")})
		r.expect(report.NonStrict, event{Kind: "timeout", Data: []byte("A")}, event{Kind: "timeout", Data: []byte("B")})
		r.expectFailUTF8()
		var st *streamFrame
		if inFrame {
			st = r.beginFrame(opText, len(p1)+len(p2)+len(p3))
			st.write(p1)
		} else {
			r.send(frameSpec{op: opText, payload: p1})
		}
		r.continueLater(sec(1), "A", func() {
			if r.state != stateOpen {
				return
			}
			r.received = append(r.received, event{Kind: "timeout", Data: []byte("A")})
			if inFrame {
				st.write(p2)
			} else {
				r.send(frameSpec{op: opCont, payload: p2})
			}
			r.continueLater(sec(1), "B", func() {
				if r.state != stateOpen {
					return
				}
				r.received = append(r.received, event{Kind: "timeout", Data: []byte("B")})
				if inFrame {
					st.write(p3)
					r.send(frame(opCont, nil))
				} else {
					r.send(frameSpec{op: opCont, payload: p3, fin: true})
				}
				r.killAfter(sec(1))
			})
		})
	}
}

// streamFrame is a non-final frame whose header has been sent and whose
// payload goes out in pieces.
type streamFrame struct {
	r      *run
	key    [4]byte
	pos    int
	masked bool
}

// beginFrame sends the header of a non-final data frame of length n.
func (r *run) beginFrame(op byte, n int) *streamFrame {
	st := &streamFrame{r: r, masked: !r.isServer}
	h := wsframe.Header{Opcode: wsframe.Opcode(op), Length: int64(n), Masked: st.masked}
	if st.masked {
		binary.BigEndian.PutUint32(st.key[:], rand.Uint32())
		h.Mask = st.key
	}
	r.sendData(wsframe.AppendHeader(nil, h), false, 0)
	return st
}

// write sends the next piece of the frame's payload.
func (st *streamFrame) write(p []byte) {
	b := append([]byte(nil), p...)
	if st.masked {
		st.pos = wsframe.Mask(st.key, st.pos, b)
	}
	st.r.sendData(b, false, 0)
}
