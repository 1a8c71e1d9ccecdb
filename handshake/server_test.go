package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goodRequest is a valid upgrade request; the vectors below edit it.
const goodRequest = "GET /chat HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: " + rfcKey + "\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

// reqVector is one request and the answer both server paths must give.
type reqVector struct {
	name    string
	req     string
	status  int    // 0: upgraded
	reason  string // expected reason (exact) when status != 0
	lowOnly bool   // net/http refuses it before our handler runs
}

// edit returns goodRequest with old replaced by new (old must occur).
func edit(old, new string) string {
	if !strings.Contains(goodRequest, old) {
		panic("edit: " + old)
	}
	return strings.Replace(goodRequest, old, new, 1)
}

var requestVectors = []reqVector{
	{name: "valid", req: goodRequest},
	{name: "token lists and case", req: edit("Upgrade: websocket\r\nConnection: Upgrade\r\n", "upgrade: foo, WebSocket\r\nconnection: keep-alive,\t UPGRADE \r\n")},
	{name: "tokens across header lines", req: edit("Upgrade: websocket\r\nConnection: Upgrade\r\n", "Upgrade: h2c\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\n")},
	{name: "HTTP/1.2", req: edit("HTTP/1.1", "HTTP/1.2")},
	{name: "content-length 0", req: edit("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n")},
	{name: "same-host origin", req: edit("\r\n\r\n", "\r\nOrigin: https://SERVER.example.com\r\n\r\n")},

	{name: "POST", req: edit("GET", "POST"), status: 400, reason: reasonMethod},
	{name: "lower-case method", req: edit("GET", "get"), status: 400, reason: reasonMethod},
	{name: "HTTP/1.0", req: edit("HTTP/1.1", "HTTP/1.0"), status: 400, reason: reasonVersionHTTP},
	{name: "no Host", req: edit("Host: server.example.com\r\n", ""), status: 400, reason: reasonNoHost, lowOnly: true},
	{name: "two Host", req: edit("Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n"), status: 400, reason: reasonDupHost, lowOnly: true},
	{name: "body", req: edit("\r\n\r\n", "\r\nContent-Length: 5\r\n\r\nhello"), status: 400, reason: reasonBody},
	{name: "chunked body", req: edit("\r\n\r\n", "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), status: 400, reason: reasonBody},
	{name: "no Upgrade", req: edit("Upgrade: websocket\r\n", ""), status: 400, reason: reasonUpgrade},
	{name: "Upgrade without websocket", req: edit("Upgrade: websocket", "Upgrade: websockets, h2c"), status: 400, reason: reasonUpgrade},
	{name: "Upgrade token glued", req: edit("Upgrade: websocket", "Upgrade: websocket/13"), status: 400, reason: reasonUpgrade},
	{name: "no Connection", req: edit("Connection: Upgrade\r\n", ""), status: 400, reason: reasonConnection},
	{name: "Connection keep-alive only", req: edit("Connection: Upgrade", "Connection: keep-alive"), status: 400, reason: reasonConnection},
	{name: "Connection substring", req: edit("Connection: Upgrade", "Connection: Upgraded"), status: 400, reason: reasonConnection},
	{name: "version 8", req: edit("Version: 13", "Version: 8"), status: 426, reason: reasonBadVersion},
	{name: "version 13 with junk", req: edit("Version: 13", "Version: 13, 8"), status: 426, reason: reasonBadVersion},
	{name: "no version", req: edit("Sec-WebSocket-Version: 13\r\n", ""), status: 426, reason: reasonNoVersion},
	{name: "two versions", req: edit("Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"), status: 400, reason: reasonDupVersion},
	{name: "no key", req: edit("Sec-WebSocket-Key: "+rfcKey+"\r\n", ""), status: 400, reason: reasonNoKey},
	{name: "two keys", req: edit("Sec-WebSocket-Key: "+rfcKey+"\r\n", "Sec-WebSocket-Key: "+rfcKey+"\r\nSec-WebSocket-Key: "+rfcKey+"\r\n"), status: 400, reason: reasonDupKey},
	{name: "key 15 bytes", req: edit(rfcKey, "dGhlIHNhbXBsZSBub25j"), status: 400, reason: reasonBadKey},
	{name: "key 17 bytes", req: edit(rfcKey, "dGhlIHNhbXBsZSBub25jZSE="), status: 400, reason: reasonBadKey},
	{name: "key not base64", req: edit(rfcKey, "dGhlIHNhbXBsZSBub25j!Q=="), status: 400, reason: reasonBadKey},
	{name: "key url alphabet", req: edit(rfcKey, "dGhlIHNhbXBsZSBub25j_Q=="), status: 400, reason: reasonBadKey},
	{name: "key unpadded", req: edit(rfcKey, "dGhlIHNhbXBsZSBub25jZQ"), status: 400, reason: reasonBadKey},
	{name: "cross origin", req: edit("\r\n\r\n", "\r\nOrigin: https://evil.example\r\n\r\n"), status: 403, reason: "cross-origin request refused"},
	{name: "null origin", req: edit("\r\n\r\n", "\r\nOrigin: null\r\n\r\n"), status: 403, reason: "Origin is not a scheme://host[:port] origin"},
	{name: "two origins", req: edit("\r\n\r\n", "\r\nOrigin: https://server.example.com\r\nOrigin: https://server.example.com\r\n\r\n"), status: 403, reason: "more than one Origin header"},
}

// upgradeVia runs Upgrade on a raw request read by net/http's parser and a
// hijackable recorder. The conn handed out on hijack collects the 101.
func upgradeVia(t *testing.T, raw string, opts *ServerOptions) (*hijackRecorder, *fakeConn, Result, error) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	require.NoError(t, err)
	fc := &fakeConn{}
	rec := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: fc,
		rw: bufio.NewReadWriter(bufio.NewReader(strings.NewReader("")), bufio.NewWriter(fc))}
	c, br, res, err := Upgrade(rec, req, opts)
	if err == nil {
		require.Same(t, fc, c)
		require.NotNil(t, br)
	}
	return rec, fc, res, err
}

