package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
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

// FuzzCommand: an input line is either a message (the line itself, or
// without the first "/" of "//"), a command, or an error; a /close always
// gives a code and reason that make a valid close frame, which parses back
// to the same code and reason.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"hello", "/ping", "/close", "/close 4000 bye", "/close 1000, done", "/close 1005", "//x", "/binary", "/text", "/help", "/nope"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand(line)
		if err != nil {
			if !utf8.ValidString(err.Error()) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("%q: error not one line of UTF-8: %q", line, err)
			}
			return
		}
		switch cmd.kind {
		case cmdSend:
			if cmd.text != line && "/"+cmd.text != line {
				t.Fatalf("%q sends %q", line, cmd.text)
			}
			if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
				t.Fatalf("%q: a single-slash line sent as a message", line)
			}
		case cmdClose:
			if !cmd.code.ValidOnWire() {
				t.Fatalf("%q gave the code %d", line, cmd.code)
			}
			p, err := wsframe.AppendClosePayload(nil, cmd.code, cmd.reason)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			code, reason, err := wsframe.ParseClosePayload(p)
			if err != nil || code != cmd.code || reason != cmd.reason {
				t.Fatalf("%q: close payload %x parses as %d %q %v", line, p, code, reason, err)
			}
		}
	})
}

// FuzzCheckURL: a URL checkURL accepts parses, with a scheme the library
// dials and a host; one it refuses has an error of one line.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"ws://127.0.0.1:8081/echo", "localhost:8080/x", "//h/p", "ftp://h/", "ws:///x", "example.com/?u=http://y", "WSS://H"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := checkURL(raw)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("%q: error of several lines: %q", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.Host == "" {
			t.Fatalf("%q accepted: %v, host %q", raw, perr, u.Host)
		}
		switch u.Scheme {
		case "ws", "wss", "http", "https":
		default:
			t.Fatalf("%q accepted with the scheme %q", raw, u.Scheme)
		}
	})
}

// FuzzRefusal: whatever a refusing server sends, wscat prints at most two
// short lines of printable UTF-8: no escape sequence reaches the terminal.
func FuzzRefusal(f *testing.F) {
	f.Add(401, "text/plain", []byte("missing token\n"))
	f.Add(403, "text/html", []byte("<html><body>no</body></html>"))
	f.Add(400, "", []byte("a\x1b[2Jb\x07"))
	f.Add(400, "text/plain; charset=utf-8", []byte("\xff\xfe"))
	f.Add(500, "application/json", []byte(`{"error":"x"}`))
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		if status < 100 || status > 999 || status == 101 {
			return
		}
		h := http.Header{}
		h.Set("Content-Type", ctype)
		re := &handshake.ResponseError{Response: &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " X", Header: h}, Body: body}
		lines := refusal(re)
		if len(lines) > 2 {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range lines {
			if !utf8.ValidString(l) || len(l) > maxBodyLine+100 {
				t.Fatalf("line %q", l)
			}
			for _, r := range l {
				if r < ' ' || r == 0x7f {
					t.Fatalf("control character in %q", l)
				}
			}
		}
	})
}
