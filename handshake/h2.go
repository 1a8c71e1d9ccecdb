package handshake

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// This file is the opening handshake of RFC 8441: a WebSocket as one stream
// of an HTTP/2 connection, opened by an extended CONNECT.

// ProtocolHeader is the key under which net/http's HTTP/2 server puts the
// :protocol pseudo-header of an extended CONNECT in Request.Header, and
// under which a client Transport that supports RFC 8441 (such as
// golang.org/x/net/http2's) takes it.
const ProtocolHeader = ":protocol"

// IsExtendedConnect reports whether r is an extended CONNECT (RFC 8441 §4):
// the CONNECT method, HTTP/2 or later, and a :protocol pseudo-header. Any
// value of :protocol counts; AcceptExtendedConnect refuses those other than
// "websocket".
func IsExtendedConnect(r *http.Request) bool {
	return r.Method == http.MethodConnect && r.ProtoMajor >= 2 && len(r.Header[ProtocolHeader]) > 0
}

// Reasons for refusing an extended CONNECT.
const (
	reasonNotXConnect  = "not an extended CONNECT (RFC 8441): CONNECT over HTTP/2 with :protocol websocket required"
	reasonXProtocol    = "unsupported :protocol; this server speaks websocket"
	reasonXBadVersion  = "missing or unsupported Sec-WebSocket-Version; this server speaks version 13"
	reasonXNoAuthority = "missing :authority"
)

// AcceptExtendedConnect performs the server side of an RFC 8441 handshake
// on a net/http request that IsExtendedConnect accepts: it checks that
// :protocol is "websocket" and applies the RFC 6455 checks that RFC 8441
// §5 keeps (exactly one Sec-WebSocket-Version, equal to 13; the Origin
// policy; the subprotocol and extension negotiation, with the same headers
// and options as Upgrade). Sec-WebSocket-Key and Sec-WebSocket-Accept are
// not used over HTTP/2; a key the client sends anyway is ignored.
//
// On success it answers 200 with the negotiated Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions (and opts.Header) and flushes the answer; the
// WebSocket's bytes are then r.Body (from the client) and w (to the
// client, flushed after each write). Nothing is hijacked: the stream ends
// when the handler returns. opts.Timeout is not used (the HTTP/2 server's
// own timeouts bound writing the answer).
//
// On a bad request it answers with a short text/plain reason and returns a
// *RequestError: 501 for a :protocol other than websocket, 400 for a
// request that is not an extended CONNECT, a missing :authority or a
// missing or unsupported version (with "Sec-WebSocket-Version: 13"; 426 is
// not used, since it needs an Upgrade header, which HTTP/2 forbids), 403
// for an Origin refused by the policy, 400 for the subprotocol and
// extension checks.
func AcceptExtendedConnect(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (Result, error) {
	if opts == nil {
		opts = &defaultServerOptions
	}
	if !IsExtendedConnect(r) {
		return Result{}, refuseHTTP(w, http.StatusBadRequest, reasonNotXConnect)
	}
	h := r.Header
	if p := h[ProtocolHeader]; len(p) != 1 || !equalFold(p[0], "websocket") {
		return Result{}, refuseHTTP(w, http.StatusNotImplemented, reasonXProtocol)
	}
	if r.Host == "" {
		return Result{}, refuseHTTP(w, http.StatusBadRequest, reasonXNoAuthority)
	}
	switch v := h[hdrVersion]; {
	case len(v) > 1:
		return Result{}, refuseHTTP(w, http.StatusBadRequest, reasonDupVersion)
	case len(v) == 0 || trimOWS(v[0]) != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		return Result{}, refuseHTTP(w, http.StatusBadRequest, reasonXBadVersion)
	}
	origins, origin := 0, ""
	if v := h[hdrOrigin]; len(v) > 0 {
		origins, origin = len(v), trimOWS(v[0])
	}
	if status, reason := checkOrigin(origins, origin, r.Host, opts); status != 0 {
		return Result{}, refuseHTTP(w, status, reason)
	}
	proto := -1
	if len(opts.Subprotocols) > 0 {
		for _, v := range h[hdrProtocol] {
			proto = pickSubprotocol(v, opts.Subprotocols, proto)
		}
	}
	if proto < 0 && opts.RequireSubprotocol {
		return Result{}, refuseHTTP(w, http.StatusBadRequest, reasonNoSubproto)
	}
	var res Result
	if proto >= 0 {
		res.Subprotocol = opts.Subprotocols[proto]
	}
	if opts.NegotiateExtensions != nil {
		exts, status, reason := negotiate(h[hdrExtensions], opts)
		if status != 0 {
			return Result{}, refuseHTTP(w, status, reason)
		}
		res.Extensions = exts
	}
	if err := checkResponseHeader(opts.Header); err != nil {
		refuseHTTP(w, http.StatusInternalServerError, "server misconfigured: bad response header")
		return Result{}, err
	}
	out := w.Header()
	for name, values := range opts.Header {
		if !isManagedHeader(name) {
			out[http.CanonicalHeaderKey(name)] = values
		}
	}
	if res.Subprotocol != "" {
		out.Set("Sec-WebSocket-Protocol", res.Subprotocol)
	}
	if len(res.Extensions) > 0 {
		out.Set("Sec-WebSocket-Extensions", FormatExtensions(res.Extensions))
	}
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return Result{}, fmt.Errorf("handshake: sending the 200 answer to an extended CONNECT: %w", err)
	}
	return res, nil
}

