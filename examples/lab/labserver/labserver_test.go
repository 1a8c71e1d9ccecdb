package labserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 20 * time.Second

// startServer runs s on 127.0.0.1, counting bytes on the socket unless
// estimate is set, and returns its address.
func startServer(t *testing.T, s *Server, estimate bool) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(s)
	if !estimate {
		ts.Listener = CountingListener(ts.Listener)
		ts.Config.ConnContext = ConnContext
	}
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s.Shutdown(ctx)
		ts.Close()
	})
	return ts.Listener.Addr().String()
}

// report is a report from the observer socket.
type report map[string]any

func (r report) str(k string) string { s, _ := r[k].(string); return s }

// observer is a test's observer socket. A goroutine reads it all the time,
// as a Conn needs (conn may hold back a write until its reader runs).
type observer struct {
	t       *testing.T
	c       *conn.Conn
	reports chan report
	err     chan error
}

func openObserver(t *testing.T, addr string) (*observer, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+addr+"/observe", nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	o := &observer{t: t, c: c, reports: make(chan report, 1024), err: make(chan error, 1)}
	go func() {
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				o.err <- err
				return
			}
			var r report
			if err := json.Unmarshal(msg, &r); err != nil {
				o.err <- err
				return
			}
			o.reports <- r
		}
	}()
	hello := o.next("hello")
	return o, hello.str("session")
}

// next returns the next report of type typ, skipping others.
func (o *observer) next(typ string) report {
	o.t.Helper()
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	for {
		select {
		case r := <-o.reports:
			if r["type"] == typ {
				return r
			}
		case err := <-o.err:
			o.t.Fatalf("waiting for a %s report: %v", typ, err)
		case <-timeout.C:
			o.t.Fatalf("no %s report", typ)
		}
	}
}

func (o *observer) command(cmd string) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(o.t, o.c.Write(ctx, conn.MessageText, []byte(cmd)))
}

// rawClient is a WebSocket client written byte by byte.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, nc.SetDeadline(time.Now().Add(testTimeout)))
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	_, err := c.nc.Write(b)
	require.NoError(c.t, err)
}

// head reads an HTTP response head, byte for byte.
func (c *rawClient) head() string {
	c.t.Helper()
	var b []byte
	for !bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		x, err := c.br.ReadByte()
		require.NoError(c.t, err)
		b = append(b, x)
	}
	return string(b)
}

// frame reads one frame: its header bytes and payload.
func (c *rawClient) frame() (wsframe.Header, []byte, []byte) {
	c.t.Helper()
	var raw []byte
	h, err := wsframe.ReadHeader(teeReader{c.br, &raw})
	require.NoError(c.t, err)
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.br, p)
	require.NoError(c.t, err)
	return h, raw, p
}

type teeReader struct {
	r   io.Reader
	buf *[]byte
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	*t.buf = append(*t.buf, p[:n]...)
	return n, err
}

// clientFrame encodes a masked frame.
func clientFrame(fin bool, op wsframe.Opcode, key [4]byte, payload string) []byte {
	h := wsframe.Header{Fin: fin, Opcode: op, Masked: true, Mask: key, Length: int64(len(payload))}
	b := wsframe.AppendHeader(nil, h)
	p := []byte(payload)
	wsframe.Mask(key, 0, p)
	return append(b, p...)
}

const rfcKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3

