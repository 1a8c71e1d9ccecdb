package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/echo/echoserver"
	"github.com/ws6455/ws6455/wsframe"
)

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 20 * time.Second

// lines is an io.Writer that collects output and hands over each complete
// line, so that a test can wait for a line instead of sleeping.
type lines struct {
	mu   sync.Mutex
	all  strings.Builder
	part string
	ch   chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 1000)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.part += string(p)
	for {
		i := strings.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case l.ch <- l.part[:i]:
		default: // nobody is waiting for that many lines
		}
		l.part = l.part[i+1:]
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// next waits for the next line.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(testTimeout):
		t.Fatalf("no line; output so far:\n%s", l.String())
		return ""
	}
}

// wscat runs the command in the background, with a pipe as its input.
type wscat struct {
	stdin          *io.PipeWriter
	stdout, stderr *lines
	done           chan int
}

// start runs wscat as on a terminal's output (the decorated view), with
// input from a pipe.
func start(t *testing.T, ctx context.Context, args ...string) *wscat {
	t.Helper()
	return startTTY(t, ctx, true, args...)
}

// startTTY runs wscat with input from a pipe and says whether its standard
// output is a terminal.
func startTTY(t *testing.T, ctx context.Context, tty bool, args ...string) *wscat {
	t.Helper()
	pr, pw := io.Pipe()
	w := &wscat{stdin: pw, stdout: newLines(), stderr: newLines(), done: make(chan int, 1)}
	s := streams{stdin: pr, stdout: w.stdout, stderr: w.stderr, stdoutTTY: tty}
	go func() { w.done <- run(ctx, args, s) }()
	t.Cleanup(func() { pw.Close() })
	return w
}

// runOnce runs wscat to its end with the given input and returns its
// status and outputs (standard output not a terminal).
func runOnce(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), args, streams{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	}()
	select {
	case code = <-done:
	case <-time.After(testTimeout):
		t.Fatalf("wscat %q did not exit", args)
	}
	return code, out.String(), errb.String()
}

func (w *wscat) send(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(w.stdin, line+"\n")
	require.NoError(t, err)
}

func (w *wscat) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-w.done:
		return code
	case <-time.After(testTimeout):
		t.Fatalf("wscat did not exit; stderr:\n%s", w.stderr.String())
		return -1
	}
}

func echoURL(t *testing.T) string {
	t.Helper()
	s := echoserver.New(echoserver.Config{Compression: conn.CompressionNoContextTakeover})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s.Shutdown(ctx)
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/echo"
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		in    []string
		out   []string
	}{
		{"text", nil, []string{"hello", "wörld", "", "crlf\r"}, []string{"< hello", "< wörld", "< ", "< crlf"}},
		{"binary", []string{"-binary"}, []string{"hi", "a\tb"}, []string{"< binary 2 bytes: hex:6869", "< binary 3 bytes: hex:610962"}},
		{"compressed", []string{"-compress"}, []string{strings.Repeat("z", 200)}, []string{"< " + strings.Repeat("z", 200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := echoURL(t)
			w := start(t, context.Background(), append(tt.flags, u)...)
			assert.True(t, strings.HasPrefix(w.stderr.next(t), "connected to "+u))
			for i, line := range tt.in {
				w.send(t, line)
				assert.Equal(t, tt.out[i], w.stdout.next(t))
			}
			w.stdin.Close() // end of input: close with 1000
			assert.Equal(t, exitOK, w.wait(t))
			assert.Equal(t, "closed with 1000 (normal closure): the peer answered", w.stderr.next(t))
		})
	}
}

func TestCompressionNegotiated(t *testing.T) {
	u := echoURL(t)
	w := start(t, context.Background(), "-compress", u)
	assert.Equal(t, "connected to "+u+" (extensions permessage-deflate; server_no_context_takeover; client_no_context_takeover)", w.stderr.next(t))
}

// traceLine matches the -trace format; the masking keys are random.
var maskRe = regexp.MustCompile(`mask=[0-9a-f]{8} `)

