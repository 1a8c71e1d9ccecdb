package suite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ws6455/ws6455/autobahn/report"
)

// Catalogue group 7: the closing handshake.

func init() { groups = append(groups, group7) }

func closePayload(code int, reason []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

func group7() []*Case {
	hello := []byte("Hello World!")
	mk := func(id, desc, exp string, open func(r *run)) *Case {
		c := &Case{ID: id, Description: desc, Expectation: exp, open: open}
		if wrongCodeIsFailure(id) {
			c.lost = func(r *run) {
				r.behavior, r.result = wrongCodeVerdict(r.behavior, r.result, r.behaviorClose, r.resultClose)
			}
		}
		return c
	}
	// afterClose sends a close frame followed by frames the peer must
	// ignore.
	afterClose := func(frames ...frameSpec) func(r *run) {
		return func(r *run) {
			r.expect(report.OK)
			r.expectCloseByMe(1000)
			r.sendClose(1000)
			r.send(frames...)
			r.killAfter(sec(1))
		}
	}
	// closeWith sends a close frame with exactly payload p.
	closeWith := func(p []byte, clean bool, codes ...int) func(r *run) {
		return func(r *run) {
			r.expect(report.OK)
			r.expClose = expectedClose{ClosedByMe: true, CloseCodes: codes, RequireClean: clean}
			r.sendCloseRaw(p, false)
			r.killAfter(sec(1))
		}
	}
	const ignored = "The peer answers the close with a close (code 1000) and ignores what follows it; the connection closes cleanly."
	out := []*Case{
		mk("7.1.1", "Sends a text message, then closes once it is echoed.", "The message is echoed; a clean close with code 1000.", func(r *run) {
			r.expect(report.OK, msgEvent(hello, false))
			r.expectCloseByMe(1000)
			r.send(frame(opText, hello))
			r.killAfter(sec(1))
		}),
		mk("7.1.2", "Sends a close frame, then a second close frame.", ignored, afterClose(frame(opClose, nil))),
		mk("7.1.3", "Sends a close frame, then a ping.", ignored, afterClose(frame(opPing, nil))),
		mk("7.1.4", "Sends a close frame, then a text message.", ignored, afterClose(frame(opText, hello))),
		mk("7.1.5", "Sends the first fragment of a text message, a close frame, then the last fragment.", ignored, func(r *run) {
			r.expect(report.OK)
			r.expectCloseByMe(1000)
			r.send(frag(opText, "fragment1", false))
			r.sendClose(1000)
			r.send(frag(opCont, "fragment2", true))
			r.killAfter(sec(1))
		}),
		{ID: "7.1.6", Description: "Sends a 256 KiB text message, a short text message, a close frame and a ping, back to back.",
			Expectation:   "Implementation-defined: the peer may echo the messages before it handles the close, or handle the close first and drop them. The suite only records which.",
			suppressClose: true,
			open: func(r *run) {
				r.expect(report.OK, msgEvent(hello, false))
				r.expect(report.NonStrict)
				r.expectCloseByMe(1000)
				r.send(frameSpec{op: opText, payload: []byte("BAsd7&jh23"), fin: true, repeat: 256 << 10})
				r.send(frame(opText, hello))
				r.sendClose(1000)
				r.send(frame(opPing, nil))
				r.killAfter(sec(1))
			},
			lost: func(r *run) {
				switch r.behavior {
				case report.OK:
					r.result = "The messages were handled before the close."
				case report.NonStrict:
					r.result = "The close was handled before the messages were echoed."
				default:
					r.result = "The peer echoed part of the traffic before closing."
				}
				r.behavior = report.Informational
				r.behaviorClose = report.CloseInformational
			}},
		mk("7.3.1", "Sends a close frame with an empty payload.", "The peer answers with a close frame (no code, or 1000); the connection closes cleanly.",
			closeWith(nil, true, 1000)),
		mk("7.3.2", "Sends a close frame with a 1-byte payload (a close payload must be empty or at least 2 bytes).",
			"The peer fails the connection with code 1002.", closeWith([]byte("a"), false, 1002)),
		mk("7.3.3", "Sends a close frame with code 1000 and no reason.", "The peer answers with code 1000; the connection closes cleanly.",
			closeWith(closePayload(1000, nil), true, 1000)),
		mk("7.3.4", "Sends a close frame with code 1000 and a short reason.", "The peer answers with code 1000; the connection closes cleanly.",
			closeWith(closePayload(1000, hello), true, 1000)),
		mk("7.3.5", "Sends a close frame with code 1000 and a reason of 123 bytes, the longest that fits a control frame.",
			"The peer answers with code 1000; the connection closes cleanly.",
			closeWith(closePayload(1000, bytes.Repeat([]byte("*"), 123)), true, 1000)),
		mk("7.3.6", "Sends a close frame with code 1000 and a reason of 124 bytes, one more than a control frame may carry.",
			"The peer fails the connection with code 1002.",
			closeWith(closePayload(1000, bytes.Repeat([]byte("*"), 124)), false, 1002)),
		mk("7.5.1", "Sends a close frame with code 1000 and a reason that is not valid UTF-8.",
			"The peer fails the connection with code 1007 (or 1002).",
			closeWith(closePayload(1000, []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")), false, 1002, 1007)),
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		out = append(out, mk(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Sends a close frame with the valid code %d.", code),
			fmt.Sprintf("The peer answers with a close frame with code %d or 1000; the connection closes cleanly.", code),
			closeWith(closePayload(code, nil), true, 1000, code)))
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		out = append(out, mk(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Sends a close frame with code %d, which must not appear on the wire.", code),
			"The peer fails the connection with code 1002.",
			closeWith(closePayload(code, nil), false, 1002)))
	}
	for i, code := range []int{5000, 65535} {
		out = append(out, &Case{ID: fmt.Sprintf("7.13.%d", i+1),
			Description: fmt.Sprintf("Sends a close frame with code %d, outside every range RFC 6455 defines.", code),
			Expectation: "RFC 6455 does not say what the peer must do; the suite only records it (answering with 1002 or 1000 is common).",
			open:        closeWith(closePayload(code, nil), false, 1000, code, 1002),
			lost: func(r *run) {
				r.behavior = report.Informational
				r.behaviorClose = report.CloseInformational
				r.result = "RFC 6455 leaves this case undefined; the outcome is recorded only."
			}})
	}
	return out
}

// wrongCodeIsFailure reports whether a close case fails its behaviour too
// when the peer's close code is wrong: in the close-code cases the code is
// the very thing under test.
func wrongCodeIsFailure(id string) bool {
	for _, p := range []string{"7.3.", "7.5.", "7.7.", "7.9."} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// wrongCodeVerdict turns a WRONG CODE close verdict into a FAILED
// behaviour.
func wrongCodeVerdict(behavior, result, behaviorClose, resultClose string) (string, string) {
	if behaviorClose == report.CloseWrongCode {
		return report.Failed, resultClose
	}
	return behavior, result
}
