package echoserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 20 * time.Second

// startServer runs s on 127.0.0.1 and returns its ws:// base URL.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s.Shutdown(ctx)
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

func dial(t *testing.T, rawURL string, opts *conn.DialOptions) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, rawURL, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func read(t *testing.T, c *conn.Conn) (conn.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, p, err := c.Read(ctx)
	require.NoError(t, err)
	return typ, string(p)
}

func write(t *testing.T, c *conn.Conn, typ conn.MessageType, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, c.Write(ctx, typ, []byte(s)))
}

// closeErr reads until the connection ends and returns the peer's close.
func closeErr(t *testing.T, c *conn.Conn) conn.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for range 100 {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce conn.CloseError
		require.ErrorAs(t, err, &ce)
		return ce
	}
	t.Fatal("no close after 100 messages")
	return conn.CloseError{}
}

func TestEchoRoundTrip(t *testing.T) {
	base := startServer(t, New(Config{}))
	var mu sync.Mutex
	var inbound []wsframe.Header
	c := dial(t, base+"/echo", &conn.DialOptions{OnFrame: func(d conn.Direction, h wsframe.Header, _ []byte) {
		if d == conn.Inbound {
			mu.Lock()
			inbound = append(inbound, h)
			mu.Unlock()
		}
	}})
	tests := []struct {
		name string
		typ  conn.MessageType
		data string
	}{
		{"text", conn.MessageText, "hello"},
		{"empty text", conn.MessageText, ""},
		{"binary", conn.MessageBinary, "\x00\x01\xfe\xff"},
		{"utf8", conn.MessageText, "héllo, wörld ✓"},
		{"16-bit length", conn.MessageText, strings.Repeat("a", 300)},
		{"64-bit length", conn.MessageBinary, strings.Repeat("b", 70000)[:DefaultReadLimit]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(t, c, tt.typ, tt.data)
			typ, got := read(t, c)
			assert.Equal(t, tt.typ, typ)
			assert.Equal(t, tt.data, got)
			mu.Lock()
			h := inbound[len(inbound)-1]
			mu.Unlock()
			// The server's echo is one final, unmasked frame of the same
			// type, without RSV bits.
			assert.Equal(t, wsframe.Header{Fin: true, Opcode: wsframe.Opcode(tt.typ), Length: int64(len(tt.data))}, h)
		})
	}
}

// TestEchoCompressed: with compression offered and accepted, a large
// compressible echo comes back as one frame with RSV1 set and a payload
// much shorter than the message.
func TestEchoCompressed(t *testing.T) {
	for _, mode := range []conn.CompressionMode{conn.CompressionNoContextTakeover, conn.CompressionContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			base := startServer(t, New(Config{Compression: mode}))
			var mu sync.Mutex
			var inbound []wsframe.Header
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, resp, err := conn.Dial(ctx, base+"/echo", &conn.DialOptions{
				Compression: conn.CompressionContextTakeover,
				OnFrame: func(d conn.Direction, h wsframe.Header, _ []byte) {
					if d == conn.Inbound {
						mu.Lock()
						inbound = append(inbound, h)
						mu.Unlock()
					}
				},
			})
			require.NoError(t, err)
			defer c.CloseNow()
			assert.Contains(t, resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
			msg := strings.Repeat("compress me ", 200)
			for range 2 {
				write(t, c, conn.MessageText, msg)
				_, got := read(t, c)
				assert.Equal(t, msg, got)
				mu.Lock()
				h := inbound[len(inbound)-1]
				mu.Unlock()
				assert.Equal(t, wsframe.RSV1, h.Rsv)
				assert.True(t, h.Fin)
				assert.Less(t, h.Length, int64(len(msg)/10))
			}
		})
	}
}

