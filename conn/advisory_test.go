package conn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	nurl "net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// The tests in this file replay inputs from published advisories against
// other WebSocket implementations (see SECURITY.md, which has the table)
// over real loopback connections, and check byte by byte what ws6455 does
// with them. Where the input was a crash elsewhere, the reading goroutine
// recovers panics and reports them as failures, so that one regression
// fails one test instead of the whole test binary.

// advResult is what the server side of an advisory test saw: a message
// (echoed back), an error that ended the connection, or a panic.
type advResult struct {
	typ   MessageType
	data  []byte
	err   error
	panic string
}

// advEchoServer starts an HTTP server on 127.0.0.1 that upgrades with opts
// and echoes every message on the handler's goroutine, reporting each
// message, the final error or a panic on the returned channel. It returns
// the server's host:port.
func advEchoServer(t *testing.T, opts *AcceptOptions) (string, <-chan advResult) {
	t.Helper()
	results := make(chan advResult, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		defer func() {
			if v := recover(); v != nil {
				results <- advResult{panic: fmt.Sprintf("%v\n%s", v, debug.Stack())}
			}
		}()
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				results <- advResult{err: err}
				// Let the Conn finish failing the connection (its close
				// frame, the peer's answer, at most the close timeout)
				// before the deferred CloseNow, so that the tests see the
				// close code on the wire. (A Close or CloseNow at once
				// can cut that short: see
				// TestCloseRightAfterAFailedReadSendsTheCode.)
				select {
				case <-c.Done():
				case <-time.After(2 * DefaultCloseTimeout):
				}
				return
			}
			results <- advResult{typ: typ, data: data}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = c.Write(ctx, typ, data)
			cancel()
			if err != nil {
				results <- advResult{err: err}
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), results
}

// advNext returns the server's next report, failing on a panic or when
// nothing comes within the bound.
func advNext(t *testing.T, results <-chan advResult) advResult {
	t.Helper()
	select {
	case r := <-results:
		if r.panic != "" {
			t.Fatalf("the server panicked: %s", r.panic)
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no result from the server")
		return advResult{}
	}
}

// advUpgrade connects to addr and sends an upgrade request with the given
// extra header lines (each ending in CRLF). It returns the response, and a
// raw client peer over the connection (useful when the response is a 101).
func advUpgrade(t *testing.T, addr, extra string) (*http.Response, *rawPeer) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	// Written from a goroutine: a server may answer (and stop reading)
	// before a huge request is all sent.
	go nc.Write([]byte(req))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	nc.SetDeadline(time.Time{})
	return resp, &rawPeer{t: t, nc: nc, br: br, client: true}
}

// advBody returns the body of a refused upgrade.
func advBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// advRawServer listens on 127.0.0.1 and answers the first upgrade request
// with a 101 carrying the right accept key and the extra header lines. It
// returns the ws:// URL and a channel that delivers a raw server peer over
// the connection once the 101 is written.
func advRawServer(t *testing.T, extra string) (string, <-chan *rawPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	peers := make(chan *rawPeer, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(peers)
			return
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			close(peers)
			return
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + handshake.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" + extra + "\r\n"
		if _, err := nc.Write([]byte(resp)); err != nil {
			nc.Close()
			close(peers)
			return
		}
		nc.SetDeadline(time.Time{})
		peers <- &rawPeer{t: t, nc: nc, br: br}
	}()
	return "ws://" + ln.Addr().String() + "/", peers
}

// advPeer waits for the raw server peer.
func advPeer(t *testing.T, peers <-chan *rawPeer) *rawPeer {
	t.Helper()
	select {
	case p, ok := <-peers:
		require.True(t, ok, "the raw server did not get an upgrade request")
		t.Cleanup(func() { p.nc.Close() })
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("no connection to the raw server")
		return nil
	}
}

// advDial dials url as a client with opts (no proxy).
func advDial(t *testing.T, url string, opts *DialOptions) (*Conn, *http.Response, error) {
	t.Helper()
	if opts == nil {
		opts = &DialOptions{}
	}
	opts.Proxy = func(*http.Request) (*nurl.URL, error) { return nil, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := Dial(ctx, url, opts)
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

// advReadAsync reads messages on c in the background until an error,
// reporting them like advEchoServer (without echoing) and catching panics.
func advReadAsync(c *Conn) <-chan advResult {
	results := make(chan advResult, 64)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				results <- advResult{panic: fmt.Sprintf("%v\n%s", v, debug.Stack())}
			}
		}()
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				results <- advResult{err: err}
				return
			}
			results <- advResult{typ: typ, data: data}
		}
	}()
	return results
}

