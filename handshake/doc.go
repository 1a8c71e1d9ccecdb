// Package handshake implements the WebSocket opening handshake of RFC 6455
// (§4) with the extension negotiation syntax that permessage-deflate (RFC
// 7692) builds on. It stops where frames begin: every function hands back the
// raw connection and a *bufio.Reader that may already hold the peer's first
// frame bytes, and the caller (package conn) speaks the framing protocol.
//
// # Server
//
// Inside a net/http handler, Upgrade validates the request, answers it and
// takes the connection over:
//
//	c, br, res, err := handshake.Upgrade(w, r, &handshake.ServerOptions{
//		Subprotocols: []string{"chat.v2", "chat.v1"},
//	})
//	if err != nil {
//		return // the 4xx answer has already been written
//	}
//	defer c.Close()
//	// read frames from br (not c), write frames to c; res.Subprotocol is the choice
//
// The checks, in order, and their answers: method GET, HTTP/1.1, a Host, no
// request body, "websocket" in Upgrade and "upgrade" in Connection (ASCII
// case-insensitive tokens of comma-separated lists that may span several
// header lines) — 400 otherwise; exactly one Sec-WebSocket-Version, equal to
// 13 — 426 with "Sec-WebSocket-Version: 13" for a missing or other version,
// 400 for a repeated header; exactly one Sec-WebSocket-Key that is base64 of
// 16 bytes — 400; the Origin policy — 403; a subprotocol when
// RequireSubprotocol is set — 400; the extension hook — 400. Every refusal
// carries a short text/plain reason and leaves the connection with net/http.
//
// The subprotocol is the first of ServerOptions.Subprotocols (the server's
// preference) that the client offered; none matching means no
// Sec-WebSocket-Protocol in the response. Extensions are only used when
// ServerOptions.NegotiateExtensions is set: it gets the client's parsed offers
// and returns the response's extensions.
//
// The Origin policy is secure by default, to stop cross-site WebSocket
// hijacking: a request without Origin (not from a browser) is allowed; an
// Origin whose host[:port] equals the request's Host (ASCII
// case-insensitive, no default-port guessing) is allowed; otherwise it must
// match one of ServerOptions.OriginPatterns (path.Match syntax; a pattern
// with ':' is matched against host:port, one without against the host name
// alone), or InsecureSkipOriginCheck must be set. "null", several Origin
// headers and values that are not "scheme://host[:port]" are refused with 403.
//
// Reading the request is net/http's job: bound it with
// http.Server.ReadHeaderTimeout. ServerOptions.Timeout bounds writing the
// 101.
//
// Servers that do not use net/http call UpgradeConn with the accepted
// connection and a bufio.Reader over it. It reads and checks the request
// itself (bounded in size and, with ServerOptions.Timeout, in time, so a
// client that trickles its headers byte by byte is cut off) and, on the happy
// path, allocates nothing. ServerOptions.OnRequestURI and OnHeader expose the
// request target and headers to it.
//
// # Client
//
// Dial connects and runs the handshake:
//
//	c, br, resp, res, err := handshake.Dial(ctx, "wss://example.com/chat", &handshake.ClientOptions{
//		Subprotocols: []string{"chat.v2"},
//	})
//
// It accepts ws, wss, http and https URLs, dials TCP (ClientOptions.NetDialContext),
// goes through an HTTP CONNECT proxy when ClientOptions.Proxy (by default
// the HTTP_PROXY/HTTPS_PROXY/NO_PROXY environment) names one, adds TLS for wss
// with SNI and ALPN "http/1.1", then calls ClientHandshake, which can also be
// used alone over any connection. The request carries a fresh random
// Sec-WebSocket-Key; the response must be a 101 with the right
// Sec-WebSocket-Accept, the Upgrade and Connection tokens, and only a
// subprotocol and extensions that were offered. Any other answer is a
// *ResponseError carrying the response and the start of its body, so that a
// 401 or 403 can be reported properly.
//
// # Extensions
//
// ParseExtensions and FormatExtensions convert between Sec-WebSocket-Extensions
// headers and []Extension. ParseDeflateParams validates the parameters of
// permessage-deflate (RFC 7692 §7.1) for an offer or a response, and
// DeflateParams.Extension turns them back into an Extension.
//
// # HTTP/2 (RFC 8441)
//
// Over HTTP/2 a WebSocket is one stream, opened by an extended CONNECT
// (":protocol: websocket") and accepted with 200; there is no key, no
// 101 and no hijacking. IsExtendedConnect recognises such a request (net/http
// puts :protocol in Request.Header under ProtocolHeader) and
// AcceptExtendedConnect checks and answers it with the same ServerOptions
// as Upgrade. NewExtendedConnectRequest and CheckExtendedConnectResponse
// are the client's half, for a Transport that sends extended CONNECT.
// Package conn builds connections on them.
package handshake