// TestEchoBytes checks the echo on the wire: a masked client frame in,
// the same payload unmasked out, byte for byte.
func TestEchoBytes(t *testing.T) {
	base := startServer(t, New(Config{}))
	u, err := url.Parse(base + "/echo")
	require.NoError(t, err)
	nc, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	br, _, _, err := handshake.ClientHandshake(context.Background(), nc, u, nil)
	require.NoError(t, err)

	// "Hi" as a masked text frame, key 01 02 03 04.
	_, err = nc.Write([]byte{0x81, 0x82, 1, 2, 3, 4, 'H' ^ 1, 'i' ^ 2})
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(br, got)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x81, 0x02, 'H', 'i'}, got)

	// A close frame 1000: the server echoes 1000 and closes TCP.
	_, err = nc.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8})
	require.NoError(t, err)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x88, 0x02, 0x03, 0xe8}, rest)
}

func TestAnyOriginAccepted(t *testing.T) {
	base := startServer(t, New(Config{}))
	c := dial(t, base+"/echo", &conn.DialOptions{HTTPHeader: http.Header{"Origin": {"https://elsewhere.example"}}})
	write(t, c, conn.MessageText, "cross-site")
	_, got := read(t, c)
	assert.Equal(t, "cross-site", got)
}

func TestBadRequests(t *testing.T) {
	s := New(Config{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	tests := []struct {
		name, path string
		status     int
		body       string
	}{
		{"bad mode", "/echo?mode=shout", http.StatusBadRequest, `mode must be "echo" or "relay"`},
		{"not an upgrade", "/echo", http.StatusBadRequest, ""},
		{"unknown path", "/nope", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tt.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, string(body), tt.body)
		})
	}
}

func TestPage(t *testing.T) {
	ts := httptest.NewServer(New(Config{}))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(body), "any origin")
	assert.Contains(t, string(body), "new URL('echo', location.href)")
	assert.Contains(t, string(body), `<body data-limit="65536">`)
	assert.Contains(t, string(body), `<strong id="limit">64 KiB</strong>`)
	assert.Contains(t, string(body), `href="site.css"`)
	assert.Contains(t, string(body), `href="https://github.com/ws6455/ws6455/tree/main/examples/echo"`)
	assert.NotContains(t, string(body), `href="../pong/"`, "standalone: no links to the other examples")
}

// TestPageMounted: under a prefix (the demo's), the page links the index
// and the other examples, and its stylesheet and favicon are served next
// to it.
func TestPageMounted(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", New(Config{ReadLimit: 1000})))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for path, want := range map[string]string{
		"/echo/":            `<strong id="limit">1000 bytes</strong>`,
		"/echo/site.css":    "--accent",
		"/echo/favicon.svg": "<svg",
		"/echo/favicon.ico": "<svg",
	} {
		resp, err := http.Get(ts.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, string(body), want, path)
		if path == "/echo/" {
			assert.Contains(t, string(body), `<a class="brand" href="../">`)
			assert.Contains(t, string(body), `href="../pong/"`)
		}
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{1000: "1000 bytes", 1024: "1 KiB", 64 << 10: "64 KiB", 1 << 20: "1 MiB", 1<<20 + 1: "1048577 bytes", 1536: "1536 bytes"} {
		assert.Equal(t, want, byteSize(n), "%d", n)
	}
}

func TestRelayToOthersOnly(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		query string
	}{
		{"flag", Config{Relay: true}, ""},
		{"query", Config{}, "?mode=relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg)
			base := startServer(t, s)
			a := dial(t, base+"/echo"+tt.query, nil)
			b := dial(t, base+"/echo"+tt.query, nil)
			c := dial(t, base+"/echo"+tt.query, nil)
			waitClients(t, s, 3)

			write(t, a, conn.MessageText, "from a")
			for _, peer := range []*conn.Conn{b, c} {
				typ, got := read(t, peer)
				assert.Equal(t, conn.MessageText, typ)
				assert.Equal(t, "from a", got)
			}
			// Had a received its own message, it would come before b's:
			// its queue is first in, first out.
			write(t, b, conn.MessageBinary, "from b")
			typ, got := read(t, a)
			assert.Equal(t, conn.MessageBinary, typ)
			assert.Equal(t, "from b", got)
			_, got = read(t, c)
			assert.Equal(t, "from b", got)
		})
	}
}