// advHeader is a frame header as the peer sends it, without its payload.
func (p *rawPeer) advHeader(fin bool, rsv byte, op wsframe.Opcode, length int64) []byte {
	h := wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Length: length}
	if p.client {
		h.Masked, h.Mask = true, testKey
	}
	return wsframe.AppendHeader(nil, h)
}

// advExpectClosed checks that the peer's connection ends (EOF or reset)
// without further frames other than control frames.
func (p *rawPeer) advExpectClosed() {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		h, err := wsframe.ReadHeader(p.br)
		if err != nil {
			var ne net.Error
			require.False(p.t, errors.As(err, &ne) && ne.Timeout(), "the connection was not closed: %v", err)
			return
		}
		require.True(p.t, h.Opcode.IsControl(), "a data frame after the close: %v", h)
		_, err = io.CopyN(io.Discard, p.br, h.Length)
		if err != nil {
			return
		}
	}
}

// Not an advisory, but found while writing these tests with a natural
// handler (read until an error, then close). A handler whose read failed
// on a frame the Conn cannot skip (a header far over the read limit: 1009;
// a length with the top bit set: 1002) and that calls Close at once must
// still let the failure's close frame reach the peer before TCP is closed:
// the close frame goes out "if it can still be sent" (ARCHITECTURE.md,
// failure rule). Repeated, because it is a race between the failure's
// close frame and the close handshake that Close runs.
func TestCloseRightAfterAFailedReadSendsTheCode(t *testing.T) {
	for i := 0; i < 20; i++ {
		c, p := serverWithPeer(t, &Options{ReadLimit: 1000})
		results := advReadAsync(c)
		code := wsframe.CloseTooBig
		if i%2 == 0 {
			p.send(p.advHeader(true, 0, wsframe.OpBinary, 1<<30))
		} else {
			code = wsframe.CloseProtocolError
			p.send([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		}
		r := advNext(t, results)
		require.Equal(t, code, CloseCode(r.err))
		c.Close(wsframe.CloseNormal, "")
		p.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		h, err := wsframe.ReadHeader(p.br)
		require.NoError(t, err, "iteration %d: TCP closed before the close frame", i)
		require.Equal(t, wsframe.OpClose, h.Opcode)
		payload := make([]byte, h.Length)
		_, err = io.ReadFull(p.br, payload)
		require.NoError(t, err)
		require.Equal(t, code, wsframe.CloseCode(binary.BigEndian.Uint16(payload)), "iteration %d", i)
	}
}

// deflateRaw compresses p as one permessage-deflate message (the sync
// flush tail removed).
func deflateRaw(t testing.TB, p []byte) []byte {
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, flate.BestCompression)
	require.NoError(t, err)
	fw.Write(p)
	fw.Flush()
	b := out.Bytes()
	require.True(t, bytes.HasSuffix(b, deflateTail))
	return b[:len(b)-len(deflateTail)]
}

// inflateRaw decompresses a permessage-deflate message.
func inflateRaw(t testing.TB, p []byte) []byte {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		require.NoError(t, err)
	}
	return b
}

// ws (Node) CVE-2024-37890, GHSA-3h5v-q93c-6h6q: an upgrade request with
// 2000 header fields crashed the server. Here net/http parses it (its limit
// is on bytes, not on fields), the upgrade succeeds and the connection
// works. (handshake.TestAdvisoryManyHeadersUpgradeConn covers the server
// without net/http, which refuses more than 128 fields with 400.)
func TestAdvisoryManyHeaders(t *testing.T) {
	addr, results := advEchoServer(t, nil)
	const alphabet = "!#$%&'*+-.0123456789abcdefghijklmnopqrstuvwxyz^_`|~"
	var extra strings.Builder
	n := 0
	for i := 0; i < len(alphabet) && n < 2000; i++ {
		for j := 0; j < len(alphabet) && n < 2000; j++ {
			extra.WriteString(alphabet[i:i+1] + alphabet[j:j+1] + ": x\r\n")
			n++
		}
	}
	resp, p := advUpgrade(t, addr, extra.String())
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	p.sendFrame(true, wsframe.OpText, []byte("still fine"))
	require.Equal(t, "still fine", string(advNext(t, results).data))
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpText, h.Opcode)
	require.Equal(t, "still fine", string(payload))
}