func upgradeRequest(addr, target, extra string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + rfcKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// checkFrame compares a frame report with the frame's bytes.
func checkFrame(t *testing.T, r report, dir string, hdr, wirePayload, unmasked []byte) {
	t.Helper()
	assert.Equal(t, dir, r.str("dir"))
	assert.Equal(t, hex.EncodeToString(hdr), r.str("header"), "header bytes")
	shown := min(len(wirePayload), shownBytes)
	assert.Equal(t, hex.EncodeToString(wirePayload[:shown]), r.str("payload"), "payload as on the wire")
	assert.Equal(t, hex.EncodeToString(unmasked[:shown]), r.str("unmasked"), "payload unmasked")
	assert.Equal(t, float64(len(wirePayload)), r["len"])
}

func TestLabReportsFramesByteForByte(t *testing.T) {
	s := New(Config{})
	addr := startServer(t, s, false)
	obs, session := openObserver(t, addr)
	require.Len(t, session, 16)

	// The handshake and a first frame in one write: the frame reaches the
	// server with the request, in net/http's buffer.
	c := dialRaw(t, addr)
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	hello := clientFrame(true, wsframe.OpText, key, "Hello") // RFC 6455 §5.7
	require.Equal(t, "818537fa213d7f9f4d5158", hex.EncodeToString(hello))
	c.write(append([]byte(upgradeRequest(addr, "/ws?session="+session, "")), hello...))
	resp := c.head()
	assert.Contains(t, resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")

	hs := obs.next("handshake")
	assert.Equal(t, resp, hs.str("response"), "the response as the client read it")
	assert.Equal(t, rfcKey, hs.str("key"))
	assert.Equal(t, rfcKey+websocketGUID, hs.str("concat"))
	assert.Equal(t, "b37a4f2cc0624f1690f64606cf385945b2bec4ea", hs.str("sha1"))
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", hs.str("accept"))
	assert.True(t, strings.HasPrefix(hs.str("request"), "GET /ws?session="+session+" HTTP/1.1\r\nHost: "+addr+"\r\n"))
	assert.Contains(t, hs.str("request"), "Sec-Websocket-Key: "+rfcKey+"\r\n")

	in := obs.next("frame")
	checkFrame(t, in, "in", hello[:6], hello[6:], []byte("Hello"))
	assert.Equal(t, "37fa213d", in.str("key"))
	assert.Equal(t, true, in["masked"])
	assert.Equal(t, "7-bit", in.str("lenForm"))
	msg := obs.next("message")
	assert.Equal(t, "in", msg.str("dir"))
	assert.Equal(t, float64(1), msg["frames"])

	// The echo, as the client reads it, and as reported.
	h, raw, p := c.frame()
	assert.Equal(t, "8105", hex.EncodeToString(raw))
	assert.Equal(t, "Hello", string(p))
	out := obs.next("frame")
	checkFrame(t, out, "out", raw, p, p)
	assert.Equal(t, false, out["masked"])
	assert.True(t, h.Fin)

	// A fragmented message from the client, with a ping between the
	// fragments: three frames reported in order, one message of two.
	k2 := [4]byte{1, 2, 3, 4}
	f1 := clientFrame(false, wsframe.OpText, k2, "Hel")
	ping := clientFrame(true, wsframe.OpPing, k2, "p")
	f2 := clientFrame(true, wsframe.OpContinuation, [4]byte{9, 8, 7, 6}, "lo")
	c.write(bytes.Join([][]byte{f1, ping, f2}, nil))
	// In order: the three frames received, and, in between or after, the
	// pong the server answers with; then the echo.
	var got []report
	for len(got) < 3 {
		r := obs.next("frame")
		if r.str("dir") == "out" {
			assert.Equal(t, "8a01", r.str("header"), "the pong")
			assert.Equal(t, "70", r.str("payload"))
			continue
		}
		got = append(got, r)
	}
	checkFrame(t, got[0], "in", f1[:6], f1[6:], []byte("Hel"))
	assert.Equal(t, false, got[0]["fin"])
	checkFrame(t, got[1], "in", ping[:6], ping[6:], []byte("p"))
	checkFrame(t, got[2], "in", f2[:6], f2[6:], []byte("lo"))
	msg = obs.next("message")
	assert.Equal(t, float64(2), msg["frames"])
	assert.Equal(t, float64(5), msg["len"])
	assert.Equal(t, hex.EncodeToString([]byte("Hello")), msg.str("hex"))
	for {
		r := obs.next("frame")
		if r.str("header") == "8a01" {
			continue // the pong, reported after the last fragment
		}
		assert.Equal(t, "8105", r.str("header"), "the echo")
		break
	}
	_, raw, _ = c.frame() // the pong
	assert.Equal(t, "8a01", hex.EncodeToString(raw))
	_, raw, p = c.frame() // the echo
	assert.Equal(t, "8105", hex.EncodeToString(raw))
	assert.Equal(t, "Hello", string(p))

	// The server sends a fragmented message on request: three frames of
	// the 16-bit length form, reported as the client reads them.
	obs.command(`{"cmd":"fragmented","text":"ab"}`)
	var total int
	for i := range 3 {
		h, raw, p := c.frame()
		r := obs.next("frame")
		checkFrame(t, r, "out", raw, p, p)
		assert.Equal(t, "16-bit", r.str("lenForm"))
		assert.Equal(t, i == 2, h.Fin)
		if i == 0 {
			assert.Equal(t, wsframe.OpText, h.Opcode)
			assert.Equal(t, "017e4000", hex.EncodeToString(raw))
		} else {
			assert.Equal(t, wsframe.OpContinuation, h.Opcode)
		}
		total += len(p)
	}
	assert.Equal(t, fragmentedSize, total)
	msg = obs.next("message")
	assert.Equal(t, "out", msg.str("dir"))
	assert.Equal(t, float64(3), msg["frames"])

	// A ping on request: the client's pong is reported masked.
	obs.command(`{"cmd":"ping"}`)
	h, raw, p = c.frame()
	require.Equal(t, wsframe.OpPing, h.Opcode)
	checkFrame(t, obs.next("frame"), "out", raw, p, p)
	pong := clientFrame(true, wsframe.OpPong, [4]byte{0xaa, 0xbb, 0xcc, 0xdd}, string(p))
	c.write(pong)
	checkFrame(t, obs.next("frame"), "in", pong[:6], pong[6:], p)
	assert.Contains(t, obs.next("info").str("text"), "pong")

	// A 64-bit length: 70 000 bytes, shown cut to shownBytes.
	big := strings.Repeat("0123456789", 7000)
	bf := clientFrame(true, wsframe.OpBinary, key, big)
	c.write(bf)
	r := obs.next("frame")
	checkFrame(t, r, "in", bf[:14], bf[14:], []byte(big))
	assert.Equal(t, "64-bit", r.str("lenForm"))
	assert.Equal(t, float64(shownBytes), r["shown"])
	h, raw, p = c.frame()
	assert.Equal(t, "827f0000000000011170", hex.EncodeToString(raw))
	assert.Equal(t, int64(70000), h.Length)
	r = obs.next("frame")
	checkFrame(t, r, "out", raw, p, p)
	assert.Equal(t, "64-bit", r.str("lenForm"))

	// The client closes with 4000: reported, and echoed (the code).
	cl := clientFrame(true, wsframe.OpClose, key, "\x0f\xa0bye")
	c.write(cl)
	checkFrame(t, obs.next("frame"), "in", cl[:6], cl[6:], []byte("\x0f\xa0bye"))
	h, raw, p = c.frame()
	assert.Equal(t, wsframe.OpClose, h.Opcode)
	assert.Equal(t, "\x0f\xa0", string(p[:2]))
	checkFrame(t, obs.next("frame"), "out", raw, p, p)
	assert.Equal(t, float64(4000), obs.next("closed")["code"])
}

// The client's own frame observer (conn's client, compressing) and the
// server's reports agree byte for byte: RSV1, the deflate bytes, the mask.
func TestLabReportsCompressedFrames(t *testing.T) {
	s := New(Config{})
	addr := startServer(t, s, false)
	obs, session := openObserver(t, addr)

	type seen struct {
		h wsframe.Header
		p []byte
	}
	sent := make(chan seen, 16)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+addr+"/ws?deflate=1&session="+session, &conn.DialOptions{
		Compression:          conn.CompressionNoContextTakeover,
		CompressionThreshold: 1,
		OnFrame: func(dir conn.Direction, h wsframe.Header, p []byte) {
			if dir == conn.Outbound && h.Opcode == wsframe.OpText {
				sent <- seen{h, append([]byte(nil), p...)}
			}
		},
	})
	require.NoError(t, err)
	defer c.CloseNow()
	hs := obs.next("handshake")
	assert.Contains(t, hs.str("response"), "permessage-deflate")

	text := strings.Repeat("compress me ", 20)
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte(text)))
	f := <-sent
	require.Equal(t, wsframe.RSV1, f.h.Rsv)
	masked := append([]byte(nil), f.p...)
	wsframe.Mask(f.h.Mask, 0, masked)
	r := obs.next("frame")
	checkFrame(t, r, "in", wsframe.AppendHeader(nil, f.h), masked, f.p)
	assert.Equal(t, true, r["rsv1"])
	msg := obs.next("message")
	assert.Equal(t, true, msg["compressed"])
	assert.Equal(t, float64(len(f.p)), msg["wire"])
	assert.Equal(t, float64(len(text)), msg["len"])

	// The echo comes back compressed too.
	out := obs.next("frame")
	assert.Equal(t, "out", out.str("dir"))
	assert.Equal(t, true, out["rsv1"])
	_, got, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, text, string(got))
}