func TestTrace(t *testing.T) {
	u := echoURL(t)
	w := start(t, context.Background(), "-trace", u)
	assert.True(t, strings.HasPrefix(w.stderr.next(t), "connected to "))
	next := func() string { return maskRe.ReplaceAllString(w.stderr.next(t), "mask=KEY ") }

	w.send(t, "hello")
	assert.Equal(t, `out fin=1 rsv=000 op=text mask=KEY len=5 data="hello"`, next())
	assert.Equal(t, `in  fin=1 rsv=000 op=text mask=- len=5 data=(streamed)`, next())
	assert.Equal(t, "< hello", w.stdout.next(t))

	long := strings.Repeat("0123456789", 10)
	w.send(t, long)
	assert.Equal(t, `out fin=1 rsv=000 op=text mask=KEY len=100 data="`+long[:64]+`"… (+36 bytes)`, next())
	assert.Equal(t, `in  fin=1 rsv=000 op=text mask=- len=100 data=(streamed)`, next())
	assert.Equal(t, "< "+long, w.stdout.next(t))

	w.stdin.Close()
	assert.Equal(t, exitOK, w.wait(t))
	assert.Equal(t, `out fin=1 rsv=000 op=close mask=KEY len=2 close=1000`, next())
	assert.Equal(t, `in  fin=1 rsv=000 op=close mask=- len=2 close=1000`, next())
	assert.Equal(t, "closed with 1000 (normal closure): the peer answered", next())
}