// tungstenite CVE-2023-43669, GHSA-9mcr-873m-xcxp: one very long header
// line cost minutes of CPU in the handshake parser. Behind Accept the
// request is net/http's to read: past its MaxHeaderBytes (1 MiB by
// default) it answers 431 and our handler never runs.
func TestAdvisoryHugeHeaderLine(t *testing.T) {
	addr, results := advEchoServer(t, nil)
	resp, _ := advUpgrade(t, addr, "X-Long: "+strings.Repeat("a", 2<<20)+"\r\n")
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	select {
	case r := <-results:
		t.Fatalf("the handler ran: %+v", r)
	default:
	}
}

// ws (Node) CVE-2021-32640, GHSA-6fc8-4gx4-v693: a Sec-WebSocket-Protocol
// value of a letter, many spaces and a letter hit a regular expression
// with super-linear time. The list is scanned once here; the strange
// element is no token and is not chosen, and a subprotocol after a long
// list of empty elements still is.
func TestAdvisorySubprotocolList(t *testing.T) {
	addr, _ := advEchoServer(t, &AcceptOptions{Subprotocols: []string{"chat"}})
	resp, _ := advUpgrade(t, addr, "Sec-WebSocket-Protocol: b"+strings.Repeat(" ", 256<<10)+"x\r\n")
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Empty(t, resp.Header.Values("Sec-WebSocket-Protocol"))

	resp, _ = advUpgrade(t, addr, "Sec-WebSocket-Protocol: "+strings.Repeat(" ,", 128<<10)+"chat\r\n")
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Equal(t, "chat", resp.Header.Get("Sec-WebSocket-Protocol"))
}

// websocket-extensions (Node) GHSA-g78m-2chm-r7qv: an unclosed quoted
// parameter made of backslash pairs took exponential time to refuse. ws
// (Node) NSP advisory 550: extension names such as "constructor" crashed
// the server. Here the header is parsed in one pass: a syntax error
// is a 400 with a reason, an unknown extension is ignored, and an offer
// with out-of-range window bits is declined (101 without the extension).
func TestAdvisoryExtensionHeader(t *testing.T) {
	addr, _ := advEchoServer(t, &AcceptOptions{Compression: CompressionNoContextTakeover})
	tests := []struct {
		name, value string
		status      int
		body        string
	}{
		{"unclosed quoted backslash pairs", `permessage-deflate; a="` + strings.Repeat(`\c`, 128<<10), 400, "bad Sec-WebSocket-Extensions header\n"},
		{"constructor", "constructor", 101, ""},
		{"empty element then constructor parameter", ",;constructor", 400, "bad Sec-WebSocket-Extensions header\n"},
		{"__proto__ parameter", "permessage-deflate; __proto__", 101, ""},
		{"window bits 16", "permessage-deflate; server_max_window_bits=16", 101, ""},
		{"window bits 20 digits", "permessage-deflate; client_max_window_bits=99999999999999999999", 101, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := advUpgrade(t, addr, "Sec-WebSocket-Extensions: "+tt.value+"\r\n")
			require.Equal(t, tt.status, resp.StatusCode)
			if tt.status == 101 {
				require.Empty(t, resp.Header.Values("Sec-WebSocket-Extensions"), "an unusable offer must be declined")
				return
			}
			require.Equal(t, tt.body, advBody(resp))
		})
	}
}

// nats-server CVE-2026-27889, GHSA-pq2q-rcw4-3hr6 (and swift-nio
// CVE-2026-43678, GHSA-qcc5-f287-vgmq): a 64-bit length with its top bit
// set became a negative length and crashed the server; nats needed the
// 14-byte header and one byte of payload. Here the header is refused with
// 1002 before anything is read past it, and the server closes TCP.
func TestAdvisoryLengthTopBitServer(t *testing.T) {
	for _, length := range [][8]byte{
		{0x80, 0, 0, 0, 0, 0, 0, 0},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		t.Run(fmt.Sprintf("%x", length), func(t *testing.T) {
			addr, results := advEchoServer(t, nil)
			resp, p := advUpgrade(t, addr, "")
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			in := append([]byte{0x82, 0xff}, length[:]...)
			in = append(in, testKey[:]...)
			in = append(in, 'x')
			require.Len(t, in, 15)
			p.send(in)
			p.expectClose(wsframe.CloseProtocolError)
			p.advExpectClosed()
			r := advNext(t, results)
			require.Equal(t, wsframe.CloseProtocolError, CloseCode(r.err), "%v", r.err)
		})
	}
}

