package main

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// FuzzFormatFrame: whatever the frame, the trace is one line of valid
// UTF-8 whose length is bounded, whatever the payload's length.
func FuzzFormatFrame(f *testing.F) {
	f.Add(true, byte(0), byte(1), true, []byte("hello"), false)
	f.Add(true, byte(4), byte(2), false, []byte{0x4a, 0x04, 0}, false)
	f.Add(true, byte(0), byte(8), false, []byte{0x03, 0xe8, 'o', 'k'}, false)
	f.Add(false, byte(0), byte(0), false, []byte(nil), true)
	f.Fuzz(func(t *testing.T, fin bool, rsv, op byte, masked bool, p []byte, streamed bool) {
		h := wsframe.Header{Fin: fin, Rsv: rsv & 7, Opcode: wsframe.Opcode(op & 0xf), Masked: masked, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(p))}
		if streamed {
			p = nil
		}
		for _, dir := range []conn.Direction{conn.Inbound, conn.Outbound} {
			s := formatFrame(dir, h, p)
			if strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) {
				t.Fatalf("not one line of UTF-8: %q", s)
			}
			// The header part, a preview of at most previewLen bytes
			// (hex or quoted: at most 10 bytes each), a close reason.
			if len(s) > 200+10*previewLen {
				t.Fatalf("trace of %d bytes for a %d-byte payload", len(s), len(p))
			}
		}
	})
}

// FuzzHeaderFlag: -H either refuses a value or yields one header whose
// name is a token and whose value cannot break the request's framing.
func FuzzHeaderFlag(f *testing.F) {
	f.Add("Authorization: Bearer x")
	f.Add("no colon")
	f.Add(": empty name")
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{}
		if err := headerFlags(h).Set(s); err != nil {
			return
		}
		if len(h) != 1 {
			t.Fatalf("%q gave %d headers", s, len(h))
		}
		for name, values := range h {
			if !isToken(name) {
				t.Fatalf("%q gave the name %q", s, name)
			}
			if strings.ContainsAny(values[0], "\r\n\x00") {
				t.Fatalf("%q gave the value %q", s, values[0])
			}
		}
	})
}