func TestFormatFrame(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	tests := []struct {
		name string
		dir  conn.Direction
		h    wsframe.Header
		p    []byte
		want string
	}{
		{"text", conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, Mask: key, Length: 2}, []byte("hi"),
			`out fin=1 rsv=000 op=text mask=deadbeef len=2 data="hi"`},
		{"fragment", conn.Inbound, wsframe.Header{Opcode: wsframe.OpBinary, Length: 3}, nil,
			`in  fin=0 rsv=000 op=binary mask=- len=3 data=(streamed)`},
		{"continuation", conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Length: 0}, nil,
			`in  fin=1 rsv=000 op=continuation mask=- len=0`},
		{"binary", conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: 3}, []byte{0, 1, 0xff},
			`out fin=1 rsv=000 op=binary mask=- len=3 data=hex:0001ff`},
		{"newline quoted", conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpText, Length: 3}, []byte("a\nb"),
			`out fin=1 rsv=000 op=text mask=- len=3 data="a\nb"`},
		{"compressed", conn.Outbound, wsframe.Header{Fin: true, Rsv: wsframe.RSV1, Opcode: wsframe.OpText, Length: 2}, []byte{0x4a, 0x04},
			`out fin=1 rsv=100 op=text mask=- len=2 data=hex:4a04 (compressed)`},
		{"rsv2 and rsv3", conn.Inbound, wsframe.Header{Fin: true, Rsv: wsframe.RSV2 | wsframe.RSV3, Opcode: wsframe.OpText, Length: 1}, []byte("x"),
			`in  fin=1 rsv=011 op=text mask=- len=1 data="x"`},
		{"ping", conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpPing, Length: 4}, []byte("ping"),
			`in  fin=1 rsv=000 op=ping mask=- len=4 data="ping"`},
		{"empty pong", conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpPong, Masked: true, Mask: key}, []byte{},
			`out fin=1 rsv=000 op=pong mask=deadbeef len=0`},
		{"close with reason", conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Length: 5}, []byte{0x03, 0xe9, 'b', 'y', 'e'},
			`in  fin=1 rsv=000 op=close mask=- len=5 close=1001 "bye"`},
		{"bad close", conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Length: 1}, []byte{0x03},
			`in  fin=1 rsv=000 op=close mask=- len=1 close=invalid(wsframe: close payload of 1 byte (1002)) data=hex:03`},
		{"reserved opcode", conn.Inbound, wsframe.Header{Fin: true, Opcode: 0xb, Length: 0}, nil,
			`in  fin=1 rsv=000 op=reserved(0xb) mask=- len=0`},
		{"split rune", conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpText, Length: 66}, []byte(strings.Repeat("a", 63) + "€"),
			`out fin=1 rsv=000 op=text mask=- len=66 data="` + strings.Repeat("a", 63) + `"… (+3 bytes)`},
		{"long binary", conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: 70}, make([]byte, 70),
			`out fin=1 rsv=000 op=binary mask=- len=70 data=hex:` + strings.Repeat("00", 64) + `… (+6 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatFrame(tt.dir, tt.h, tt.p)
			if tt.name == "bad close" {
				// The error text belongs to wsframe; only its presence matters.
				assert.Regexp(t, `^in  fin=1 rsv=000 op=close mask=- len=1 close=invalid\(.+\) data=hex:03$`, got)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPeerClose(t *testing.T) {
	tests := []struct {
		code   wsframe.CloseCode
		reason string
		line   string
		exit   int
	}{
		{wsframe.CloseNormal, "done", `closed by peer: 1000 (normal closure) "done"`, exitOK},
		{wsframe.CloseGoingAway, "", `closed by peer: 1001 (going away)`, exitOK},
		{wsframe.ClosePolicyViolation, "no", `closed by peer: 1008 (policy violation) "no"`, exitPeerClose},
		{4000, "custom", `closed by peer: 4000 "custom"`, exitPeerClose},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(uint16(tt.code)), func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := conn.Accept(w, r, nil)
				if err != nil {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				c.Read(ctx) // wait for a message, then close
				c.Close(tt.code, tt.reason)
			}))
			defer ts.Close()
			w := start(t, context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http"))
			w.stderr.next(t) // connected
			w.send(t, "bye?")
			assert.Equal(t, tt.exit, w.wait(t))
			assert.Equal(t, tt.line, w.stderr.next(t))
		})
	}
}

// TestHeadersAndRefusal: -H reaches the server; a refused handshake shows
// the status and the server's one-line plain-text reason, and an HTML page
// is summarised, not printed.
func TestHeadersAndRefusal(t *testing.T) {
	page := "<!DOCTYPE html><html><head><title>403</title></head><body>" + strings.Repeat("<p>nope</p>\n", 200) + "</body></html>"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, page)
		case r.Header.Get("Authorization") != "Bearer tok":
			http.Error(w, "missing token: add an Authorization: Bearer header\nsecond line not shown", http.StatusUnauthorized)
		default:
			c, err := conn.Accept(w, r, nil)
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c.Write(ctx, conn.MessageText, []byte("extra="+r.Header.Get("X-Extra")))
			c.Read(ctx) // answers wscat's close
		}
	}))
	defer ts.Close()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"

	code, stdout, stderr := runOnce(t, "", u)
	assert.Equal(t, exitConnect, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "wscat: handshake refused: 401 Unauthorized\nwscat: missing token: add an Authorization: Bearer header …\n", stderr)

	code, _, stderr = runOnce(t, "", u[:strings.LastIndex(u, "/")]+"/html")
	assert.Equal(t, exitConnect, code)
	assert.Equal(t, "wscat: handshake refused: 403 Forbidden\nwscat: (not shown: a body of 1024 bytes, text/html)\n", stderr,
		"the library keeps the first KiB of the body; none of it is printed")

	w := start(t, context.Background(), "-H", "Authorization: Bearer tok", "-H", "X-Extra: 1", u)
	assert.Equal(t, "connected to "+u, w.stderr.next(t))
	assert.Equal(t, "< extra=1", w.stdout.next(t))
	w.stdin.Close()
	assert.Equal(t, exitOK, w.wait(t))
}

func TestSubprotocol(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{Subprotocols: []string{"v2", "v1"}})
		if err != nil {
			return
		}
		c.Close(wsframe.CloseNormal, "")
	}))
	defer ts.Close()
	u := "ws" + strings.TrimPrefix(ts.URL, "http")
	w := start(t, context.Background(), "-subprotocol", "v1, v2", u)
	assert.Equal(t, "connected to "+u+" (subprotocol v2)", w.stderr.next(t))
	assert.Equal(t, exitOK, w.wait(t))
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no url", nil, exitUsage, "want one URL, or -listen"},
		{"two urls", []string{"ws://a", "ws://b"}, exitUsage, "want one URL, or -listen"},
		{"listen and url", []string{"-listen", "127.0.0.1:0", "ws://a"}, exitUsage, "-listen takes no URL"},
		{"bad header", []string{"-H", "no colon", "ws://a"}, exitUsage, `want "Name: value"`},
		{"header name with space", []string{"-H", "A B: c", "ws://a"}, exitUsage, `want "Name: value"`},
		{"header injection", []string{"-H", "A: b\r\nEvil: 1", "ws://a"}, exitUsage, "control characters"},
		{"header on server", []string{"-listen", "127.0.0.1:0", "-H", "A: b"}, exitUsage, "-H is for the client only"},
		{"unknown flag", []string{"-nope", "ws://a"}, exitUsage, "flag provided but not defined"},
		{"help", []string{"-h"}, exitOK, "usage: wscat"},
		{"bad scheme", []string{"ftp://127.0.0.1/"}, exitUsage, `wscat: URL scheme "ftp": want ws, wss, http or https`},
		{"no scheme", []string{"localhost:8080/echo"}, exitUsage, `wscat: URL "localhost:8080/echo" has no scheme: did you mean ws://localhost:8080/echo ?`},
		{"no scheme, flag after", []string{"example.com", "-count", "1"}, exitUsage, `did you mean ws://example.com ?`},
		{"no scheme, URL in the query", []string{"example.com/x?u=http://y"}, exitUsage, `did you mean ws://example.com/x?u=http://y ?`},
		{"scheme-relative", []string{"//example.com/x"}, exitUsage, `did you mean ws://example.com/x ?`},
		{"upper-case scheme", []string{"WS:///x"}, exitUsage, "has no host"},
		{"no host", []string{"ws:///path"}, exitUsage, "has no host"},
		{"x and file", []string{"-x", "a", "-file", "f", "ws://a"}, exitUsage, "-x and -file both give the message"},
		{"missing file", []string{"-file", "/nonexistent/wscat", "ws://a"}, exitUsage, "-file: open /nonexistent/wscat"},
		{"bad output", []string{"-output", "json", "ws://a"}, exitUsage, "-output: want pretty, raw or auto"},
		{"bad binfmt", []string{"-binfmt", "b32", "ws://a"}, exitUsage, "-binfmt: want raw, hex or base64"},
		{"negative count", []string{"-count", "-2", "ws://a"}, exitUsage, "want a number of messages, 0 or more"},
		{"cert without key", []string{"-cert", "c.pem", "ws://a"}, exitUsage, "-cert and -key go together"},
		{"cacert on server without cert", []string{"-listen", "127.0.0.1:0", "-cacert", "ca.pem"}, exitUsage, "-cacert with -listen needs -cert"},
		{"origin on server", []string{"-listen", "127.0.0.1:0", "-origin", "http://a"}, exitUsage, "-origin is for the client only"},
		{"proxy on server", []string{"-listen", "127.0.0.1:0", "-proxy", "127.0.0.1:1"}, exitUsage, "-proxy is for the client only"},
		{"socks proxy", []string{"-proxy", "socks5://127.0.0.1:1", "ws://a"}, exitUsage, `-proxy: scheme "socks5"`},
		{"bad origin", []string{"-origin", "a b", "ws://a"}, exitUsage, "-origin: spaces"},
		{"bad slash", []string{"-slash=maybe", "ws://a"}, exitUsage, "want true or false"},
		{"unreadable cacert", []string{"-cacert", "/nonexistent/ca.pem", "ws://127.0.0.1:1"}, exitUsage, "-cacert: open /nonexistent/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runOnce(t, "", tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, stderr, tt.msg)
			assert.Empty(t, stdout)
		})
	}
}