// undici CVE-2026-1528, GHSA-f269-vfmq-vjvj: a server's 64-bit length
// overflowed the client's parser and crashed the process. Here a length
// with the top bit set is a protocol error (1002, in a masked close frame)
// and a length of 2^32, legal but over the read limit, is refused with
// 1009 before any payload is read.
func TestAdvisoryLengthClient(t *testing.T) {
	tests := []struct {
		name   string
		length [8]byte
		code   wsframe.CloseCode
	}{
		{"all ones", [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, wsframe.CloseProtocolError},
		{"top bit", [8]byte{0x80, 0, 0, 0, 0, 0, 0, 1}, wsframe.CloseProtocolError},
		{"2^32", [8]byte{0, 0, 0, 1, 0, 0, 0, 0}, wsframe.CloseTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, peers := advRawServer(t, "")
			c, _, err := advDial(t, url, nil)
			require.NoError(t, err)
			p := advPeer(t, peers)
			results := advReadAsync(c)
			p.send(append([]byte{0x82, 0x7f}, tt.length[:]...))
			h, payload := p.recvFrame()
			require.Equal(t, wsframe.OpClose, h.Opcode)
			require.True(t, h.Masked, "a client's close frame is masked")
			require.Equal(t, tt.code, wsframe.CloseCode(binary.BigEndian.Uint16(payload)))
			p.nc.Close() // the server closes TCP first
			r := advNext(t, results)
			require.Equal(t, tt.code, CloseCode(r.err), "%v", r.err)
			<-c.Done()
		})
	}
}

// gorilla/websocket CVE-2020-27813, GHSA-3xh2-74w9-5vxm: the lengths of a
// message's frames were summed without overflow checks, so a continuation
// frame with a huge length wrapped the sum around and slipped past the
// read limit. Here a 600-byte fragment followed by a continuation that
// declares 2^63-1 bytes must be refused with 1009, without allocating the
// declared length and without a panic.
func TestAdvisoryLengthSumOverflow(t *testing.T) {
	for _, first := range []int{1, 600} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			addr, results := advEchoServer(t, nil)
			resp, p := advUpgrade(t, addr, "")
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			in := p.frame(false, 0, wsframe.OpBinary, bytes.Repeat([]byte{'a'}, first))
			in = append(in, p.advHeader(true, 0, wsframe.OpContinuation, math.MaxInt64)...)
			in = append(in, make([]byte, 2*DefaultReadLimit)...) // payload past the limit, then EOF
			go func() {
				p.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
				p.nc.Write(in)
				p.nc.(*net.TCPConn).CloseWrite()
			}()
			r := advNext(t, results)
			require.Equal(t, wsframe.CloseTooBig, CloseCode(r.err),
				"the continuation's length must be refused before its payload; the read ended with %v", r.err)
			p.expectClose(wsframe.CloseTooBig)
		})
	}
}

// gorilla/websocket has no read limit unless the application sets one, and
// applications keep forgetting it (e.g. polygon-edge PR #1871, teleport PR
// #67085: one frame can exhaust the server's memory). Here an Accept with
// no options limits messages to DefaultReadLimit: a header declaring one
// byte more is refused with 1009 before any payload, and so is the byte
// too many of a fragmented message; a message of exactly the limit passes.
func TestAdvisoryDefaultReadLimit(t *testing.T) {
	t.Run("declared", func(t *testing.T) {
		addr, results := advEchoServer(t, nil)
		_, p := advUpgrade(t, addr, "")
		p.send(p.advHeader(true, 0, wsframe.OpBinary, DefaultReadLimit+1))
		p.expectClose(wsframe.CloseTooBig)
		require.Equal(t, wsframe.CloseTooBig, CloseCode(advNext(t, results).err))
	})
	t.Run("fragments", func(t *testing.T) {
		addr, results := advEchoServer(t, nil)
		_, p := advUpgrade(t, addr, "")
		go p.nc.Write(append(p.frame(false, 0, wsframe.OpBinary, make([]byte, DefaultReadLimit)),
			p.frame(true, 0, wsframe.OpContinuation, []byte{1})...))
		p.expectClose(wsframe.CloseTooBig)
		require.Equal(t, wsframe.CloseTooBig, CloseCode(advNext(t, results).err))
	})
	t.Run("exactly the limit", func(t *testing.T) {
		addr, results := advEchoServer(t, nil)
		_, p := advUpgrade(t, addr, "")
		go p.nc.Write(append(p.frame(false, 0, wsframe.OpBinary, make([]byte, DefaultReadLimit-1)),
			p.frame(true, 0, wsframe.OpContinuation, []byte{1})...))
		r := advNext(t, results)
		require.NoError(t, r.err)
		require.Len(t, r.data, DefaultReadLimit)
		h, payload := p.recvFrame()
		require.Equal(t, int64(DefaultReadLimit), h.Length)
		require.Equal(t, byte(1), payload[DefaultReadLimit-1])
	})
}

