package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refusal is the exact answer UpgradeConn writes for a refused request.
func refusal(status int, reason string) string {
	s := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"
	if status == 426 {
		s += "Sec-WebSocket-Version: 13\r\n"
	}
	return s + "Content-Length: " + strconv.Itoa(len(reason)+1) + "\r\n\r\n" + reason + "\n"
}

func upgradeConnRaw(raw string, opts *ServerOptions) (*fakeConn, *bufio.Reader, Result, error) {
	fc := &fakeConn{}
	fc.reset([]byte(raw))
	br := bufio.NewReader(fc)
	res, err := UpgradeConn(fc, br, opts)
	return fc, br, res, err
}

func TestUpgradeConnRequestVectors(t *testing.T) {
	extra := []reqVector{
		{name: "bare LF line ends", req: strings.ReplaceAll(goodRequest, "\r\n", "\n")},
		{name: "request line extra space", req: edit("GET /chat", "GET  /chat"), status: 400, reason: "malformed request line"},
		{name: "request line missing version", req: edit(" HTTP/1.1", ""), status: 400, reason: "malformed request line"},
		{name: "absolute-form target", req: edit("GET /chat", "GET ws://server.example.com/chat")},
		{name: "relative target", req: edit("GET /chat", "GET chat"), status: 400, reason: "malformed request target"},
		{name: "asterisk target", req: edit("GET /chat", "GET *"), status: 400, reason: "malformed request target"},
		{name: "non-ASCII target", req: edit("GET /chat", "GET /ch\xffat"), status: 400, reason: "malformed request target"},
		{name: "HTTP/2.0", req: edit("HTTP/1.1", "HTTP/2.0"), status: 400, reason: reasonVersionHTTP},
		{name: "HTTP/1.10", req: edit("HTTP/1.1", "HTTP/1.10"), status: 400, reason: reasonVersionHTTP},
		{name: "header without colon", req: edit("Upgrade: websocket", "Upgrade websocket"), status: 400, reason: "malformed request header"},
		{name: "space before colon", req: edit("Upgrade: websocket", "Upgrade : websocket"), status: 400, reason: "malformed request header"},
		{name: "obs-fold", req: edit("Upgrade: websocket\r\n", "Upgrade: foo,\r\n websocket\r\n"), status: 400, reason: "malformed request header"},
		{name: "NUL in value", req: edit("Upgrade: websocket", "Upgrade: web\x00socket"), status: 400, reason: "control character in a request header"},
		{name: "control in target", req: edit("/chat", "/ch\x01at"), status: 400, reason: "malformed request line"},
		{name: "line too long", req: edit("/chat", "/"+strings.Repeat("a", 5000)), status: 400, reason: "request line too long"},
		{name: "header too long", req: edit("\r\n\r\n", "\r\nX: "+strings.Repeat("a", 5000)+"\r\n\r\n"), status: 400, reason: "request header too large"},
		{name: "too many headers", req: edit("\r\n\r\n", "\r\n"+strings.Repeat("X: y\r\n", maxHeaderLines)+"\r\n"), status: 400, reason: "too many request headers"},
		{name: "headers too large in total", req: edit("\r\n\r\n", "\r\n"+strings.Repeat("X: "+strings.Repeat("y", 3000)+"\r\n", 12)+"\r\n"), status: 400, reason: "request header too large"},
	}
	for _, v := range append(append([]reqVector{}, requestVectors...), extra...) {
		t.Run(v.name, func(t *testing.T) {
			fc, _, _, err := upgradeConnRaw(v.req, nil)
			if v.status == 0 {
				require.NoError(t, err)
				assert.Equal(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+rfcAccept+"\r\n\r\n", fc.out.String())
				return
			}
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, v.status, re.Status)
			assert.Equal(t, v.reason, re.Reason)
			assert.Equal(t, refusal(v.status, v.reason), fc.out.String())
		})
	}
}

func TestUpgradeConnReadErrors(t *testing.T) {
	for _, raw := range []string{"", "GET / HTTP/1.1", goodRequest[:len(goodRequest)-2]} {
		fc, _, _, err := upgradeConnRaw(raw, nil)
		require.ErrorIs(t, err, io.EOF, "%q", raw)
		var re *RequestError
		assert.False(t, errors.As(err, &re))
		assert.Zero(t, fc.out.Len(), "no answer on a broken connection")
	}
	_, err := UpgradeConn(&fakeConn{}, nil, nil)
	require.Error(t, err)
}

func TestUpgradeConnKeepsFollowingBytes(t *testing.T) {
	first := frame(1, []byte("hi"), []byte{1, 2, 3, 4})
	_, br, _, err := upgradeConnRaw(goodRequest+string(first), nil)
	require.NoError(t, err)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, first, rest)
}