// waitClients waits until s has registered n clients: a Dial returns when
// the handshake is done, possibly just before the handler registers it.
func waitClients(t *testing.T, s *Server, n int) {
	t.Helper()
	for range 10000 {
		if s.Len() == n {
			return
		}
		time.Sleep(time.Millisecond) // polling, not an assertion on time
	}
	t.Fatalf("server has %d clients, want %d", s.Len(), n)
}

// TestRelaySlowClientDropped blocks one client's writer so that its queue
// fills: the next relayed message drops it with 1008 while the others keep
// receiving everything.
func TestRelaySlowClientDropped(t *testing.T) {
	const queue = 2
	s := New(Config{Relay: true, QueueSize: queue})
	var slowAddr atomicAddr
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	s.testHookWrite = func(remote net.Addr) {
		if remote.String() == slowAddr.Load() {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
	}
	base := startServer(t, s)
	sender := dial(t, base+"/echo", nil)
	slow := dial(t, base+"/echo", nil)
	fast := dial(t, base+"/echo", nil)
	slowAddr.Store(slow.LocalAddr().String())
	waitClients(t, s, 3)
	defer close(release)

	write(t, sender, conn.MessageText, "m0")
	<-entered // the slow client's writer holds m0 and is stuck
	_, got := read(t, fast)
	assert.Equal(t, "m0", got)
	// One message at a time, so that only the stuck client's queue can
	// fill: queue messages wait for it, the next one overflows, and the
	// others still get every message.
	const total = 1 + queue + 3
	for i := 1; i < total; i++ {
		msg := fmt.Sprintf("m%d", i)
		write(t, sender, conn.MessageText, msg)
		_, got := read(t, fast)
		assert.Equal(t, msg, got)
	}
	ce := closeErr(t, slow)
	assert.Equal(t, wsframe.ClosePolicyViolation, ce.Code)
	assert.Equal(t, "too slow: relay queue overflow", ce.Reason)
	waitClients(t, s, 2)
}

func TestShutdownClosesWith1001(t *testing.T) {
	s := New(Config{})
	base := startServer(t, s)
	const n = 3
	clients := make([]*conn.Conn, n)
	errs := make(chan error, n)
	for i := range clients {
		clients[i] = dial(t, base+"/echo", nil)
		go func(c *conn.Conn) {
			_, _, err := c.Read(context.Background())
			errs <- err
		}(clients[i])
	}
	waitClients(t, s, n)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx), "every close handshake should complete")
	for range n {
		err := <-errs
		var ce conn.CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, wsframe.CloseGoingAway, ce.Code)
	}
	assert.Equal(t, 0, s.Len())

	// New connections are refused once shut down.
	_, resp, err := conn.Dial(ctx, base+"/echo", nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestMessageTooBig: a message over the read limit closes the connection
// with 1009 before its payload is read.
func TestMessageTooBig(t *testing.T) {
	base := startServer(t, New(Config{ReadLimit: 16}))
	c := dial(t, base+"/echo", nil)
	write(t, c, conn.MessageText, strings.Repeat("x", 17))
	ce := closeErr(t, c)
	assert.Equal(t, wsframe.CloseTooBig, ce.Code)
}

// atomicAddr is a string shared between the test and the server's hook.
type atomicAddr struct {
	mu sync.Mutex
	s  string
}

func (a *atomicAddr) Store(s string) { a.mu.Lock(); a.s = s; a.mu.Unlock() }
func (a *atomicAddr) Load() string   { a.mu.Lock(); defer a.mu.Unlock(); return a.s }