// advWatchConn reports when a Read starts after a number of bytes has
// been read: the reader then holds everything that was sent and waits for
// more, so whatever it allocates for what it got has been allocated.
type advWatchConn struct {
	net.Conn
	mu   sync.Mutex
	got  int64
	want int64
	ch   chan struct{}
}

func (w *advWatchConn) Read(p []byte) (int, error) {
	w.mu.Lock()
	if w.ch != nil && w.got >= w.want {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
	n, err := w.Conn.Read(p)
	w.mu.Lock()
	w.got += int64(n)
	w.mu.Unlock()
	return n, err
}

// waitFor returns a channel closed when a Read starts once n bytes in all
// have been read.
func (w *advWatchConn) waitFor(n int64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.want, w.ch = n, make(chan struct{})
	return w.ch
}

func advWait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// gobwas/ws issue #54 ("makeslice: len out of range" in production):
// allocating the length a frame header declares lets a peer make the
// server allocate memory it never sends. Memory follows bytes received
// (ARCHITECTURE.md): a header declaring 16 MiB (within a 16 MiB read limit)
// followed by 10 bytes must not make Read allocate anywhere near 16 MiB.
func TestAdvisoryDeclaredLengthIsNotAllocated(t *testing.T) {
	const declared = 16 << 20
	a, b := tcpPair(t)
	w := &advWatchConn{Conn: a}
	c := New(w, nil, false, "", &Options{ReadLimit: declared})
	defer c.CloseNow()
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
	idle := w.waitFor(0)
	results := advReadAsync(c)
	advWait(t, idle, "the reader to wait for a frame")

	hdr := p.advHeader(true, 0, wsframe.OpBinary, declared)
	payload := []byte("0123456789")
	wsframe.Mask(testKey, 0, payload)
	consumed := w.waitFor(int64(len(hdr) + len(payload)))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p.send(append(hdr, payload...))
	advWait(t, consumed, "the reader to take the header and the 10 bytes")
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	c.CloseNow()
	if r := <-results; r.panic != "" {
		t.Fatalf("panic: %s", r.panic)
	}
	require.Less(t, allocated, uint64(1<<20),
		"Read allocated %d bytes for a frame that declared %d and delivered 10", allocated, declared)
}

// ws (Node) CVE-2026-48779, GHSA-96hv-2xvq-fx4p, and undici CVE-2026-12151,
// GHSA-vxpw-j846-p89q: floods of tiny or empty continuation frames passed
// the byte limits and pinned memory per fragment. Here a fragment costs no
// allocation: a message of one byte, 100,000 empty continuations and a last
// byte is read, both as server and as client, in a handful of allocations.
// (TestFragmentFloodCostsNoMemoryPerFragment does the same with one-byte
// fragments.)
func TestAdvisoryEmptyFragmentFlood(t *testing.T) {
	for _, client := range []bool{false, true} {
		name := "server"
		if client {
			name = "client"
		}
		t.Run(name, func(t *testing.T) {
			c, p := withPeer(t, client, nil)
			const n = 100000
			flood := p.frame(false, 0, wsframe.OpBinary, []byte{'a'})
			empty := p.frame(false, 0, wsframe.OpContinuation, nil)
			for i := 0; i < n; i++ {
				flood = append(flood, empty...)
			}
			flood = append(flood, p.frame(true, 0, wsframe.OpContinuation, []byte{'z'})...)
			go func() {
				p.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
				p.nc.Write(flood)
			}()
			buf := make([]byte, 0, 64)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, msg, err := c.ReadInto(context.Background(), buf)
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			require.Equal(t, "az", string(msg))
			require.Less(t, after.Mallocs-before.Mallocs, uint64(100), "allocations grow with the number of fragments")
		})
	}
}

// advBomb is 32 MiB of zeros compressed as one permessage-deflate message
// (about 40 KiB).
func advBomb(t testing.TB) []byte {
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, flate.BestSpeed)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 32; i++ {
		fw.Write(zeros)
	}
	fw.Flush()
	b := out.Bytes()
	return b[:len(b)-len(deflateTail)]
}

