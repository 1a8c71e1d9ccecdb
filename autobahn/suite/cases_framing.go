package suite

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ws6455/ws6455/autobahn/report"
)

// Catalogue groups 1 to 5: framing, ping/pong, reserved bits, opcodes and
// fragmentation.

func init() {
	groups = append(groups, group1, group2, group3, group4, group5)
}

const (
	opCont  = 0
	opText  = 1
	opBin   = 2
	opClose = 8
	opPing  = 9
	opPong  = 10
)

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// frame is shorthand for a final, unchopped frame.
func frame(op byte, payload []byte) frameSpec {
	return frameSpec{op: op, payload: payload, fin: true}
}

func frag(op byte, payload string, fin bool) frameSpec {
	return frameSpec{op: op, payload: []byte(payload), fin: fin}
}

func (r *run) send(fs ...frameSpec) {
	for _, f := range fs {
		r.sendFrame(f)
	}
}

func withChop(chop int, fs ...frameSpec) []frameSpec {
	for i := range fs {
		fs[i].chop = chop
	}
	return fs
}

func withSync(fs ...frameSpec) []frameSpec {
	for i := range fs {
		fs[i].sync = true
	}
	return fs
}

// group1: text and binary messages of the sizes around each length
// encoding boundary, echoed back.
func group1() []*Case {
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536, 65536}
	var out []*Case
	for g, kind := range []struct {
		name string
		op   byte
		fill byte
	}{{"text", opText, '*'}, {"binary", opBin, 0xfe}} {
		for i, n := range sizes {
			chop := 0
			if i == 7 {
				chop = 997
			}
			wait := sec(1)
			if n > 128 {
				wait = sec(10)
			}
			kind, n := kind, n
			desc := fmt.Sprintf("Sends one %s message of %d bytes in a single frame.", kind.name, n)
			if chop > 0 {
				desc = fmt.Sprintf("Sends one %s message of %d bytes in a single frame, written to TCP in pieces of %d bytes.", kind.name, n, chop)
			}
			out = append(out, &Case{
				ID:          fmt.Sprintf("1.%d.%d", g+1, i+1),
				Description: desc,
				Expectation: "The same message comes back; then a clean close with code 1000.",
				open: func(r *run) {
					p := bytes.Repeat([]byte{kind.fill}, n)
					r.expect(report.OK, msgEvent(p, kind.op == opBin))
					r.expectCloseByMe(1000)
					r.send(frameSpec{op: kind.op, payload: p, fin: true, chop: chop})
					r.killAfter(wait)
				},
			})
		}
	}
	return out
}

func fe(n int) []byte { return bytes.Repeat([]byte{0xfe}, n) }

// pingCase sends frames and expects pongs, then closes after wait unless
// all pongs arrived before.
func pingCase(id, desc, exp string, wait float64, pongs []event, frames ...frameSpec) *Case {
	return &Case{ID: id, Description: desc, Expectation: exp, open: func(r *run) {
		r.expect(report.OK, pongs...)
		r.expectCloseByMe(1000)
		r.send(frames...)
		r.closeAfter(sec(wait))
	}}
}

