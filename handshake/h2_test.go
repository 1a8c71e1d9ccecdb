package handshake

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// xconnect builds the request net/http's HTTP/2 server hands a handler for
// an RFC 8441 extended CONNECT.
func xconnect(protocol string, h http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodConnect, "https://example.com/chat", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Host = "example.com"
	if h == nil {
		h = http.Header{}
	}
	r.Header = h
	if protocol != "" {
		r.Header[ProtocolHeader] = []string{protocol}
	}
	return r
}

// TestAcceptExtendedConnect: the checks of RFC 8441 §4–5 and their
// answers, and the 200 with the negotiated headers.
func TestAcceptExtendedConnect(t *testing.T) {
	v13 := func(kv ...string) http.Header {
		h := http.Header{"Sec-Websocket-Version": {"13"}}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		r       *http.Request
		opts    *ServerOptions
		status  int
		version bool // the answer has Sec-WebSocket-Version: 13
	}{
		{"not CONNECT", func() *http.Request { r := xconnect("websocket", v13()); r.Method = "GET"; return r }(), nil, 400, false},
		{"HTTP/1.1", func() *http.Request { r := xconnect("websocket", v13()); r.ProtoMajor = 1; return r }(), nil, 400, false},
		{"no :protocol", xconnect("", v13()), nil, 400, false},
		{"other :protocol", xconnect("connect-udp", v13()), nil, 501, false},
		{"no authority", func() *http.Request { r := xconnect("websocket", v13()); r.Host = ""; return r }(), nil, 400, false},
		{"no version", xconnect("websocket", nil), nil, 400, true},
		{"version 8", xconnect("websocket", http.Header{"Sec-Websocket-Version": {"8"}}), nil, 400, true},
		{"two versions", xconnect("websocket", http.Header{"Sec-Websocket-Version": {"13", "13"}}), nil, 400, false},
		{"cross origin", xconnect("websocket", v13("Origin", "https://evil.example")), nil, 403, false},
		{"required subprotocol", xconnect("websocket", v13("Sec-WebSocket-Protocol", "x")), &ServerOptions{Subprotocols: []string{"chat"}, RequireSubprotocol: true}, 400, false},
		{"bad extensions", xconnect("websocket", v13("Sec-WebSocket-Extensions", "a;;")), &ServerOptions{NegotiateExtensions: func(o []Extension) ([]Extension, error) { return nil, nil }}, 400, false},
		{"ok", xconnect("websocket", v13("Origin", "https://example.com")), nil, 200, false},
		{"ok, key ignored", xconnect("WebSocket", v13("Sec-WebSocket-Key", "junk")), nil, 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			_, err := AcceptExtendedConnect(w, tc.r, tc.opts)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.status == 200 {
				require.NoError(t, err)
				require.True(t, w.Flushed)
				return
			}
			var re *RequestError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.status, re.Status)
			require.Contains(t, w.Body.String(), re.Reason)
			if tc.version {
				require.Equal(t, "13", w.Header().Get("Sec-WebSocket-Version"))
			}
		})
	}
}

// TestAcceptExtendedConnectNegotiates: the subprotocol and extensions are
// chosen as for an HTTP/1.1 upgrade and answered in the 200, with the
// extra headers but none of the HTTP/1.1 handshake's.
func TestAcceptExtendedConnectNegotiates(t *testing.T) {
	r := xconnect("websocket", http.Header{
		"Sec-Websocket-Version":    {"13"},
		"Sec-Websocket-Protocol":   {"a, b"},
		"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
	})
	w := httptest.NewRecorder()
	res, err := AcceptExtendedConnect(w, r, &ServerOptions{
		Subprotocols: []string{"b", "a"},
		NegotiateExtensions: func(offers []Extension) ([]Extension, error) {
			return []Extension{{Name: offers[0].Name}}, nil
		},
		Header: http.Header{"X-Extra": {"1"}, "Upgrade": {"no"}},
	})
	require.NoError(t, err)
	require.Equal(t, "b", res.Subprotocol)
	require.Equal(t, 200, w.Code)
	require.Equal(t, "b", w.Header().Get("Sec-WebSocket-Protocol"))
	require.Equal(t, "permessage-deflate", w.Header().Get("Sec-WebSocket-Extensions"))
	require.Equal(t, "1", w.Header().Get("X-Extra"))
	require.Empty(t, w.Header().Get("Upgrade"))
	require.Empty(t, w.Header().Get("Sec-WebSocket-Accept"))
}

// TestExtendedConnectRequest: the client's request and the checks of the
// answer.
func TestExtendedConnectRequest(t *testing.T) {
	opts := &ClientOptions{
		Subprotocols: []string{"a", "b"},
		Extensions:   []Extension{{Name: "permessage-deflate"}},
		Header:       http.Header{"Origin": {"https://example.com"}, "Sec-WebSocket-Key": {"dropped"}},
	}
	req, err := NewExtendedConnectRequest("wss://example.com:8443/chat?x=1", http.NoBody, opts)
	require.NoError(t, err)
	require.Equal(t, http.MethodConnect, req.Method)
	require.Equal(t, "https", req.URL.Scheme)
	require.Equal(t, "/chat", req.URL.Path)
	require.Equal(t, []string{"websocket"}, req.Header[ProtocolHeader])
	require.Equal(t, "13", req.Header.Get("Sec-WebSocket-Version"))
	require.Equal(t, "a, b", req.Header.Get("Sec-WebSocket-Protocol"))
	require.Equal(t, "permessage-deflate", req.Header.Get("Sec-WebSocket-Extensions"))
	require.Equal(t, "https://example.com", req.Header.Get("Origin"))
	require.Empty(t, req.Header.Get("Sec-WebSocket-Key"))

	_, err = NewExtendedConnectRequest("ftp://example.com/", http.NoBody, nil)
	require.Error(t, err)
	_, err = NewExtendedConnectRequest("ws://example.com/", http.NoBody, &ClientOptions{Subprotocols: []string{"a b"}})
	require.Error(t, err)

	ok := &http.Response{StatusCode: 200, Header: http.Header{"Sec-Websocket-Protocol": {"b"}}}
	res, err := CheckExtendedConnectResponse(ok, opts)
	require.NoError(t, err)
	require.Equal(t, "b", res.Subprotocol)
	var re *ResponseError
	_, err = CheckExtendedConnectResponse(&http.Response{StatusCode: 403, Status: "403 Forbidden", Header: http.Header{}}, opts)
	require.ErrorAs(t, err, &re)
	_, err = CheckExtendedConnectResponse(&http.Response{StatusCode: 200, Header: http.Header{"Sec-Websocket-Protocol": {"c"}}}, opts)
	require.ErrorAs(t, err, &re)
	_, err = CheckExtendedConnectResponse(&http.Response{StatusCode: 200, Header: http.Header{"Sec-Websocket-Extensions": {"x-other"}}}, opts)
	require.ErrorAs(t, err, &re)
}