// undici CVE-2026-1526, GHSA-vrm6-8vpv-qv8q (and python-websockets PR #407,
// tornado PR #2391): a client inflated a compressed message without bound.
// Here a client's read limit counts inflated bytes: a 32 MiB bomb from the
// server is refused with 1009 once the limit (1 MiB by default) is passed,
// and the read allocates a small multiple of the limit, not the bomb.
func TestAdvisoryDeflateBombClient(t *testing.T) {
	bomb := advBomb(t)
	url, peers := advRawServer(t, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	c, _, err := advDial(t, url, &DialOptions{Compression: CompressionContextTakeover})
	require.NoError(t, err)
	p := advPeer(t, peers)
	frame := p.frame(true, wsframe.RSV1, wsframe.OpBinary, bomb)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	results := advReadAsync(c)
	go p.nc.Write(frame)
	h, payload := p.recvFrame()
	require.Equal(t, wsframe.OpClose, h.Opcode)
	require.Equal(t, wsframe.CloseTooBig, wsframe.CloseCode(binary.BigEndian.Uint16(payload)))
	p.nc.Close()
	r := advNext(t, results)
	runtime.ReadMemStats(&after)
	require.Equal(t, wsframe.CloseTooBig, CloseCode(r.err), "%v", r.err)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("bomb of %d bytes: %d bytes allocated", len(bomb), allocated)
	require.Less(t, allocated, uint64(12<<20), "memory follows the inflated bytes")
}

// autobahn-python GHSA-hxp9-w8x3-p566: the message size limit was checked
// against compressed bytes, so 22 compressed bytes delivered 4096 bytes
// past a 128-byte limit. python-websockets issue #1715: a message inflating
// to one or two bytes over the limit was truncated to the limit and
// delivered. Here the limit counts inflated bytes: one byte over is 1009,
// exactly the limit is delivered whole.
func TestAdvisoryDeflateLimitCountsInflatedBytes(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		size  int
		code  wsframe.CloseCode // 0: delivered
	}{
		{"4096 past 128", 128, 4096, wsframe.CloseTooBig},
		{"one over", 1000, 1001, wsframe.CloseTooBig},
		{"two over", 1000, 1002, wsframe.CloseTooBig},
		{"exactly", 1000, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, results := advEchoServer(t, &AcceptOptions{Compression: CompressionNoContextTakeover, ReadLimit: tt.limit})
			resp, p := advUpgrade(t, addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			require.Contains(t, resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
			msg := bytes.Repeat([]byte{'a'}, tt.size)
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpBinary, deflateRaw(t, msg)))
			r := advNext(t, results)
			if tt.code != 0 {
				require.Equal(t, tt.code, CloseCode(r.err), "%v (delivered %d bytes)", r.err, len(r.data))
				p.expectClose(tt.code)
				return
			}
			require.NoError(t, r.err)
			require.Equal(t, msg, r.data)
			h, payload := p.recvFrame()
			if h.Rsv == wsframe.RSV1 {
				payload = inflateRaw(t, payload)
			}
			require.Equal(t, msg, payload)
		})
	}
}

