package handshake

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzUpgradeConn feeds arbitrary bytes to the low-level server. It must
// never panic, must answer every request it refuses with a 4xx/5xx and never
// with a 101, and whenever it accepts, an independent check with net/http's
// parser must agree that the request is a valid RFC 6455 upgrade and the 101
// must carry the right Sec-WebSocket-Accept.
func FuzzUpgradeConn(f *testing.F) {
	seeds := []string{goodRequest, strings.ReplaceAll(goodRequest, "\r\n", "\n")}
	for _, v := range requestVectors {
		seeds = append(seeds, v.req)
	}
	for _, s := range seeds[:12] {
		f.Add([]byte(s))
	}
	opts := &ServerOptions{Subprotocols: []string{"chat", "superchat"}, OriginPatterns: []string{"*.example.org"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := &fakeConn{}
		fc.reset(data)
		_, err := UpgradeConn(fc, bufio.NewReader(fc), opts)
		out := fc.out.String()
		if err != nil {
			if strings.HasPrefix(out, "HTTP/1.1 101") {
				t.Fatalf("refused (%v) but answered 101", err)
			}
			var re *RequestError
			if errors.As(err, &re) {
				if re.Status < 400 || !(strings.HasPrefix(out, "HTTP/1.1 4") || strings.HasPrefix(out, "HTTP/1.1 5")) {
					t.Fatalf("refusal %d answered with %q", re.Status, out)
				}
			} else if out != "" {
				t.Fatalf("read error %v but answered %q", err, out)
			}
			return
		}
		req, perr := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if perr != nil {
			t.Fatalf("accepted a request net/http cannot parse: %v", perr)
		}
		if req.Method != "GET" || req.ProtoMajor != 1 || req.ProtoMinor < 1 {
			t.Fatalf("accepted %s %s", req.Method, req.Proto)
		}
		if req.Host == "" {
			t.Fatal("accepted without Host")
		}
		keys := req.Header["Sec-Websocket-Key"]
		if len(keys) != 1 {
			t.Fatalf("accepted %d keys", len(keys))
		}
		raw, kerr := base64.StdEncoding.DecodeString(keys[0])
		if kerr != nil || len(raw) != 16 {
			t.Fatalf("accepted key %q", keys[0])
		}
		if v := req.Header["Sec-Websocket-Version"]; len(v) != 1 || v[0] != "13" {
			t.Fatalf("accepted version %q", v)
		}
		if !listHas(req.Header["Upgrade"], "websocket") || !listHas(req.Header["Connection"], "upgrade") {
			t.Fatalf("accepted Upgrade %q Connection %q", req.Header["Upgrade"], req.Header["Connection"])
		}
		if req.ContentLength > 0 || len(req.TransferEncoding) > 0 {
			t.Fatal("accepted a request with a body")
		}
		if !strings.HasPrefix(out, "HTTP/1.1 101 Switching Protocols\r\n") ||
			!strings.Contains(out, "\r\nSec-WebSocket-Accept: "+AcceptKey(keys[0])+"\r\n") {
			t.Fatalf("bad 101: %q", out)
		}
	})
}

// listHas is an independent (strings.Split based) token list check.
func listHas(values []string, token string) bool {
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if strings.EqualFold(strings.Trim(e, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// templConn answers the client's request with a template in which "{ACCEPT}"
// becomes the right Sec-WebSocket-Accept for the key the client sent.
type templConn struct {
	fakeConn
	tmpl   []byte
	primed bool
}

func (c *templConn) Read(p []byte) (int, error) {
	if !c.primed {
		c.primed = true
		key := ""
		if _, rest, ok := strings.Cut(c.out.String(), "Sec-WebSocket-Key: "); ok {
			key, _, _ = strings.Cut(rest, "\r\n")
		}
		c.in.Reset(bytes.ReplaceAll(c.tmpl, []byte("{ACCEPT}"), []byte(AcceptKey(key))))
	}
	return c.fakeConn.Read(p)
}

// FuzzClientHandshake feeds arbitrary responses to the client. It must never
// panic, and a success must be a 101 whose accept value, subprotocol and
// extensions pass independent checks.
func FuzzClientHandshake(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n",
		"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\r\nframe",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + rfcAccept + "\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	u := mustURL("ws://example.com/chat")
	opts := &ClientOptions{Subprotocols: []string{"chat"}, Extensions: []Extension{DeflateParams{ClientMaxWindowBits: -1}.Extension()}}
	f.Fuzz(func(t *testing.T, tmpl []byte) {
		c := &templConn{tmpl: tmpl}
		br, resp, res, err := ClientHandshake(t.Context(), c, u, opts)
		if err != nil {
			return
		}
		if br == nil || resp == nil || resp.StatusCode != 101 {
			t.Fatalf("success without a 101: %v", resp)
		}
		key, _, _ := strings.Cut(strings.SplitN(c.out.String(), "Sec-WebSocket-Key: ", 2)[1], "\r\n")
		if acc := resp.Header.Values("Sec-WebSocket-Accept"); len(acc) != 1 || strings.TrimSpace(acc[0]) != AcceptKey(key) {
			t.Fatalf("accepted Sec-WebSocket-Accept %q", acc)
		}
		if res.Subprotocol != "" && res.Subprotocol != "chat" {
			t.Fatalf("accepted subprotocol %q", res.Subprotocol)
		}
		for _, e := range res.Extensions {
			if !strings.EqualFold(e.Name, DeflateName) {
				t.Fatalf("accepted extension %q", e.Name)
			}
		}
	})
}