func TestUpgradeRequestVectors(t *testing.T) {
	for _, v := range requestVectors {
		if v.lowOnly {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			rec, fc, _, err := upgradeVia(t, v.req, nil)
			if v.status == 0 {
				require.NoError(t, err)
				assert.True(t, rec.hijacked)
				assert.Equal(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+rfcAccept+"\r\n\r\n", fc.out.String())
				return
			}
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, v.status, re.Status)
			assert.Equal(t, v.reason, re.Reason)
			assert.False(t, rec.hijacked, "a refused request must not be hijacked")
			assert.Zero(t, fc.out.Len())
			assert.Equal(t, v.status, rec.Code)
			assert.Equal(t, v.reason+"\n", rec.Body.String())
			assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
			if v.status == 426 {
				assert.Equal(t, "13", rec.Header().Get("Sec-WebSocket-Version"))
			} else {
				assert.Empty(t, rec.Header().Values("Sec-WebSocket-Version"))
			}
		})
	}
}

func TestUpgradeSubprotocol(t *testing.T) {
	tests := []struct {
		name      string
		offered   string // Sec-WebSocket-Protocol lines, "" for none
		supported []string
		require   bool
		want      string
		status    int
	}{
		{name: "server preference wins", offered: "b, a", supported: []string{"a", "b"}, want: "a"},
		{name: "across lines", offered: "x\r\nSec-WebSocket-Protocol: b", supported: []string{"a", "b"}, want: "b"},
		{name: "empty elements", offered: " , ,b,", supported: []string{"b"}, want: "b"},
		{name: "case-sensitive", offered: "Chat", supported: []string{"chat"}, want: ""},
		{name: "none supported", offered: "x", supported: []string{"a"}, want: ""},
		{name: "none offered", supported: []string{"a"}, want: ""},
		{name: "required missing", offered: "x", supported: []string{"a"}, require: true, status: 400},
		{name: "required ok", offered: "x, a", supported: []string{"a"}, require: true, want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := goodRequest
			if tt.offered != "" {
				raw = edit("\r\n\r\n", "\r\nSec-WebSocket-Protocol: "+tt.offered+"\r\n\r\n")
			}
			opts := &ServerOptions{Subprotocols: tt.supported, RequireSubprotocol: tt.require}
			for _, path := range []string{"Upgrade", "UpgradeConn"} {
				var res Result
				var err error
				var out string
				if path == "Upgrade" {
					var fc *fakeConn
					_, fc, res, err = upgradeVia(t, raw, opts)
					out = fc.out.String()
				} else {
					fc := &fakeConn{}
					fc.reset([]byte(raw))
					res, err = UpgradeConn(fc, bufio.NewReader(fc), opts)
					out = fc.out.String()
				}
				if tt.status != 0 {
					var re *RequestError
					require.ErrorAs(t, err, &re, path)
					assert.Equal(t, tt.status, re.Status, path)
					assert.Equal(t, reasonNoSubproto, re.Reason, path)
					continue
				}
				require.NoError(t, err, path)
				assert.Equal(t, tt.want, res.Subprotocol, path)
				if tt.want == "" {
					assert.NotContains(t, out, "Sec-WebSocket-Protocol", path)
				} else {
					assert.Contains(t, out, "\r\nSec-WebSocket-Protocol: "+tt.want+"\r\n", path)
				}
			}
		})
	}
}