func group2() []*Case {
	binPing := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	var tenPings, tenPongs []frameSpec
	var tenEvents []event
	for i := range 10 {
		p := []byte(fmt.Sprintf("payload-%d", i))
		tenPings = append(tenPings, frame(opPing, p))
		tenEvents = append(tenEvents, pongEvent(p))
	}
	tenPongs = withChop(1, append([]frameSpec(nil), tenPings...)...)
	const echoed = "A pong with the same payload comes back; then a clean close with code 1000."
	return []*Case{
		pingCase("2.1", "Sends a ping with an empty payload.", echoed, 1, []event{pongEvent([]byte{})}, frame(opPing, nil)),
		pingCase("2.2", "Sends a ping with a short text payload.", echoed, 1, []event{pongEvent([]byte("Hello, world!"))}, frame(opPing, []byte("Hello, world!"))),
		pingCase("2.3", "Sends a ping with a short payload that is not UTF-8.", echoed, 1, []event{pongEvent(binPing)}, frame(opPing, binPing)),
		pingCase("2.4", "Sends a ping with the largest payload a control frame allows, 125 bytes.", echoed, 1, []event{pongEvent(fe(125))}, frame(opPing, fe(125))),
		{ID: "2.5", Description: "Sends a ping with a 126-byte payload, one more than a control frame may carry.",
			Expectation: "The peer fails the connection with code 1002 (protocol error).",
			open: func(r *run) {
				r.expect(report.OK)
				r.expectFail(1002)
				r.send(frame(opPing, fe(126)))
				r.killAfter(sec(1))
			}},
		pingCase("2.6", "Sends a ping with a 125-byte payload, written to TCP one byte at a time.", echoed, 2, []event{pongEvent(fe(125))}, withChop(1, frame(opPing, fe(125)))...),
		{ID: "2.7", Description: "Sends a pong nobody asked for, with an empty payload, then closes.",
			Expectation: "The peer ignores the pong; a clean close with code 1000.",
			open: func(r *run) {
				r.expect(report.OK)
				r.expectCloseByMe(1000)
				r.send(frame(opPong, nil))
				r.sendClose(1000)
				r.closeAfter(sec(1))
			}},
		{ID: "2.8", Description: "Sends a pong nobody asked for, with a payload, then closes.",
			Expectation: "The peer ignores the pong; a clean close with code 1000.",
			open: func(r *run) {
				r.expect(report.OK)
				r.expectCloseByMe(1000)
				r.send(frame(opPong, []byte("unsolicited pong payload")))
				r.sendClose(1000)
				r.closeAfter(sec(1))
			}},
		pingCase("2.9", "Sends an unsolicited pong, then a ping with a payload.",
			"Only the ping is answered, by a pong with its payload; then a clean close with code 1000.", 1,
			[]event{pongEvent([]byte("ping payload"))},
			frame(opPong, []byte("unsolicited pong payload")), frame(opPing, []byte("ping payload"))),
		pingCase("2.10", "Sends ten pings with distinct payloads back to back.",
			"Ten pongs come back in order, each with its ping's payload (RFC 6455 allows answering only the last, but the suite checks for all); then a clean close with code 1000.", 3,
			tenEvents, tenPings...),
		pingCase("2.11", "Sends ten pings with distinct payloads back to back, written to TCP one byte at a time.",
			"Ten pongs come back in order, each with its ping's payload; then a clean close with code 1000.", 3,
			tenEvents, tenPongs...),
	}
}

// failAfterEcho is the common shape of cases that send a good message and
// then something the peer must reject: the echo may or may not have been
// sent before the peer failed the connection.
func failAfterEcho(r *run, frames ...frameSpec) {
	r.expect(report.OK, textEvent("Hello, world!"))
	r.expect(report.NonStrict)
	r.expectFail(1002)
	r.send(frames...)
	r.killAfter(sec(1))
}

func failNow(r *run, frames ...frameSpec) {
	r.expect(report.OK)
	r.expectFail(1002)
	r.send(frames...)
	r.killAfter(sec(1))
}

func group3() []*Case {
	hello := []byte("Hello, world!")
	bin := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	rsv := func(op byte, p []byte, bits byte) frameSpec {
		return frameSpec{op: op, payload: p, fin: true, rsv: bits}
	}
	const failExp = "The peer fails the connection with code 1002: RSV bits must be 0 unless an extension gives them a meaning."
	const echoFailExp = "The first message is echoed (or the connection fails before that), then the peer fails the connection with code 1002; the ping is not answered."
	return []*Case{
		{ID: "3.1", Description: "Sends a short text message with RSV = 1 (the RSV3 bit).", Expectation: failExp,
			open: func(r *run) { failNow(r, rsv(opText, hello, 1)) }},
		{ID: "3.2", Description: "Sends a text message, the same message with RSV = 2, then a ping.", Expectation: echoFailExp,
			open: func(r *run) { failAfterEcho(r, frame(opText, hello), rsv(opText, hello, 2), frame(opPing, nil)) }},
		{ID: "3.3", Description: "Sends a text message, the same message with RSV = 3, then a ping, each frame in its own write.", Expectation: echoFailExp,
			open: func(r *run) {
				failAfterEcho(r, withSync(frame(opText, hello), rsv(opText, hello, 3), frame(opPing, nil))...)
			}},
		{ID: "3.4", Description: "Sends a text message, the same message with RSV = 4, then a ping, all written one byte at a time.", Expectation: echoFailExp,
			open: func(r *run) {
				failAfterEcho(r, withChop(1, frame(opText, hello), rsv(opText, hello, 4), frame(opPing, nil))...)
			}},
		{ID: "3.5", Description: "Sends a short binary message with RSV = 5.", Expectation: failExp,
			open: func(r *run) { failNow(r, rsv(opBin, bin, 5)) }},
		{ID: "3.6", Description: "Sends a frame with RSV = 6 (opcode 2, a short payload).", Expectation: failExp,
			open: func(r *run) { failNow(r, rsv(opBin, hello, 6)) }},
		{ID: "3.7", Description: "Sends a close frame with RSV = 7.", Expectation: failExp,
			open: func(r *run) { failNow(r, rsv(opClose, nil, 7)) }},
	}
}