// undici CVE-2026-2229, GHSA-v9p9-hfj2-hcw8: a server answered with a
// server_max_window_bits outside 8..15 and the client threw an uncaught
// exception when it set up its inflater. Here such an answer fails the
// handshake: Dial returns a *handshake.ResponseError and closes the TCP
// connection; a valid value is accepted.
func TestAdvisoryServerMaxWindowBits(t *testing.T) {
	for _, v := range []string{"16", "7", "0", "-1", "8.5", "99999999999999999999", `"16"`, ""} {
		t.Run(v, func(t *testing.T) {
			param := "; server_max_window_bits"
			if v != "" {
				param += "=" + v
			}
			url, peers := advRawServer(t, "Sec-WebSocket-Extensions: permessage-deflate"+param+"\r\n")
			c, _, err := advDial(t, url, &DialOptions{Compression: CompressionContextTakeover})
			require.Error(t, err)
			require.Nil(t, c)
			var re *handshake.ResponseError
			require.ErrorAs(t, err, &re)
			p := advPeer(t, peers)
			p.advExpectClosed()
		})
	}
	t.Run("15", func(t *testing.T) {
		url, peers := advRawServer(t, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=15\r\n")
		c, _, err := advDial(t, url, &DialOptions{Compression: CompressionContextTakeover})
		require.NoError(t, err)
		p := advPeer(t, peers)
		p.send(p.frame(true, wsframe.RSV1, wsframe.OpText, deflateRaw(t, []byte("hello, hello, hello"))))
		_, data, err := c.Read(context.Background())
		require.NoError(t, err)
		require.Equal(t, "hello, hello, hello", string(data))
	})
}

// facil.io issue #169: the server noticed that a client frame was not
// masked but still handed its payload to the application before closing.
// Here the mask bit is checked in the header, before any payload is taken:
// the read fails with 1002 and the payload never reaches the application;
// likewise for a masked frame sent to a client.
func TestAdvisoryUnmaskedFrameNotDelivered(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		addr, results := advEchoServer(t, nil)
		_, p := advUpgrade(t, addr, "")
		p.sendFrame(true, wsframe.OpText, []byte("ok"))
		require.Equal(t, "ok", string(advNext(t, results).data))
		p.send([]byte{0x81, 0x04, 'e', 'v', 'i', 'l'})
		r := advNext(t, results)
		require.Equal(t, wsframe.CloseProtocolError, CloseCode(r.err), "%v", r.err)
		require.Nil(t, r.data)
		_, payload := p.recvFrame() // the echo of "ok"
		require.Equal(t, "ok", string(payload))
		p.expectClose(wsframe.CloseProtocolError)
		p.sendFrame(true, wsframe.OpClose, closePayload(wsframe.CloseProtocolError, ""))
		p.advExpectClosed()
	})
	t.Run("client", func(t *testing.T) {
		url, peers := advRawServer(t, "")
		c, _, err := advDial(t, url, nil)
		require.NoError(t, err)
		p := advPeer(t, peers)
		results := advReadAsync(c)
		p.send([]byte{0x81, 0x02, 'o', 'k'})
		require.Equal(t, "ok", string(advNext(t, results).data))
		p.send([]byte{0x81, 0x84, 1, 2, 3, 4, 'e' ^ 1, 'v' ^ 2, 'i' ^ 3, 'l' ^ 4})
		p.expectClose(wsframe.CloseProtocolError)
		p.nc.Close()
		r := advNext(t, results)
		require.Equal(t, wsframe.CloseProtocolError, CloseCode(r.err), "%v", r.err)
		require.Nil(t, r.data)
	})
}

// Komari GHSA-q355-h244-969h and @farmfe/core GHSA-p773-8mf4-rjm5: servers
// that accepted any Origin let any web page open a WebSocket with the
// visitor's cookies (cross-site WebSocket hijacking). Accept refuses a
// cross-origin browser request with 403 unless OriginPatterns allow it.
func TestAdvisoryCrossOriginRefused(t *testing.T) {
	addr, _ := advEchoServer(t, nil)
	tests := []struct {
		origin string
		status int
		body   string
	}{
		{"https://evil.example", 403, "cross-origin request refused\n"},
		{"null", 403, "Origin is not a scheme://host[:port] origin\n"},
		{"http://" + addr + ".evil.example", 403, "cross-origin request refused\n"},
		{"http://" + addr, 101, ""},
		{"", 101, ""},
	}
	for _, tt := range tests {
		extra := ""
		if tt.origin != "" {
			extra = "Origin: " + tt.origin + "\r\n"
		}
		resp, _ := advUpgrade(t, addr, extra)
		require.Equal(t, tt.status, resp.StatusCode, "Origin %q", tt.origin)
		if tt.status != 101 {
			require.Equal(t, tt.body, advBody(resp))
		}
	}
	addr, _ = advEchoServer(t, &AcceptOptions{OriginPatterns: []string{"trusted.example"}})
	resp, _ := advUpgrade(t, addr, "Origin: https://trusted.example\r\n")
	require.Equal(t, 101, resp.StatusCode)
	resp, _ = advUpgrade(t, addr, "Origin: https://trusted.example.evil.example\r\n")
	require.Equal(t, 403, resp.StatusCode)
}

