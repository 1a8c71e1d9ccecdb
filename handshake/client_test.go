package handshake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedServer answers one handshake over a pipe: it reads the request and
// writes respond(key) (the key is the client's Sec-WebSocket-Key).
func scriptedServer(t *testing.T, respond func(req *http.Request) string) (net.Conn, <-chan *http.Request) {
	t.Helper()
	srv, cli := net.Pipe()
	got := make(chan *http.Request, 1)
	go func() {
		defer srv.Close()
		req, err := http.ReadRequest(bufio.NewReader(srv))
		if err != nil {
			close(got)
			return
		}
		got <- req
		io.WriteString(srv, respond(req))
		io.Copy(io.Discard, srv) // until the client closes
	}()
	t.Cleanup(func() { cli.Close() })
	return cli, got
}

// switching returns a valid 101 for req plus extra header lines.
func switching(req *http.Request, extra string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" + extra + "\r\n"
}

func TestClientHandshakeRequestBytes(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	defer cli.Close()
	u, _ := url.Parse("ws://user:pw@example.com:8080/chat?room=1")
	opts := &ClientOptions{
		Header:       http.Header{"Origin": {"http://example.com:8080"}, "Sec-Websocket-Key": {"forged"}, "X-A": {"1", "2"}},
		Subprotocols: []string{"v2", "v1"},
		Extensions:   []Extension{{Name: DeflateName, Params: []Param{{Name: "client_max_window_bits"}}}, {Name: "x-foo"}},
	}
	go ClientHandshake(t.Context(), cli, u, opts)
	br := bufio.NewReader(srv)
	var lines []string
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		lines = append(lines, line)
		if line == "\r\n" {
			break
		}
	}
	require.True(t, strings.HasPrefix(lines[4], "Sec-WebSocket-Key: "))
	key := strings.TrimSuffix(strings.TrimPrefix(lines[4], "Sec-WebSocket-Key: "), "\r\n")
	assert.True(t, validKey(key), key)
	lines[4] = "Sec-WebSocket-Key: KEY\r\n"
	assert.Equal(t, "GET /chat?room=1 HTTP/1.1\r\n"+
		"Host: example.com:8080\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Key: KEY\r\n"+
		"Sec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Protocol: v2, v1\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"+
		"Authorization: Basic dXNlcjpwdw==\r\n"+
		"Origin: http://example.com:8080\r\n"+
		"X-A: 1\r\nX-A: 2\r\n\r\n", strings.Join(lines, ""))
}

func TestClientHandshakeBadOptions(t *testing.T) {
	u, _ := url.Parse("ws://example.com/")
	for name, opts := range map[string]*ClientOptions{
		"header injection":     {Header: http.Header{"X": {"a\r\nEvil: 1"}}},
		"bad header name":      {Header: http.Header{"X Y": {"a"}}},
		"subprotocol no token": {Subprotocols: []string{"a b"}},
		"extension no token":   {Extensions: []Extension{{Name: "a,b"}}},
		"host injection":       {Host: "a\r\nb"},
	} {
		c := &fakeConn{}
		_, _, _, err := ClientHandshake(t.Context(), c, u, opts)
		assert.Error(t, err, name)
		assert.Zero(t, c.out.Len(), name)
	}
	_, _, _, err := ClientHandshake(t.Context(), &fakeConn{}, &url.URL{Path: "/"}, nil)
	assert.Error(t, err)
}