func group4() []*Case {
	hello := []byte("Hello, world!")
	reserved := []byte("reserved opcode payload")
	var out []*Case
	for g, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		kind := "data"
		if g == 1 {
			kind = "control"
		}
		for i, op := range ops {
			id := fmt.Sprintf("4.%d.%d", g+1, i+1)
			op := op
			switch i {
			case 0:
				out = append(out, &Case{ID: id, Description: fmt.Sprintf("Sends an empty frame with the reserved %s opcode %d.", kind, op),
					Expectation: "The peer fails the connection with code 1002.",
					open:        func(r *run) { failNow(r, frame(op, nil)) }})
			case 1:
				out = append(out, &Case{ID: id, Description: fmt.Sprintf("Sends a frame with the reserved %s opcode %d and a payload.", kind, op),
					Expectation: "The peer fails the connection with code 1002.",
					open:        func(r *run) { failNow(r, frame(op, reserved)) }})
			default:
				p := hello
				if i == 2 {
					p = nil
				}
				chop := 0
				how := ""
				if i == 4 {
					chop = 1
					how = ", all written one byte at a time"
				}
				out = append(out, &Case{ID: id,
					Description: fmt.Sprintf("Sends a text message, a frame with the reserved %s opcode %d, then a ping%s.", kind, op, how),
					Expectation: "The message is echoed (or the connection fails before that), then the peer fails the connection with code 1002; the ping is not answered.",
					open: func(r *run) {
						failAfterEcho(r, withChop(chop, frame(opText, hello), frame(op, p), frame(opPing, nil))...)
					}})
			}
		}
	}
	return out
}