func TestLabRefusesBadInput(t *testing.T) {
	s := New(Config{MaxSessions: 1})
	addr := startServer(t, s, false)
	get := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("GET", "/ws?session=nope")
	assert.Equal(t, 400, code)
	assert.Contains(t, body, "unknown session")
	for _, q := range []string{"transport=carrier-pigeon&n=1&every=1", "transport=ws&n=0&every=1", "transport=ws&n=1&every=-1", "transport=ws&n=1&every=5000", "transport=ws", "transport=sse&n=2000&every=31"} {
		code, _ := get("POST", "/measure/start?"+q)
		assert.Equal(t, 400, code, q)
	}
	code, _ = get("GET", "/measure/poll?run=nope&after=0")
	assert.Equal(t, 404, code)
	code, _ = get("GET", "/measure/result?run=nope")
	assert.Equal(t, 404, code)
	code, body = get("POST", "/measure/start?transport=poll&n=3&every=0")
	require.Equal(t, 200, code)
	var st struct{ Run string }
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	code, _ = get("GET", "/measure/poll?run="+st.Run+"&after=x")
	assert.Equal(t, 400, code)
	code, _ = get("GET", "/measure/longpoll?run="+st.Run+"&after=0")
	assert.Equal(t, 404, code, "a poll run is not a long-poll run")

	// A bad command is answered, not fatal; a second page is refused.
	obs, _ := openObserver(t, addr)
	obs.command(`{"cmd":`)
	assert.Contains(t, obs.next("info").str("text"), "bad command")
	obs.command(`{"cmd":"ping"}`)
	assert.Contains(t, obs.next("info").str("text"), "no lab socket")
	code, body = get("GET", "/observe")
	assert.Equal(t, 503, code, body)
}