func TestUpgradeConnHooks(t *testing.T) {
	var uri string
	var headers []string
	opts := &ServerOptions{
		OnRequestURI: func(u []byte) error { uri = string(u); return nil },
		OnHeader: func(name, value []byte) error {
			headers = append(headers, string(name)+"="+string(value))
			if string(name) == "Authorization" && string(value) != "Bearer ok" {
				return &RequestError{Status: 401, Reason: "bad token"}
			}
			if string(name) == "X-Deny" {
				return errors.New("denied")
			}
			return nil
		},
	}
	_, _, _, err := upgradeConnRaw(edit("\r\n\r\n", "\r\nAuthorization: Bearer ok\r\n\r\n"), opts)
	require.NoError(t, err)
	assert.Equal(t, "/chat", uri)
	assert.Equal(t, []string{"Host=server.example.com", "Upgrade=websocket", "Connection=Upgrade",
		"Sec-WebSocket-Key=" + rfcKey, "Sec-WebSocket-Version=13", "Authorization=Bearer ok"}, headers)

	fc, _, _, err := upgradeConnRaw(edit("\r\n\r\n", "\r\nAuthorization: Bearer no\r\n\r\n"), opts)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(401, "bad token"), fc.out.String())

	fc, _, _, err = upgradeConnRaw(edit("\r\n\r\n", "\r\nX-Deny: 1\r\n\r\n"), opts)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(400, "denied"), fc.out.String())

	routeOpts := &ServerOptions{OnRequestURI: func(u []byte) error {
		return &RequestError{Status: 404, Reason: "no such endpoint"}
	}}
	fc, _, _, err = upgradeConnRaw(goodRequest, routeOpts)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(404, "no such endpoint"), fc.out.String())
}

// TestUpgradeConnTimeout: a client that trickles its request byte by byte and
// then stalls is cut off by the Timeout. synctest's fake clock makes this
// deterministic: the deadline fires once every goroutine is blocked.
func TestUpgradeConnTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := net.Pipe()
		defer cli.Close()
		defer srv.Close()
		done := make(chan error, 1)
		go func() {
			_, err := UpgradeConn(srv, bufio.NewReader(srv), &ServerOptions{Timeout: 5 * time.Second})
			done <- err
		}()
		start := time.Now()
		for _, b := range []byte(goodRequest[:40]) {
			_, err := cli.Write([]byte{b})
			require.NoError(t, err)
			time.Sleep(100 * time.Millisecond) // fake time: trickling, still within the timeout
		}
		err := <-done
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 5*time.Second, time.Since(start), "the deadline covers the whole handshake")
	})
}

func TestUpgradeConnDeadlineCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := net.Pipe()
		defer cli.Close()
		defer srv.Close()
		go func() {
			io.WriteString(cli, goodRequest)
			resp, err := http.ReadResponse(bufio.NewReader(cli), nil)
			if err == nil {
				resp.Body.Close()
			}
			time.Sleep(time.Hour)
			cli.Write([]byte("late"))
		}()
		br := bufio.NewReader(srv)
		_, err := UpgradeConn(srv, br, &ServerOptions{Timeout: time.Second})
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(br, buf) // an hour later: no deadline left
		require.NoError(t, err)
		assert.Equal(t, "late", string(buf))
	})
}

// TestUpgradeWriteTimeout: Upgrade bounds writing the 101 to a client that
// does not read.
func TestUpgradeWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := net.Pipe() // nobody reads cli: writes block
		defer cli.Close()
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(goodRequest)))
		require.NoError(t, err)
		rec := &hijackRecorder{ResponseRecorder: nil, conn: srv}
		_, _, _, err = Upgrade(rec, req, &ServerOptions{Timeout: time.Second})
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.True(t, rec.hijacked)
	})
}

func TestUpgradeConnZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	raw := []byte(edit("\r\n\r\n", "\r\nOrigin: http://server.example.com\r\nSec-WebSocket-Protocol: a, chat\r\n\r\n"))
	opts := &ServerOptions{Subprotocols: []string{"chat"}}
	fc := &fakeConn{}
	br := bufio.NewReader(fc)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		fc.reset(raw)
		br.Reset(fc)
		_, err = UpgradeConn(fc, br, opts)
	})
	require.NoError(t, err)
	assert.Zero(t, allocs)
}

func ExampleUpgradeConn() {
	srvConn, cliConn := net.Pipe()
	answer := make(chan string)
	go func() { // a client
		defer cliConn.Close()
		fmt.Fprint(cliConn, "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"+
			"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(cliConn), nil)
		if err != nil {
			answer <- err.Error()
			return
		}
		answer <- resp.Status + " " + resp.Header.Get("Sec-WebSocket-Accept")
	}()

	br := bufio.NewReader(srvConn)
	var path string
	_, err := UpgradeConn(srvConn, br, &ServerOptions{
		Timeout:      5 * time.Second,
		OnRequestURI: func(uri []byte) error { path = string(uri); return nil },
	})
	fmt.Println("upgraded", path, err)
	fmt.Println("client got", <-answer)
	srvConn.Close()
	// Output:
	// upgraded /chat <nil>
	// client got 101 Switching Protocols s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
}