func TestClientHandshakeResponses(t *testing.T) {
	opts := &ClientOptions{
		Subprotocols: []string{"chat"},
		Extensions:   []Extension{{Name: DeflateName}},
	}
	tests := []struct {
		name    string
		respond func(req *http.Request) string
		reason  string // "" for success
		status  int
		body    string
		check   func(t *testing.T, res Result)
	}{
		{name: "plain 101", respond: func(r *http.Request) string { return switching(r, "") }},
		{name: "tokens in lists", respond: func(r *http.Request) string {
			return "HTTP/1.1 101 OK\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Accept: " +
				AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		}},
		{name: "subprotocol and extension", respond: func(r *http.Request) string {
			return switching(r, "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n")
		}, check: func(t *testing.T, res Result) {
			assert.Equal(t, "chat", res.Subprotocol)
			assert.Equal(t, []Extension{{Name: DeflateName, Params: []Param{{Name: "server_no_context_takeover"}}}}, res.Extensions)
		}},
		{name: "not 101", status: 403, body: "go away\n", reason: "expected status 101 Switching Protocols", respond: func(*http.Request) string {
			return "HTTP/1.1 403 Forbidden\r\nContent-Length: 8\r\n\r\ngo away\n"
		}},
		{name: "long error body is cut", status: 500, body: strings.Repeat("x", 1024), reason: "expected status 101 Switching Protocols", respond: func(*http.Request) string {
			return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000)
		}},
		{name: "200", status: 200, reason: "expected status 101 Switching Protocols", respond: func(*http.Request) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
		}},
		{name: "wrong accept", status: 101, reason: "missing or wrong Sec-WebSocket-Accept", respond: func(r *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + rfcAccept + "\r\n\r\n"
		}},
		{name: "two accepts", status: 101, reason: "missing or wrong Sec-WebSocket-Accept", respond: func(r *http.Request) string {
			return switching(r, "Sec-WebSocket-Accept: "+AcceptKey(r.Header.Get("Sec-WebSocket-Key"))+"\r\n")
		}},
		{name: "no accept", status: 101, reason: "missing or wrong Sec-WebSocket-Accept", respond: func(r *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}},
		{name: "no upgrade", status: 101, reason: "Upgrade header does not contain websocket", respond: func(r *http.Request) string {
			return strings.Replace(switching(r, ""), "Upgrade: websocket\r\n", "", 1)
		}},
		{name: "no connection", status: 101, reason: "Connection header does not contain upgrade", respond: func(r *http.Request) string {
			return strings.Replace(switching(r, ""), "Connection: Upgrade\r\n", "Connection: close\r\n", 1)
		}},
		{name: "unoffered subprotocol", status: 101, reason: `server chose subprotocol "other", which was not offered`, respond: func(r *http.Request) string {
			return switching(r, "Sec-WebSocket-Protocol: other\r\n")
		}},
		{name: "two subprotocols", status: 101, reason: "more than one Sec-WebSocket-Protocol header", respond: func(r *http.Request) string {
			return switching(r, "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n")
		}},
		{name: "unoffered extension", status: 101, reason: `server accepted extension "x-other", which was not offered`, respond: func(r *http.Request) string {
			return switching(r, "Sec-WebSocket-Extensions: x-other\r\n")
		}},
		{name: "bad extension syntax", status: 101, reason: "handshake: bad Sec-WebSocket-Extensions: expected a parameter value at offset 22 ('@')", respond: func(r *http.Request) string {
			return switching(r, "Sec-WebSocket-Extensions: permessage-deflate; x=@\r\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := scriptedServer(t, tt.respond)
			u, _ := url.Parse("ws://example.com/")
			br, resp, res, err := ClientHandshake(t.Context(), c, u, opts)
			if tt.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, 101, resp.StatusCode)
				assert.NotNil(t, br)
				if tt.check != nil {
					tt.check(t, res)
				}
				return
			}
			var re *ResponseError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.reason, re.Reason)
			require.NotNil(t, resp)
			assert.Same(t, resp, re.Response)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.body, string(re.Body))
		})
	}
}

func TestClientHandshakeCheckExtensions(t *testing.T) {
	offer := DeflateParams{ClientMaxWindowBits: -1}.Extension()
	check := func(offered, accepted []Extension) error {
		for _, a := range accepted {
			if _, err := ParseDeflateParams(a, false); err != nil {
				return err
			}
		}
		return nil
	}
	for _, tc := range []struct{ resp, reason string }{
		{"permessage-deflate; client_max_window_bits=10", ""},
		{"permessage-deflate; client_max_window_bits", "extensions refused: handshake: permessage-deflate: parameter client_max_window_bits needs a value"},
		{"permessage-deflate; server_max_window_bits=7", `extensions refused: handshake: permessage-deflate: parameter server_max_window_bits="7" is not a window size in 8..15`},
	} {
		c, _ := scriptedServer(t, func(r *http.Request) string { return switching(r, "Sec-WebSocket-Extensions: "+tc.resp+"\r\n") })
		u, _ := url.Parse("ws://example.com/")
		_, _, res, err := ClientHandshake(t.Context(), c, u, &ClientOptions{Extensions: []Extension{offer}, CheckExtensions: check})
		if tc.reason == "" {
			require.NoError(t, err)
			assert.Len(t, res.Extensions, 1)
			continue
		}
		var re *ResponseError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, tc.reason, re.Reason)
	}
}