// httpExchange writes req on c and reads the response whole; it returns
// the response's status and body.
func (c *rawClient) exchange(req string) (int, []byte) {
	c.t.Helper()
	c.write([]byte(req))
	res, err := http.ReadResponse(c.br, nil)
	require.NoError(c.t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	res.Body.Close()
	return res.StatusCode, body
}

// countingConn counts what a raw client writes and reads on the socket.
type countingConn struct {
	net.Conn
	r, w int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r += int64(n)
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w += int64(n)
	return n, err
}

// dialCounted is dialRaw with a byte count.
func dialCounted(t *testing.T, addr string) (*rawClient, *countingConn) {
	t.Helper()
	c := dialRaw(t, addr)
	cc := &countingConn{Conn: c.nc}
	c.nc = cc
	c.br = bufio.NewReader(cc)
	return c, cc
}

func startRun(t *testing.T, c *rawClient, addr, transport string, n, every int) string {
	t.Helper()
	code, body := c.exchange(fmt.Sprintf("POST /measure/start?transport=%s&n=%d&every=%d HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", transport, n, every, addr))
	require.Equal(t, 200, code, string(body))
	var st struct{ Run string }
	require.NoError(t, json.Unmarshal(body, &st))
	return st.Run
}

func result(t *testing.T, c *rawClient, addr, run string) Result {
	t.Helper()
	code, body := c.exchange("GET /measure/result?run=" + run + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	require.Equal(t, 200, code, string(body))
	var r Result
	require.NoError(t, json.Unmarshal(body, &r))
	return r
}

func payloadOf(n int) int64 {
	var p int64
	for i := range n {
		p += int64(messageLen(i))
	}
	return p
}

// Polls on one keep-alive connection, between requests that are not part
// of the run: the run is charged exactly the polls' bytes, both ways, as
// the client counted them on its socket.
func TestMeasurePollCountsExactBytes(t *testing.T) {
	for _, estimate := range []bool{false, true} {
		for _, transport := range []string{"poll", "longpoll"} {
			t.Run(fmt.Sprintf("%s/estimate=%v", transport, estimate), func(t *testing.T) {
				s := New(Config{})
				addr := startServer(t, s, estimate)
				c, cc := dialCounted(t, addr)
				run := startRun(t, c, addr, transport, 5, 0)
				r0, w0 := cc.r, cc.w
				got := 0
				polls := 0
				for got < 5 {
					code, body := c.exchange(fmt.Sprintf("GET /measure/%s?run=%s&after=%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: lab-test\r\n\r\n", transport, run, got, addr))
					require.Equal(t, 200, code)
					for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
						require.Len(t, line, messageLen(got))
						require.True(t, strings.HasPrefix(line, fmt.Sprint(got, " ")), line)
						got++
					}
					polls++
				}
				up, down := cc.w-w0, cc.r-r0
				res := result(t, c, addr, run)
				assert.Equal(t, transport, res.Transport)
				assert.Equal(t, polls, res.Requests)
				assert.Equal(t, 5, res.Delivered)
				assert.Equal(t, payloadOf(5), res.Payload)
				assert.Equal(t, up, res.Up, "bytes client → server")
				assert.Equal(t, down, res.Down, "bytes server → client")
				if estimate {
					assert.Equal(t, "estimate", res.Counted)
				} else {
					assert.Equal(t, "socket", res.Counted)
				}
			})
		}
	}
}

// A WebSocket run, from the handshake to the closing TCP: every byte is
// charged, as the client counted it.
func TestMeasureWebSocketCountsExactBytes(t *testing.T) {
	for _, estimate := range []bool{false, true} {
		t.Run(fmt.Sprintf("estimate=%v", estimate), func(t *testing.T) {
			s := New(Config{})
			addr := startServer(t, s, estimate)
			ctl := dialRaw(t, addr)
			run := startRun(t, ctl, addr, "ws", 4, 0)

			c, cc := dialCounted(t, addr)
			c.write([]byte(upgradeRequest(addr, "/measure/ws?run="+run, "")))
			require.Contains(t, c.head(), "101 Switching Protocols")
			for i := range 4 {
				h, _, p := c.frame()
				require.Equal(t, wsframe.OpText, h.Opcode)
				require.Len(t, p, messageLen(i))
			}
			h, _, p := c.frame()
			require.Equal(t, wsframe.OpClose, h.Opcode)
			c.write(clientFrame(true, wsframe.OpClose, [4]byte{1, 2, 3, 4}, string(p[:2])))
			_, err := c.br.ReadByte()
			require.ErrorIs(t, err, io.EOF, "the server closes TCP after the close handshake")

			res := result(t, ctl, addr, run)
			assert.Equal(t, 1, res.Requests)
			assert.Equal(t, 4, res.Delivered)
			assert.Equal(t, cc.w, res.Up)
			assert.Equal(t, cc.r, res.Down)
		})
	}
}

// An event stream: the run is charged the request and every chunk the
// client read (the stream stays open until the client leaves).
func TestMeasureSSECountsExactBytes(t *testing.T) {
	for _, estimate := range []bool{false, true} {
		t.Run(fmt.Sprintf("estimate=%v", estimate), func(t *testing.T) {
			s := New(Config{})
			addr := startServer(t, s, estimate)
			ctl := dialRaw(t, addr)
			run := startRun(t, ctl, addr, "sse", 3, 0)

			c, cc := dialCounted(t, addr)
			c.write([]byte("GET /measure/sse?run=" + run + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n\r\n"))
			head := c.head()
			require.Contains(t, head, "Transfer-Encoding: chunked")
			var events []string
			for len(events) < 3 {
				// One chunk: size line, data, CRLF.
				line, err := c.br.ReadString('\n')
				require.NoError(t, err)
				var size int
				_, err = fmt.Sscanf(line, "%x", &size)
				require.NoError(t, err)
				data := make([]byte, size+2)
				_, err = io.ReadFull(c.br, data)
				require.NoError(t, err)
				for _, ev := range strings.Split(string(data[:size]), "\n\n") {
					if d, ok := strings.CutPrefix(ev, "data: "); ok {
						events = append(events, d)
					}
				}
			}
			for i, e := range events {
				assert.Len(t, e, messageLen(i))
			}
			res := result(t, ctl, addr, run)
			assert.Equal(t, 1, res.Requests)
			assert.Equal(t, 3, res.Delivered)
			assert.Equal(t, cc.w, res.Up)
			assert.Equal(t, cc.r, res.Down)
		})
	}
}

func TestShutdownEndsEverything(t *testing.T) {
	s := New(Config{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	obs, session := openObserver(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	lab, _, err := conn.Dial(ctx, "ws://"+addr+"/ws?session="+session, nil)
	require.NoError(t, err)
	defer lab.CloseNow()
	obs.next("handshake")

	// A long poll waiting for a message two seconds away.
	ctl := dialRaw(t, addr)
	run := startRun(t, ctl, addr, "longpoll", 3, 1000)
	lp := dialRaw(t, addr)
	lp.write([]byte("GET /measure/longpoll?run=" + run + "&after=2 HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))

	errc := make(chan error, 1)
	go func() { _, _, err := lab.Read(ctx); errc <- err }()
	// Shutdown comes while the poll may not have reached its handler yet:
	// either way it is answered at once.
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, wsframe.CloseGoingAway, conn.CloseCode(<-errc))
	res, err := http.ReadResponse(lp.br, nil)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
}

// The AcceptHook sees every WebSocket with its options, and an observer
// it chains in runs beside the lab's own.
func TestAcceptHook(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var frames, accepted int
	s := New(Config{AcceptHook: func(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if prev := opts.OnFrame; prev != nil {
			opts.OnFrame = func(dir conn.Direction, h wsframe.Header, p []byte) {
				prev(dir, h, p)
				mu.Lock()
				frames++
				mu.Unlock()
			}
		}
		return func(*conn.Conn) {
			mu.Lock()
			accepted++
			mu.Unlock()
		}
	}})
	addr := startServer(t, s, false)
	obs, session := openObserver(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+addr+"/ws?session="+session, nil)
	require.NoError(t, err)
	defer c.CloseNow()
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte("hi")))
	_, _, err = c.Read(ctx)
	require.NoError(t, err)
	obs.next("frame") // the lab's observer still reports
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/observe", "/ws"}, paths)
	assert.Equal(t, 2, accepted)
	assert.Equal(t, 2, frames, "the message and its echo")
}

// Over HTTP/2 there are no raw bytes to pair: the tap reports each frame
// at once, with its decoded header and no payload bytes.
func TestTapWithoutRawBytes(t *testing.T) {
	ss := &session{events: make(chan []byte, 4), start: time.Now()}
	tp := newTap(ss)
	tp.broken = true
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 5}
	tp.onFrame(conn.Inbound, h, nil)
	require.Len(t, ss.events, 1)
	var r report
	require.NoError(t, json.Unmarshal(<-ss.events, &r))
	assert.Equal(t, "818501020304", r.str("header"))
	assert.Equal(t, "", r.str("payload"))
	assert.Equal(t, "payload bytes not available", r.str("note"))
	frames, wire, _ := tp.takeMessage()
	assert.Equal(t, 1, frames)
	assert.Equal(t, int64(5), wire)
}

// A page that connects again replaces its lab socket: the old one is
// closed with 1001.
func TestSecondLabSocketReplacesFirst(t *testing.T) {
	s := New(Config{})
	addr := startServer(t, s, false)
	_, session := openObserver(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	first, _, err := conn.Dial(ctx, "ws://"+addr+"/ws?session="+session, nil)
	require.NoError(t, err)
	defer first.CloseNow()
	second, _, err := conn.Dial(ctx, "ws://"+addr+"/ws?session="+session, nil)
	require.NoError(t, err)
	defer second.CloseNow()
	_, _, err = first.Read(ctx)
	assert.Equal(t, wsframe.CloseGoingAway, conn.CloseCode(err))
	require.NoError(t, second.Write(ctx, conn.MessageText, []byte("still here")))
	_, msg, err := second.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, "still here", string(msg))
}

// The page links the demo's other examples only when it is mounted under
// a prefix, and everything it loads is relative to it.
func TestPageStandaloneAndMounted(t *testing.T) {
	s := New(Config{})
	mux := http.NewServeMux()
	mux.Handle("/lab/", http.StripPrefix("/lab", s))
	mux.Handle("/", s)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer s.Shutdown(context.Background())
	get := func(path string) (int, string) {
		res, err := http.Get(ts.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, standalone := get("/")
	require.Equal(t, 200, code)
	code, mounted := get("/lab/")
	require.Equal(t, 200, code)
	assert.NotContains(t, standalone, `href="../echo/"`)
	assert.Contains(t, mounted, `href="../echo/"`)
	for _, page := range []string{standalone, mounted} {
		assert.Contains(t, page, `href="site.css"`)
		assert.NotContains(t, page, `src="/`, "no absolute URLs")
		assert.NotContains(t, page, `href="/`, "no absolute URLs")
		assert.NotContains(t, page, `('/`, "no absolute URLs in the script")
	}
	for _, path := range []string{"/lab/site.css", "/lab/favicon.svg", "/lab/favicon.ico"} {
		code, _ := get(path)
		assert.Equal(t, 200, code, path)
	}
}
