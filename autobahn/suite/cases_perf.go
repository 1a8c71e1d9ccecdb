package suite

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ws6455/ws6455/autobahn/report"
)

// Catalogue groups 9 (limits and performance), 10 (auto-fragmentation),
// 12 and 13 (permessage-deflate).

func init() { groups = append(groups, group9, group10, group12, group13) }

// perfText and perfBinary are the repeated payload patterns of the single
// frames of 9.1, 9.2, 9.5 and 9.6; fillText and fillBinary the one-octet
// fill of the fragmented messages of 9.3 and 9.4 and of the round trips
// of 9.7 and 9.8. They are the real suite's, so that the same octets go on
// the wire.
var (
	perfText   = []byte("BAsd7&jh23")
	perfBinary = []byte{0x00, 0xfe, 0x23, 0xfa, 0xf0}
	fillText   = []byte("*")
	fillBinary = []byte{0xfe}
)

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// bigEcho sends one big message (in frames of fragment bytes, or whole,
// optionally chopped) and passes when an echo of the right type and
// length comes back within wait.
func bigEcho(binary bool, size, fragment, chop int, wait time.Duration) func(r *run) {
	return func(r *run) {
		r.setWirelog(false, false)
		r.expectCloseByMe(1000)
		r.result = fmt.Sprintf("No message came back within %v.", wait)
		pat, op := perfText, byte(opText)
		if binary {
			pat, op = perfBinary, opBin
		}
		if fragment > 0 {
			// Sent as a message, with the real suite's fragmentation
			// (an exact multiple ends in an empty FIN frame).
			fill := fillText
			if binary {
				fill = fillBinary
			}
			r.sendMessage(bytes.Repeat(fill, size), binary, fragment)
		} else {
			r.send(frameSpec{op: op, payload: pat, fin: true, repeat: size, chop: chop})
		}
		r.closeAfter(wait)
	}
}

func bigEchoCheck(binary bool, size int) func(r *run, data []byte, bin bool) {
	return func(r *run, data []byte, bin bool) {
		kind := "text"
		if binary {
			kind = "binary"
		}
		switch {
		case bin != binary:
			r.result = fmt.Sprintf("Expected a %s message, got the other type.", kind)
		case len(data) != size:
			r.result = fmt.Sprintf("Expected a %s message of %d bytes, got %d bytes.", kind, size, len(data))
		default:
			r.behavior = report.OK
			r.result = fmt.Sprintf("Got the %s message of %d bytes back.", kind, size)
		}
		r.setWirelog(true, false)
		r.sendClose(1000)
	}
}

// roundTrips sends count messages one after the other, each after the
// echo of the previous one, and passes when all come back unchanged
// within wait. It serves groups 9.7, 9.8, 12 and 13 (data picks the
// payload of each message).
func roundTrips(binary bool, count, fragment int, wait time.Duration, data func(i int) []byte) (open func(r *run), message func(r *run, p []byte, bin bool)) {
	type state struct {
		sent int
		// want is the message last sent; nothing writes to it after
		// sendMessage, which copies what it sends.
		want []byte
	}
	sendOne := func(r *run, st *state) {
		p := data(st.sent)
		st.want = p
		st.sent++
		if r.pmd != nil {
			// The echo should be p: endMessage may then skip inflating it.
			r.pmd.expect = p
		}
		r.sendMessage(p, binary, fragment)
	}
	open = func(r *run) {
		r.setWirelog(false, true)
		r.expectCloseByMe(1000)
		if r.c.deflate != nil && r.pmd == nil {
			r.behavior = report.Unimplemented
			r.result = "The peer did not accept permessage-deflate."
			r.sendClose(1000)
			return
		}
		r.result = fmt.Sprintf("Not all %d messages came back within %v.", count, wait)
		st := &state{}
		r.caseState = st
		r.closeAfter(wait)
		sendOne(r, st)
	}
	message = func(r *run, p []byte, bin bool) {
		st, _ := r.caseState.(*state)
		if st == nil {
			return
		}
		switch {
		case bin != binary:
			r.behavior = report.Failed
			r.result = fmt.Sprintf("Echo %d has the wrong message type (binary %v, sent binary %v).", st.sent, bin, binary)
		case len(p) != len(st.want):
			r.behavior = report.Failed
			r.result = fmt.Sprintf("Echo %d has %d bytes, sent %d.", st.sent, len(p), len(st.want))
		case !bytes.Equal(p, st.want):
			r.behavior = report.Failed
			r.result = fmt.Sprintf("Echo %d differs from the message sent.", st.sent)
		case st.sent < count:
			sendOne(r, st)
			return
		default:
			r.behavior = report.OK
			r.result = fmt.Sprintf("All %d messages came back unchanged in time.", count)
		}
		r.caseState = nil
		r.setWirelog(true, true)
		r.sendClose(1000)
	}
	return open, message
}