// TestListen runs wscat as a server and talks to it with conn.Dial.
func TestListen(t *testing.T) {
	w := start(t, context.Background(), "-listen", "127.0.0.1:0", "-trace")
	line := w.stderr.next(t)
	require.True(t, strings.HasPrefix(line, "listening on ws://127.0.0.1:"), line)
	u := strings.TrimPrefix(line, "listening on ")

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, u+"anything", &conn.DialOptions{HTTPHeader: http.Header{"Origin": {"https://any.example"}}})
	require.NoError(t, err)
	defer c.CloseNow()
	assert.True(t, strings.HasPrefix(w.stderr.next(t), "client 127.0.0.1:"))

	// A second client is turned away while the first is connected.
	_, resp, err := conn.Dial(ctx, u, nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	require.NoError(t, c.Write(ctx, conn.MessageText, []byte("to wscat")))
	assert.Regexp(t, `^in  fin=1 rsv=000 op=text mask=[0-9a-f]{8} len=8 data=\(streamed\)$`, w.stderr.next(t))
	assert.Equal(t, "< to wscat", w.stdout.next(t))

	w.send(t, "to client")
	assert.Equal(t, `out fin=1 rsv=000 op=text mask=- len=9 data="to client"`, w.stderr.next(t))
	typ, msg, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, conn.MessageText, typ)
	assert.Equal(t, "to client", string(msg))

	// End of input closes the client with 1000 and stops the server.
	w.stdin.Close()
	_, _, err = c.Read(ctx)
	assert.Equal(t, wsframe.CloseNormal, conn.CloseCode(err))
	assert.Equal(t, exitOK, w.wait(t))
}