func TestClientHandshakeKeepsFollowingBytes(t *testing.T) {
	first := frame(1, []byte("welcome"), nil)
	c, _ := scriptedServer(t, func(r *http.Request) string { return switching(r, "") + string(first) })
	u, _ := url.Parse("ws://example.com/")
	br, _, _, err := ClientHandshake(t.Context(), c, u, nil)
	require.NoError(t, err)
	op, masked, payload := readFrame(t, br)
	assert.Equal(t, byte(1), op)
	assert.False(t, masked)
	assert.Equal(t, "welcome", string(payload))
}

func TestClientHandshakeHugeResponse(t *testing.T) {
	c, _ := scriptedServer(t, func(r *http.Request) string {
		return "HTTP/1.1 101 Switching Protocols\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 100) + "\r\n"
	})
	u, _ := url.Parse("ws://example.com/")
	_, _, _, err := ClientHandshake(t.Context(), c, u, nil)
	require.Error(t, err)
}

// TestClientHandshakeContext: cancelling the context unblocks a handshake
// whose server never answers, and a context deadline bounds it.
func TestClientHandshakeContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := net.Pipe()
		defer srv.Close()
		defer cli.Close()
		go io.Copy(io.Discard, srv) // reads the request, never answers
		ctx, cancel := context.WithCancel(t.Context())
		u, _ := url.Parse("ws://example.com/")
		done := make(chan error, 1)
		go func() {
			_, _, _, err := ClientHandshake(ctx, cli, u, nil)
			done <- err
		}()
		synctest.Wait() // the client is blocked reading the response
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
	synctest.Test(t, func(t *testing.T) {
		srv, cli := net.Pipe()
		defer srv.Close()
		defer cli.Close()
		go io.Copy(io.Discard, srv)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		u, _ := url.Parse("ws://example.com/")
		start := time.Now()
		_, _, _, err := ClientHandshake(ctx, cli, u, nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

// TestClientHandshakeDeadlineCleared: after success the connection has no
// deadline left from the context.
func TestClientHandshakeDeadlineCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := net.Pipe()
		defer srv.Close()
		defer cli.Close()
		go func() {
			req, err := http.ReadRequest(bufio.NewReader(srv))
			if err != nil {
				return
			}
			io.WriteString(srv, switching(req, ""))
			time.Sleep(time.Hour)
			io.WriteString(srv, "late")
		}()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		u, _ := url.Parse("ws://example.com/")
		br, _, _, err := ClientHandshake(ctx, cli, u, nil)
		cancel()
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(br, buf)
		require.NoError(t, err)
		assert.Equal(t, "late", string(buf))
	})
}

func TestResponseErrorMessage(t *testing.T) {
	err := &ResponseError{Response: &http.Response{Status: "403 Forbidden", StatusCode: 403}, Reason: "expected status 101 Switching Protocols"}
	assert.Equal(t, "handshake: bad server response (403 Forbidden): expected status 101 Switching Protocols", err.Error())
	var target *ResponseError
	assert.True(t, errors.As(fmt.Errorf("wrapped: %w", err), &target))
}

// ClientHandshake over any connection, here against UpgradeConn through an
// in-memory pipe.
func ExampleClientHandshake() {
	cliConn, srvConn := net.Pipe()
	go func() {
		defer srvConn.Close()
		br := bufio.NewReader(srvConn)
		if _, err := UpgradeConn(srvConn, br, &ServerOptions{Subprotocols: []string{"chat"}}); err != nil {
			return
		}
		srvConn.Write([]byte{0x81, 0x03, 'y', 'o', '!'}) // a text frame "yo!"
	}()
	defer cliConn.Close()

	u, _ := url.Parse("ws://example.com/chat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, resp, res, err := ClientHandshake(ctx, cliConn, u, &ClientOptions{Subprotocols: []string{"chat"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame := make([]byte, 5)
	io.ReadFull(br, frame)
	fmt.Println(resp.StatusCode, res.Subprotocol, string(frame[2:]))
	// Output: 101 chat yo!
}