func group5() []*Case {
	f := frag
	echo12 := "fragment1fragment2"
	cleanEcho := func(r *run, events []event, frames ...frameSpec) {
		r.expect(report.OK, events...)
		r.expectCloseByMe(1000)
		r.send(frames...)
		r.closeAfter(sec(1))
	}
	ping := frame(opPing, []byte("ping payload"))
	mk := func(id, desc, exp string, open func(r *run)) *Case {
		return &Case{ID: id, Description: desc, Expectation: exp, open: open}
	}
	const fail = "The peer fails the connection with code 1002."
	const echo = "The message comes back whole; then a clean close with code 1000."
	const pingEcho = "A pong for the ping, then the whole message; then a clean close with code 1000."
	noCont := func(fin bool, fs func(...frameSpec) []frameSpec) func(r *run) {
		return func(r *run) {
			failNow(r, fs(f(opCont, "non-continuation payload", fin), f(opText, "Hello, world!", true))...)
		}
	}
	plain := func(fs ...frameSpec) []frameSpec { return fs }
	chop1 := func(fs ...frameSpec) []frameSpec { return withChop(1, fs...) }
	pair := []frameSpec{f(opText, "fragment1", false), f(opCont, "fragment2", true)}
	clone := func(fs []frameSpec) []frameSpec { return append([]frameSpec(nil), fs...) }
	withPing := []frameSpec{f(opText, "fragment1", false), ping, f(opCont, "fragment2", true)}
	return []*Case{
		mk("5.1", "Sends a ping split into two fragments.", fail, func(r *run) {
			failNow(r, f(opPing, "fragment1", false), f(opCont, "fragment2", true))
		}),
		mk("5.2", "Sends a pong split into two fragments.", fail, func(r *run) {
			failNow(r, f(opPong, "fragment1", false), f(opCont, "fragment2", true))
		}),
		mk("5.3", "Sends a text message in two fragments.", echo, func(r *run) {
			cleanEcho(r, []event{textEvent(echo12)}, clone(pair)...)
		}),
		mk("5.4", "Sends a text message in two fragments, each in its own write.", echo, func(r *run) {
			cleanEcho(r, []event{textEvent(echo12)}, withSync(clone(pair)...)...)
		}),
		mk("5.5", "Sends a text message in two fragments, written one byte at a time.", echo, func(r *run) {
			cleanEcho(r, []event{textEvent(echo12)}, withChop(1, clone(pair)...)...)
		}),
		mk("5.6", "Sends a text message in two fragments with a ping between them.", pingEcho, func(r *run) {
			cleanEcho(r, []event{pongEvent([]byte("ping payload")), textEvent(echo12)}, clone(withPing)...)
		}),
		mk("5.7", "Sends a text message in two fragments with a ping between them, each frame in its own write.", pingEcho, func(r *run) {
			cleanEcho(r, []event{pongEvent([]byte("ping payload")), textEvent(echo12)}, withSync(clone(withPing)...)...)
		}),
		mk("5.8", "Sends a text message in two fragments with a ping between them, written one byte at a time.", pingEcho, func(r *run) {
			cleanEcho(r, []event{pongEvent([]byte("ping payload")), textEvent(echo12)}, withChop(1, clone(withPing)...)...)
		}),
		mk("5.9", "Sends a final continuation frame with no message to continue, then a text message, in one write.", fail, noCont(true, plain)),
		mk("5.10", "Sends a final continuation frame with no message to continue, then a text message, each in its own write.", fail, noCont(true, withSync)),
		mk("5.11", "Sends a final continuation frame with no message to continue, then a text message, written one byte at a time.", fail, noCont(true, chop1)),
		mk("5.12", "Sends a non-final continuation frame with no message to continue, then a text message, in one write.", fail, noCont(false, plain)),
		mk("5.13", "Sends a non-final continuation frame with no message to continue, then a text message, each in its own write.", fail, noCont(false, withSync)),
		mk("5.14", "Sends a non-final continuation frame with no message to continue, then a text message, written one byte at a time.", fail, noCont(false, chop1)),
		mk("5.15", "Sends a text message in two fragments, then a non-final continuation frame with nothing to continue, then a text frame.",
			"The first message is echoed (or the connection fails before that); then the peer fails the connection with code 1002.", func(r *run) {
				r.expect(report.OK, textEvent(echo12))
				r.expect(report.NonStrict)
				r.expectFail(1002)
				r.send(f(opText, "fragment1", false), f(opCont, "fragment2", true), f(opCont, "fragment3", false), f(opText, "fragment4", true))
				r.killAfter(sec(1))
			}),
		mk("5.16", "Twice: a non-final continuation frame with nothing to continue, then a text message in two fragments.", fail, func(r *run) {
			var fs []frameSpec
			for range 2 {
				fs = append(fs, f(opCont, "fragment1", false), f(opText, "fragment2", false), f(opCont, "fragment3", true))
			}
			failNow(r, fs...)
		}),
		mk("5.17", "Twice: a final continuation frame with nothing to continue, then a text message in two fragments.", fail, func(r *run) {
			var fs []frameSpec
			for range 2 {
				fs = append(fs, f(opCont, "fragment1", true), f(opText, "fragment2", false), f(opCont, "fragment3", true))
			}
			failNow(r, fs...)
		}),
		mk("5.18", "Sends a text message in two fragments whose second frame also has the text opcode.", fail, func(r *run) {
			failNow(r, f(opText, "fragment1", false), f(opText, "fragment2", true))
		}),
		mk("5.19", "Sends a text message in five fragments: two fragments and a ping, a one-second pause, two more fragments and a ping, then the last fragment.",
			"Both pings are answered as they arrive and the whole message comes back after its last fragment; then a clean close with code 1000.",
			fragmentsWithPause(false)),
		mk("5.20", "As 5.19, but every frame goes out in its own write.",
			"Both pings are answered as they arrive and the whole message comes back after its last fragment; then a clean close with code 1000.",
			fragmentsWithPause(true)),
	}
}

func fragmentsWithPause(sync bool) func(r *run) {
	return func(r *run) {
		s := func(fs ...frameSpec) {
			if sync {
				fs = withSync(fs...)
			}
			r.send(fs...)
		}
		r.expect(report.OK, pongEvent([]byte("pongme 1!")), pongEvent([]byte("pongme 2!")),
			textEvent("fragment1fragment2fragment3fragment4fragment5"))
		r.expectCloseByMe(1000)
		s(frag(opText, "fragment1", false), frag(opCont, "fragment2", false), frame(opPing, []byte("pongme 1!")))
		r.continueLater(sec(1), "", func() {
			s(frag(opCont, "fragment3", false), frag(opCont, "fragment4", false), frame(opPing, []byte("pongme 2!")), frag(opCont, "fragment5", true))
			r.closeAfter(sec(1))
		})
	}
}