// nats-server issue #8029: a truncated frame header left the server
// waiting for the rest forever (no read timeout). With
// keepalive on, a peer that stalls in the middle of a header is pinged,
// gives no sign of life, and is closed (1001).
func TestAdvisoryStalledHeaderIsDropped(t *testing.T) {
	c, p := serverWithPeer(t, &Options{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond, CloseTimeout: 200 * time.Millisecond})
	results := advReadAsync(c)
	hdr := p.advHeader(true, 0, wsframe.OpBinary, 1<<16)
	p.send(hdr[:7]) // 7 of 14 bytes, then nothing
	p.expectClose(wsframe.CloseGoingAway)
	p.advExpectClosed()
	r := advNext(t, results)
	require.Error(t, r.err)
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the connection did not end")
	}
}

// The other side of the same coin (slowloris-style trickling by a peer
// that is alive): keepalive counts any bytes received as activity, so a peer
// that sends a frame one byte a second is not disconnected by keepalive
// however long the frame takes. In a synctest bubble (fake time, net.Pipe).
func TestAdvisoryTrickledFrameIsNotDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := New(a, nil, false, "", &Options{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second})
		defer c.CloseNow()
		p := &rawPeer{t: t, nc: b, client: true}
		var mu sync.Mutex
		var closes []byte
		go func() { // read what the server sends: pings, maybe a close
			br := bufio.NewReader(b)
			for {
				h, err := wsframe.ReadHeader(br)
				if err != nil {
					return
				}
				payload := make([]byte, h.Length)
				if _, err := io.ReadFull(br, payload); err != nil {
					return
				}
				if h.Opcode == wsframe.OpClose {
					mu.Lock()
					closes = append(closes, payload...)
					mu.Unlock()
				}
			}
		}()
		results := advReadAsync(c)
		msg := bytes.Repeat([]byte("slow"), 10)
		frame := p.frame(true, 0, wsframe.OpBinary, msg)
		for i := range frame { // 46 bytes over 46 s: PingInterval+PingTimeout is 15 s
			time.Sleep(time.Second)
			if _, err := b.Write(frame[i : i+1]); err != nil {
				break
			}
		}
		r := <-results
		synctest.Wait()
		mu.Lock()
		sent := closes
		mu.Unlock()
		require.Empty(t, r.panic)
		require.NoError(t, r.err, "close frames sent: %x", sent)
		require.Equal(t, msg, r.data)
	})
}

// A flood of pings from a peer that does not read its pongs: pongs are
// written by the reading goroutine as each ping is read, never queued, so
// once the socket is full the reader stops taking pings and the server
// holds no backlog; every complete ping is answered, in order, once the
// peer reads. (The threat model's "floods of pings"; no advisory.)
func TestAdvisoryPingFloodHoldsNoBacklog(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a, nil, false, "", nil)
	defer c.CloseNow()
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
	results := advReadAsync(c)
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	payload := make([]byte, 100)
	frameLen := len(p.frame(true, 0, wsframe.OpPing, payload))
	var written int
	for i := 0; i < 200000; i++ {
		binary.BigEndian.PutUint32(payload, uint32(i))
		b.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := b.Write(p.frame(true, 0, wsframe.OpPing, payload))
		written += n
		if err != nil {
			break
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&during)
	pings := written / frameLen
	t.Logf("%d pings", pings)
	require.Greater(t, pings, 0)
	for i := 0; i < pings; i++ {
		b.SetReadDeadline(time.Now().Add(20 * time.Second))
		h, err := wsframe.ReadHeader(p.br)
		got := make([]byte, max(h.Length, 0))
		if err == nil {
			_, err = io.ReadFull(p.br, got)
		}
		if err != nil {
			var r advResult
			select {
			case r = <-results:
			default:
			}
			t.Fatalf("pong %d of %d (%d bytes of pings written): %v; the server's read: %+v", i, pings, written, err, r)
		}
		require.Equal(t, wsframe.OpPong, h.Opcode)
		require.Len(t, got, 100)
		require.Equal(t, uint32(i), binary.BigEndian.Uint32(got), "pong %d of %d", i, pings)
	}
	require.Less(t, int64(during.HeapInuse)-int64(before.HeapInuse), int64(8<<20), "the server queued pongs")
	c.CloseNow()
	r := <-results
	require.Empty(t, r.panic)
}
