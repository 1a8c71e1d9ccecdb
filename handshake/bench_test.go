package handshake

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchWriter is a minimal hijackable ResponseWriter that hands out the same
// fake connection every time, so the benchmark measures Upgrade alone.
type benchWriter struct {
	h    http.Header
	conn *fakeConn
	rw   *bufio.ReadWriter
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}
func (w *benchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, w.rw, nil
}

// browserRequest is a typical browser handshake (same origin, a subprotocol).
var browserRequest = edit("\r\n\r\n", "\r\nOrigin: http://server.example.com\r\nSec-WebSocket-Protocol: chat\r\n"+
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept-Encoding: gzip, deflate\r\nCache-Control: no-cache\r\n\r\n")

func BenchmarkUpgrade(b *testing.B) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(browserRequest)))
	if err != nil {
		b.Fatal(err)
	}
	fc := &fakeConn{}
	w := &benchWriter{h: http.Header{}, conn: fc, rw: bufio.NewReadWriter(bufio.NewReader(fc), bufio.NewWriter(fc))}
	opts := &ServerOptions{Subprotocols: []string{"chat"}}
	b.ReportAllocs()
	for b.Loop() {
		fc.out.Reset()
		if _, _, _, err := Upgrade(w, req, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpgradeConn(b *testing.B) {
	raw := []byte(browserRequest)
	fc := &fakeConn{}
	br := bufio.NewReader(fc)
	opts := &ServerOptions{Subprotocols: []string{"chat"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		fc.reset(raw)
		br.Reset(fc)
		if _, err := UpgradeConn(fc, br, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientRequest(b *testing.B) {
	u := mustURL("ws://example.com:8080/chat?room=1")
	opts := &ClientOptions{
		Header:       http.Header{"Origin": {"http://example.com:8080"}},
		Subprotocols: []string{"chat"},
		Extensions:   []Extension{DeflateParams{ClientMaxWindowBits: -1}.Extension()},
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = appendRequest(buf[:0], u, NewKey(), opts)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientHandshake(b *testing.B) {
	u := mustURL("ws://example.com/chat")
	tmpl := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		c := &templConn{tmpl: tmpl}
		if _, _, _, err := ClientHandshake(b.Context(), c, u, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAcceptKey(b *testing.B) {
	key := []byte(rfcKey)
	buf := make([]byte, 0, acceptLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAccept(buf[:0], key)
	}
}

func BenchmarkParseExtensions(b *testing.B) {
	v := []string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseExtensions(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpgradeLoopback is a whole handshake over 127.0.0.1: a raw TCP
// client writes a canned request and reads the 101, net/http serves it and
// calls Upgrade. Allocations include net/http's and the client's.
func BenchmarkUpgradeLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _, _, err := Upgrade(w, r, nil); err == nil {
			c.Close()
		}
	}))
	defer srv.Close()
	req := []byte(strings.Replace(goodRequest, "server.example.com", srv.Listener.Addr().String(), 1))
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n, err := io.ReadAtLeast(c, buf, 12)
		if err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) {
			b.Fatalf("%q %v", buf[:n], err)
		}
		c.Close()
	}
}