func TestUpgradeExtensions(t *testing.T) {
	deflateOnly := func(offers []Extension) ([]Extension, error) {
		for _, o := range offers {
			if o.Name == DeflateName {
				p, err := ParseDeflateParams(o, true)
				if err != nil {
					continue
				}
				resp := DeflateParams{ClientNoContextTakeover: p.ClientNoContextTakeover, ServerNoContextTakeover: true}
				return []Extension{resp.Extension()}, nil
			}
		}
		return nil, nil
	}
	tests := []struct {
		name   string
		header string
		hook   func([]Extension) ([]Extension, error)
		status int
		reason string
		line   string // expected Sec-WebSocket-Extensions response line, "" for none
		nExt   int
	}{
		{name: "ignored without hook", header: "permessage-deflate; garbage=\"", line: ""},
		{name: "deflate chosen", header: "x-foo, permessage-deflate; client_no_context_takeover", hook: deflateOnly,
			line: "permessage-deflate; server_no_context_takeover; client_no_context_takeover", nExt: 1},
		{name: "bad offer falls back", header: "permessage-deflate; bogus, permessage-deflate", hook: deflateOnly,
			line: "permessage-deflate; server_no_context_takeover", nExt: 1},
		{name: "nothing to accept", header: "x-foo", hook: deflateOnly},
		{name: "syntax error", header: "permessage-deflate; a=\"", hook: deflateOnly, status: 400, reason: reasonBadExtension},
		{name: "hook error", header: "x", hook: func([]Extension) ([]Extension, error) { return nil, errors.New("no thanks") },
			status: 400, reason: "extension negotiation failed: no thanks"},
		{name: "hook answers unoffered", header: "x", hook: func([]Extension) ([]Extension, error) { return []Extension{{Name: "y"}}, nil },
			status: 500, reason: "server misconfigured: negotiated an extension the client did not offer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := edit("\r\n\r\n", "\r\nSec-WebSocket-Extensions: "+tt.header+"\r\n\r\n")
			opts := &ServerOptions{NegotiateExtensions: tt.hook}
			for _, path := range []string{"Upgrade", "UpgradeConn"} {
				fc := &fakeConn{}
				var res Result
				var err error
				if path == "Upgrade" {
					_, fc, res, err = upgradeVia(t, raw, opts)
				} else {
					fc.reset([]byte(raw))
					res, err = UpgradeConn(fc, bufio.NewReader(fc), opts)
				}
				out := fc.out.String()
				if tt.status != 0 {
					var re *RequestError
					require.ErrorAs(t, err, &re, path)
					assert.Equal(t, tt.status, re.Status, path)
					assert.Equal(t, tt.reason, re.Reason, path)
					continue
				}
				require.NoError(t, err, path)
				assert.Len(t, res.Extensions, tt.nExt, path)
				if tt.line == "" {
					assert.NotContains(t, out, "Sec-WebSocket-Extensions", path)
				} else {
					assert.Contains(t, out, "\r\nSec-WebSocket-Extensions: "+tt.line+"\r\n", path)
				}
			}
		})
	}
}

func TestUpgradeExtraHeaders(t *testing.T) {
	opts := &ServerOptions{Header: http.Header{
		"Set-Cookie":           {"a=1", "b=2"},
		"X-Server":             {"ws6455"},
		"Sec-Websocket-Accept": {"forged"},
		"Connection":           {"close"},
	}}
	_, fc, _, err := upgradeVia(t, goodRequest, opts)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+rfcAccept+"\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Server: ws6455\r\n\r\n", fc.out.String())

	bad := &ServerOptions{Header: http.Header{"X-Bad": {"a\r\nInjected: yes"}}}
	rec, fc, _, err := upgradeVia(t, goodRequest, bad)
	require.Error(t, err)
	assert.False(t, rec.hijacked)
	assert.Equal(t, 500, rec.Code)
	assert.Zero(t, fc.out.Len())
}