// NewExtendedConnectRequest returns the client's RFC 8441 request for the
// URL u (ws, wss, http or https): CONNECT with ":protocol: websocket"
// (ProtocolHeader), Sec-WebSocket-Version 13, and the offers of opts
// (Header, Host, Subprotocols, Extensions; TLSConfig, Proxy and
// NetDialContext belong to the Transport and are not used). The URL's
// scheme is turned into http or https, which a Transport sends as :scheme.
// body is the request body: the client's half of the stream.
func NewExtendedConnectRequest(u string, body io.ReadCloser, opts *ClientOptions) (*http.Request, error) {
	if opts == nil {
		opts = &defaultClientOptions
	}
	req, err := http.NewRequest(http.MethodConnect, u, body)
	if err != nil {
		return nil, err
	}
	switch req.URL.Scheme {
	case "ws", "http":
		req.URL.Scheme = "http"
	case "wss", "https":
		req.URL.Scheme = "https"
	default:
		return nil, fmt.Errorf("handshake: unsupported URL scheme %q", req.URL.Scheme)
	}
	if req.URL.Path == "" {
		req.URL.Path = "/"
	}
	for name, values := range opts.Header {
		if isManagedHeader(name) {
			continue
		}
		for _, v := range values {
			if !isToken(name) || !validFieldValue(v) {
				return nil, fmt.Errorf("handshake: bad request header %q", name)
			}
		}
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	if h := opts.Header.Get("Host"); h != "" {
		req.Host = h
	}
	if opts.Host != "" {
		req.Host = opts.Host
	}
	req.Header[ProtocolHeader] = []string{"websocket"}
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		for _, p := range opts.Subprotocols {
			if !isToken(p) {
				return nil, fmt.Errorf("handshake: subprotocol %q is not a token", p)
			}
		}
		v := opts.Subprotocols[0]
		for _, p := range opts.Subprotocols[1:] {
			v += ", " + p
		}
		req.Header.Set("Sec-WebSocket-Protocol", v)
	}
	if len(opts.Extensions) > 0 {
		for _, e := range opts.Extensions {
			if err := validExtension(e); err != nil {
				return nil, err
			}
		}
		req.Header.Set("Sec-WebSocket-Extensions", FormatExtensions(opts.Extensions))
	}
	return req, nil
}

// reasonNot200 is the Reason of a ResponseError for an answer other than 200.
const reasonNot200 = "expected 200 to an extended CONNECT"

// CheckExtendedConnectResponse validates the answer to a request made by
// NewExtendedConnectRequest with the same opts: status 200 and a
// subprotocol and extensions among those offered (and accepted by
// opts.CheckExtensions). On failure it returns a *ResponseError holding
// resp (its Body is not read or closed here).
func CheckExtendedConnectResponse(resp *http.Response, opts *ClientOptions) (Result, error) {
	if opts == nil {
		opts = &defaultClientOptions
	}
	if resp == nil {
		return Result{}, errors.New("handshake: no response")
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, &ResponseError{Response: resp, Reason: reasonNot200}
	}
	res, reason := checkNegotiation(resp.Header, opts)
	if reason != "" {
		return Result{}, &ResponseError{Response: resp, Reason: reason}
	}
	return res, nil
}