func group9() []*Case {
	var out []*Case
	kinds := []struct {
		name   string
		binary bool
	}{{"text", false}, {"binary", true}}
	// 9.1 and 9.2: single big messages.
	whole := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
	waits := [][]float64{{10, 10, 100, 100, 100, 100}, {10, 10, 10, 10, 100, 100}}
	for g, k := range kinds {
		for i, n := range whole {
			out = append(out, &Case{ID: fmt.Sprintf("9.%d.%d", g+1, i+1),
				Description: fmt.Sprintf("Sends one %s message of %s in a single frame.", k.name, sizeName(n)),
				Expectation: "The message comes back with the same length.",
				reportTime:  true,
				open:        bigEcho(k.binary, n, 0, 0, sec(waits[g][i])),
				message:     bigEchoCheck(k.binary, n)})
		}
	}
	// 9.3 and 9.4: a 4 MiB message in fragments of growing size.
	frags := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	for g, k := range kinds {
		for i, f := range frags {
			out = append(out, &Case{ID: fmt.Sprintf("9.%d.%d", g+3, i+1),
				Description: fmt.Sprintf("Sends one %s message of 4 MiB in fragments of %s.", k.name, sizeName(f)),
				Expectation: "The message comes back whole, with the same length.",
				reportTime:  true,
				open:        bigEcho(k.binary, 4<<20, f, 0, sec(100)),
				message:     bigEchoCheck(k.binary, 4<<20)})
		}
	}
	// 9.5 and 9.6: a 1 MiB message written to TCP in small pieces.
	for g, k := range kinds {
		for i, c := range []int{64, 128, 256, 512, 1024, 2048} {
			out = append(out, &Case{ID: fmt.Sprintf("9.%d.%d", g+5, i+1),
				Description: fmt.Sprintf("Sends one %s message of 1 MiB in a single frame, written to TCP in pieces of %d bytes.", k.name, c),
				Expectation: "The message comes back with the same length.",
				reportTime:  true,
				open:        bigEcho(k.binary, 1<<20, 0, c, sec(1000)),
				message:     bigEchoCheck(k.binary, 1<<20)})
		}
	}
	// 9.7 and 9.8: 1000 round trips of small messages.
	for g, k := range kinds {
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			wait := []float64{60, 60, 60, 120, 240, 480}[i]
			fill := fillText
			if k.binary {
				fill = fillBinary
			}
			msg := bytes.Repeat(fill, n)
			open, message := roundTrips(k.binary, 1000, 0, sec(wait), func(int) []byte { return msg })
			out = append(out, &Case{ID: fmt.Sprintf("9.%d.%d", g+7, i+1),
				Description: fmt.Sprintf("Sends 1000 %s messages of %d bytes, each after the echo of the previous one, to measure round-trip time.", k.name, n),
				Expectation: fmt.Sprintf("Every message comes back unchanged, all within %v seconds.", wait),
				reportTime:  true, open: open, message: message})
		}
	}
	return out
}

func group10() []*Case {
	p := bytes.Repeat([]byte("*"), 65536)
	return []*Case{{ID: "10.1.1",
		Description: "Sends a text message of 65536 bytes split into frames of 1300 bytes, as an endpoint with automatic fragmentation does.",
		Expectation: "The message comes back whole; then a clean close with code 1000.",
		open: func(r *run) {
			r.expect(report.OK, msgEvent(p, false))
			r.expectCloseByMe(1000)
			r.sendMessage(p, false, 1300)
			r.killAfter(sec(10))
		}}}
}

// deflateSizes lists (message size, wait in seconds, fragment size) of the
// 18 cases in each of the groups 12.x and 13.x.
var deflateSizes = [][3]int{
	{16, 60, 0}, {64, 60, 0}, {256, 120, 0}, {1024, 240, 0}, {4096, 480, 0},
	{8192, 480, 0}, {16384, 480, 0}, {32768, 480, 0}, {65536, 480, 0}, {131072, 480, 0},
	{8192, 480, 256}, {16384, 480, 256}, {32768, 480, 256}, {65536, 480, 256}, {131072, 480, 256},
	{131072, 480, 1024}, {131072, 480, 4096}, {131072, 480, 32768},
}

// deflateCases builds the 18 cases of one compression sub-group: 1000
// messages cut in turn from corpus, each echoed before the next is sent.
func deflateCases(prefix string, corpus func() []byte, binary bool, spec *deflateSpec, how string) []*Case {
	var out []*Case
	for i, s := range deflateSizes {
		size, wait, fragment := s[0], s[1], s[2]
		cut := func(i int) []byte {
			data := corpus()
			pos := i * size % len(data)
			if pos+size <= len(data) {
				// No wrap-around: the corpus itself, which nothing
				// writes to, capped so that an append copies.
				return data[pos : pos+size : pos+size]
			}
			msg := make([]byte, 0, size)
			for len(msg) < size {
				n := min(size-len(msg), len(data)-pos)
				msg = append(msg, data[pos:pos+n]...)
				pos = (pos + n) % len(data)
			}
			return msg
		}
		open, message := roundTrips(binary, 1000, fragment, sec(float64(wait)), cut)
		fragText := "unfragmented"
		if fragment > 0 {
			fragText = fmt.Sprintf("in frames of %d bytes", fragment)
		}
		out = append(out, &Case{ID: fmt.Sprintf("%s.%d", prefix, i+1),
			Description: fmt.Sprintf("Sends 1000 compressed messages of %d bytes each, %s, each after the echo of the previous one. %s", size, fragText, how),
			Expectation: fmt.Sprintf("Every message comes back unchanged, all within %d seconds.", wait),
			deflate:     spec, reportTime: true, open: open, message: message})
	}
	return out
}

func group12() []*Case {
	spec := &deflateSpec{offers: []deflateOffer{{}}, accept: acceptAsOffered}
	how := "Compression: the default permessage-deflate offer."
	var out []*Case
	for j, c := range corpora {
		out = append(out, deflateCases(fmt.Sprintf("12.%d", j+1), c.make, c.binary, spec, how+" Data: "+c.name+".")...)
	}
	return out
}

func group13() []*Case {
	var out []*Case
	for j, p := range deflateParamSets {
		spec := &deflateSpec{offers: p.offers, accept: p.accept}
		out = append(out, deflateCases(fmt.Sprintf("13.%d", j+1), corpora[0].make, false, spec, "Compression: "+p.desc+".")...)
	}
	return out
}