func TestUpgradeCannotHijack(t *testing.T) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(goodRequest)))
	require.NoError(t, err)
	rec := httptest.NewRecorder() // no Hijack method
	c, br, _, err := Upgrade(rec, req, nil)
	require.Error(t, err)
	assert.Nil(t, c)
	assert.Nil(t, br)
	assert.Equal(t, 500, rec.Code)

	// Middleware without Unwrap hides Hijack: a clear error, not a panic.
	type opaqueWriter struct{ http.ResponseWriter }
	inner := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: &fakeConn{}}
	_, _, _, err = Upgrade(opaqueWriter{inner}, req, nil)
	require.ErrorContains(t, err, "hijacking the connection")
	assert.False(t, inner.hijacked)
	assert.Equal(t, 500, inner.Code)
}

// startServer runs handler on a plain or TLS httptest server.
func startServer(t *testing.T, tlsOn bool, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(handler)
	} else {
		srv = httptest.NewServer(handler)
	}
	t.Cleanup(srv.Close)
	return srv
}

// echoOnce upgrades, reads one masked frame from the client and sends its
// payload back unmasked, as text. The test waits for the handlers to finish.
func echoOnce(t *testing.T, opts *ServerOptions, wrap bool) http.HandlerFunc {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the server is closed (cleanups run last-in first-out)
	return func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		if wrap {
			w = &wrappedWriter{ResponseWriter: w}
		}
		c, br, _, err := Upgrade(w, r, opts)
		if err != nil {
			t.Log("upgrade:", err)
			return
		}
		defer c.Close()
		op, masked, payload, err := readFrameErr(br)
		if err != nil {
			t.Log("server read:", err) // e.g. a client that only tests the handshake
			return
		}
		if op != 1 || !masked {
			t.Errorf("got opcode %d masked %v", op, masked)
			return
		}
		if _, err := c.Write(frame(1, payload, nil)); err != nil {
			t.Error(err)
		}
	}
}

func TestUpgradeRealServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
		wrap bool
	}{{"plain", false, false}, {"tls", true, false}, {"middleware", false, true}, {"tls middleware", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.tls, echoOnce(t, &ServerOptions{Subprotocols: []string{"echo"}}, tc.wrap))
			opts := &ClientOptions{Subprotocols: []string{"other", "echo"}}
			if tc.tls {
				opts.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
			}
			c, br, resp, res, err := Dial(t.Context(), srv.URL+"/echo?x=1", opts)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, 101, resp.StatusCode)
			assert.Equal(t, "echo", res.Subprotocol)
			_, err = c.Write(frame(1, []byte("hello"), []byte{1, 2, 3, 4}))
			require.NoError(t, err)
			op, masked, payload := readFrame(t, br)
			assert.Equal(t, byte(1), op)
			assert.False(t, masked)
			assert.Equal(t, "hello", string(payload))
		})
	}
}

// TestUpgradeFirstFrameBuffered sends the request and a frame in one write:
// the frame must come out of the returned reader.
func TestUpgradeFirstFrameBuffered(t *testing.T) {
	got := make(chan string, 1)
	srv := startServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		c, br, _, err := Upgrade(w, r, nil)
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		_, _, payload, err := readFrameErr(br)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(payload)
	})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, strings.Replace(goodRequest, "server.example.com", srv.Listener.Addr().String(), 1)+
		string(frame(1, []byte("early"), []byte{9, 8, 7, 6})))
	require.NoError(t, err)
	assert.Equal(t, "early", <-got)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	assert.Equal(t, 101, resp.StatusCode)
	assert.Equal(t, rfcAccept, resp.Header.Get("Sec-WebSocket-Accept"))
}

// TestUpgradeRefusedOverNetwork checks a refusal as the client sees it.
func TestUpgradeRefusedOverNetwork(t *testing.T) {
	srv := startServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		_, _, _, err := Upgrade(w, r, nil)
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("want RequestError, got %v", err)
		}
	})
	_, _, resp, _, err := Dial(t.Context(), srv.URL, &ClientOptions{Header: http.Header{"Origin": {"https://evil.example"}}})
	var re *ResponseError
	require.ErrorAs(t, err, &re)
	require.NotNil(t, resp)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, "cross-origin request refused\n", string(re.Body))
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, re.Body, body)
}

func TestRequestErrorMessage(t *testing.T) {
	err := error(&RequestError{Status: 426, Reason: reasonBadVersion})
	assert.Equal(t, "handshake: refused with 426 Upgrade Required: "+reasonBadVersion, err.Error())
	var re *RequestError
	assert.True(t, errors.As(fmt.Errorf("accept: %w", err), &re))
}