// TestListenNextClient: after a client leaves, the next one is served.
func TestListenNextClient(t *testing.T) {
	w := start(t, context.Background(), "-listen", "127.0.0.1:0")
	u := strings.TrimPrefix(w.stderr.next(t), "listening on ")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i := range 2 {
		c, _, err := conn.Dial(ctx, u, nil)
		require.NoError(t, err)
		w.stderr.next(t) // client connected
		msg := fmt.Sprintf("client %d", i)
		require.NoError(t, c.Write(ctx, conn.MessageText, []byte(msg)))
		assert.Equal(t, "< "+msg, w.stdout.next(t))
		require.NoError(t, c.Close(wsframe.CloseNormal, "bye"))
		assert.Equal(t, `closed by peer: 1000 (normal closure) "bye"`, w.stderr.next(t))
	}
	w.stdin.Close()
	assert.Equal(t, exitOK, w.wait(t))
}

// TestSignal: cancelling the context (SIGINT) closes with 1001.
func TestSignal(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c.Read(ctx) // answers wscat's close
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	w := start(t, ctx, "ws"+strings.TrimPrefix(ts.URL, "http"))
	w.stderr.next(t) // connected
	cancel()
	assert.Equal(t, exitOK, w.wait(t))
	assert.Equal(t, "closed with 1001 (going away): the peer answered", w.stderr.next(t))
}

// TestPing: -ping pings at the interval and reports the pongs.
func TestPing(t *testing.T) {
	u := echoURL(t)
	w := start(t, context.Background(), "-ping", "1ms", "-trace", u)
	w.stderr.next(t) // connected
	for range 2 {
		assert.Regexp(t, `^out fin=1 rsv=000 op=ping mask=[0-9a-f]{8} len=[0-9]+ data=.+$`, w.stderr.next(t))
		assert.Regexp(t, `^in  fin=1 rsv=000 op=pong mask=- len=[0-9]+ data=.+$`, w.stderr.next(t))
		assert.Regexp(t, `^pong after [0-9.]+[µnm]?s$`, w.stderr.next(t))
	}
	w.stdin.Close()
	assert.Equal(t, exitOK, w.wait(t))
}

// TestListenOptions: -compress and -subprotocol apply to the server side.
func TestListenOptions(t *testing.T) {
	w := start(t, context.Background(), "-listen", "127.0.0.1:0", "-compress", "-subprotocol", "chat")
	u := strings.TrimPrefix(w.stderr.next(t), "listening on ")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, resp, err := conn.Dial(ctx, u, &conn.DialOptions{Compression: conn.CompressionContextTakeover, Subprotocols: []string{"other", "chat"}})
	require.NoError(t, err)
	defer c.CloseNow()
	assert.Equal(t, "chat", c.Subprotocol())
	assert.Contains(t, resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	assert.Equal(t, "client "+c.LocalAddr().String()+" connected to "+strings.TrimSuffix(u, "/")+" (subprotocol chat)", w.stderr.next(t))

	msg := strings.Repeat("squeeze ", 100)
	w.send(t, msg)
	_, got, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, msg, string(got))
	w.stdin.Close()
	_, _, err = c.Read(ctx)
	assert.Equal(t, wsframe.CloseNormal, conn.CloseCode(err))
	assert.Equal(t, exitOK, w.wait(t))
}
