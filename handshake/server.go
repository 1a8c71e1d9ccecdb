package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// DefaultTimeout bounds the server-side handshake I/O when
// ServerOptions.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ServerOptions configures the server side of the handshake (Upgrade and
// UpgradeConn). The zero value (or a nil pointer) accepts same-origin and
// non-browser clients, with no subprotocol and no extensions.
type ServerOptions struct {
	// Subprotocols lists the supported subprotocols in the server's order of
	// preference. The first one the client also offered is chosen.
	Subprotocols []string
	// RequireSubprotocol refuses the upgrade with 400 when none of the
	// client's subprotocols is supported (or it offered none).
	RequireSubprotocol bool
	// OriginPatterns are extra allowed Origin hosts in path.Match syntax,
	// compared ASCII case-insensitively, e.g. "*.example.com" or
	// "localhost:*". See the Origin rules in the package documentation.
	OriginPatterns []string
	// InsecureSkipOriginCheck accepts any Origin. Only for public services
	// that do not rely on cookies or other ambient credentials.
	InsecureSkipOriginCheck bool
	// NegotiateExtensions, when set, receives the client's parsed offers and
	// returns the extensions to put in the response (each must be one the
	// client offered, by name). An error refuses the upgrade with 400 (a
	// *RequestError with a 4xx/5xx Status chooses the answer). When
	// nil, the client's Sec-WebSocket-Extensions header is ignored and no
	// extension is used.
	NegotiateExtensions func(offers []Extension) ([]Extension, error)
	// Header holds extra headers for the 101 response (e.g. Set-Cookie).
	// Headers the handshake itself writes (Upgrade, Connection,
	// Sec-WebSocket-Accept, -Protocol, -Extensions) are ignored here.
	Header http.Header
	// Timeout bounds the handshake I/O: writing the 101 for Upgrade (reading
	// the request is net/http's job: set http.Server.ReadHeaderTimeout), the
	// whole request and response for UpgradeConn. 0 means DefaultTimeout.
	Timeout time.Duration

	// OnRequestURI is used by UpgradeConn only (with net/http, look at the
	// *http.Request instead). When set it is called with the request target,
	// e.g. "/chat?room=1", before the headers are read. The slice is only
	// valid during the call. A non-nil error refuses the upgrade: a
	// *RequestError chooses the status and reason, any other error gives 400
	// with the error's text.
	OnRequestURI func(uri []byte) error
	// OnHeader is used by UpgradeConn only. When set it is called for every
	// request header line with the name as sent and the value without
	// surrounding whitespace (only valid during the call), e.g. to read a
	// cookie or an authorization token. Errors work as for OnRequestURI.
	OnHeader func(name, value []byte) error
}

// Result is the outcome of a successful handshake.
type Result struct {
	Subprotocol string      // the chosen subprotocol, "" when none
	Extensions  []Extension // the extensions in the 101 response (server) / accepted by the server (client)
}

// fields is what the server checks in a request, gathered either from an
// *http.Request (T = string) or by the low-level reader (T = []byte).
type fields[T text] struct {
	methodGET  bool
	http11     bool // HTTP/1.1 or a later 1.x
	hosts      int
	host       T
	body       bool // Content-Length other than 0, or Transfer-Encoding
	upgrade    bool // Upgrade lists "websocket"
	connection bool // Connection lists "upgrade"
	versions   int
	version13  bool // the (single) Sec-WebSocket-Version is "13"
	keys       int
	key        T
	origins    int
	origin     T
	proto      int // index into ServerOptions.Subprotocols, -1 for none
}

// Reasons sent to the client. Constants so refusing costs no formatting.
const (
	reasonMethod       = "method must be GET"
	reasonVersionHTTP  = "HTTP/1.1 required"
	reasonNoHost       = "missing Host header"
	reasonDupHost      = "more than one Host header"
	reasonBody         = "a WebSocket upgrade request must not have a body"
	reasonUpgrade      = "Upgrade header must contain the token websocket"
	reasonConnection   = "Connection header must contain the token upgrade"
	reasonDupVersion   = "more than one Sec-WebSocket-Version header"
	reasonNoVersion    = "missing Sec-WebSocket-Version header; this server speaks version 13"
	reasonBadVersion   = "unsupported WebSocket version; this server speaks version 13"
	reasonNoKey        = "missing Sec-WebSocket-Key header"
	reasonDupKey       = "more than one Sec-WebSocket-Key header"
	reasonBadKey       = "Sec-WebSocket-Key must be base64 of 16 bytes"
	reasonNoSubproto   = "no supported subprotocol offered"
	reasonBadExtension = "bad Sec-WebSocket-Extensions header"
)

// validate applies RFC 6455 §4.2.1 (and the Origin and subprotocol policy) in
// a fixed order and returns 0 when the request is acceptable, else the status
// and reason to answer with.
func validate[T text](f *fields[T], opts *ServerOptions) (int, string) {
	switch {
	case !f.methodGET:
		return 400, reasonMethod
	case !f.http11:
		return 400, reasonVersionHTTP
	case f.hosts == 0 || len(f.host) == 0:
		return 400, reasonNoHost
	case f.hosts > 1:
		return 400, reasonDupHost
	case f.body:
		return 400, reasonBody
	case !f.upgrade:
		return 400, reasonUpgrade
	case !f.connection:
		return 400, reasonConnection
	case f.versions > 1:
		return 400, reasonDupVersion
	case f.versions == 0:
		return 426, reasonNoVersion
	case !f.version13:
		return 426, reasonBadVersion
	case f.keys > 1:
		return 400, reasonDupKey
	case f.keys == 0:
		return 400, reasonNoKey
	case !validKey(f.key):
		return 400, reasonBadKey
	}
	if status, reason := checkOrigin(f.origins, f.origin, f.host, opts); status != 0 {
		return status, reason
	}
	if f.proto < 0 && opts.RequireSubprotocol {
		return 400, reasonNoSubproto
	}
	return 0, ""
}

// Canonical header keys as net/http stores them.
const (
	hdrUpgrade    = "Upgrade"
	hdrConnection = "Connection"
	hdrKey        = "Sec-Websocket-Key"
	hdrVersion    = "Sec-Websocket-Version"
	hdrProtocol   = "Sec-Websocket-Protocol"
	hdrExtensions = "Sec-Websocket-Extensions"
	hdrAccept     = "Sec-Websocket-Accept"
	hdrOrigin     = "Origin"
)

var defaultServerOptions ServerOptions

// Upgrade performs the server side of the opening handshake on a net/http
// request. It validates r (RFC 6455 §4.2.1), checks the Origin, chooses the
// subprotocol and extensions, hijacks the connection through
// http.NewResponseController(w) (so ResponseWriters wrapped by middleware work
// when they have an Unwrap method) and writes 101 Switching Protocols with
// Sec-WebSocket-Accept using the hijacked buffered writer.
//
// On success it returns the raw connection with its deadlines cleared, and
// the hijacked *bufio.Reader, which may already hold bytes the client sent
// after its request (its first frames): read from the reader, not from the
// connection, until it is drained.
//
// On a bad request it answers with a short text/plain reason (426 with
// "Sec-WebSocket-Version: 13" for a missing or unsupported version, 403 for
// an Origin refused by the policy, 400 otherwise), does not hijack, and
// returns a *RequestError. If the connection cannot be hijacked (HTTP/2, or a
// ResponseWriter without Hijack) it answers 500 and returns an error.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (net.Conn, *bufio.Reader, Result, error) {
	if opts == nil {
		opts = &defaultServerOptions
	}
	key, res, err := checkUpgrade(w, r, opts)
	if err != nil {
		return nil, nil, Result{}, err
	}
	// The accept key is hashed here, as high on the stack as it can be:
	// SHA-1's vectorised block function has a frame of more than 1 KiB.
	var accept [acceptLen]byte
	return respond(w, appendAccept(accept[:0], key), res, opts)
}

// checkUpgrade validates an upgrade request and negotiates what it offers;
// it answers a request it refuses itself. It returns the request's key.
// (Apart from Upgrade, so that its frame is off the stack by the time the
// connection is hijacked: deep stacks cost a copy to grow.)
func checkUpgrade(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (string, Result, error) {
	h := r.Header
	f := fields[string]{
		methodGET:  r.Method == http.MethodGet,
		http11:     r.ProtoMajor == 1 && r.ProtoMinor >= 1,
		host:       r.Host,
		body:       r.ContentLength != 0 || len(r.TransferEncoding) > 0,
		upgrade:    headerHasToken(h[hdrUpgrade], "websocket"),
		connection: headerHasToken(h[hdrConnection], "upgrade"),
		proto:      -1,
	}
	if r.Host != "" {
		f.hosts = 1
	}
	if v := h[hdrVersion]; len(v) > 0 {
		f.versions, f.version13 = len(v), trimOWS(v[0]) == "13"
	}
	if v := h[hdrKey]; len(v) > 0 {
		f.keys, f.key = len(v), trimOWS(v[0])
	}
	if v := h[hdrOrigin]; len(v) > 0 {
		f.origins, f.origin = len(v), trimOWS(v[0])
	}
	if len(opts.Subprotocols) > 0 {
		for _, v := range h[hdrProtocol] {
			f.proto = pickSubprotocol(v, opts.Subprotocols, f.proto)
		}
	}
	if status, reason := validate(&f, opts); status != 0 {
		return "", Result{}, refuseHTTP(w, status, reason)
	}
	var res Result
	if f.proto >= 0 {
		res.Subprotocol = opts.Subprotocols[f.proto]
	}
	if opts.NegotiateExtensions != nil {
		exts, status, reason := negotiate(h[hdrExtensions], opts)
		if status != 0 {
			return "", Result{}, refuseHTTP(w, status, reason)
		}
		res.Extensions = exts
	}
	if err := checkResponseHeader(opts.Header); err != nil {
		refuseHTTP(w, 500, "server misconfigured: bad response header")
		return "", Result{}, err
	}
	return f.key, res, nil
}

// respond hijacks the connection of an accepted upgrade request and writes
// the 101 response.
func respond(w http.ResponseWriter, accept []byte, res Result, opts *ServerOptions) (net.Conn, *bufio.Reader, Result, error) {
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		refuseHTTP(w, 500, "cannot upgrade this connection")
		return nil, nil, Result{}, fmt.Errorf("handshake: hijacking the connection: %w", err)
	}
	if brw == nil { // a custom Hijacker may not buffer
		brw = bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	}
	if err := c.SetWriteDeadline(time.Now().Add(timeout(opts))); err != nil {
		c.Close()
		return nil, nil, Result{}, fmt.Errorf("handshake: setting the write deadline: %w", err)
	}
	// Build the response in the hijacked writer's own buffer when it fits.
	out := appendSwitching(brw.Writer.AvailableBuffer(), accept, res.Subprotocol, res.Extensions, opts.Header)
	_, err = brw.Writer.Write(out)
	if err == nil {
		err = brw.Writer.Flush()
	}
	if err != nil {
		c.Close()
		return nil, nil, Result{}, fmt.Errorf("handshake: writing the 101 response: %w", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, nil, Result{}, fmt.Errorf("handshake: clearing deadlines: %w", err)
	}
	// The hijacked writer is ours now and not used again; net/http, which
	// still points to it while the handler runs, never uses it again
	// either: let its 4 KiB go, or a handler that serves the connection
	// itself keeps it for the connection's life.
	*brw.Writer = bufio.Writer{}
	return c, brw.Reader, res, nil
}

func timeout(opts *ServerOptions) time.Duration {
	if opts.Timeout > 0 {
		return opts.Timeout
	}
	return DefaultTimeout
}

// refuseHTTP writes the error answer through net/http and returns the
// matching *RequestError.
func refuseHTTP(w http.ResponseWriter, status int, reason string) error {
	if status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	http.Error(w, reason, status)
	return &RequestError{Status: status, Reason: reason}
}

// negotiate runs the extension hook and checks its answer.
func negotiate(values []string, opts *ServerOptions) ([]Extension, int, string) {
	offers, err := ParseExtensions(values)
	if err != nil {
		return nil, 400, reasonBadExtension
	}
	exts, err := opts.NegotiateExtensions(offers)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) && re.Status >= 400 && re.Status <= 599 {
			return nil, re.Status, re.Reason
		}
		return nil, 400, "extension negotiation failed: " + err.Error()
	}
	for _, e := range exts {
		offered := false
		for _, o := range offers {
			if equalFold(o.Name, e.Name) {
				offered = true
				break
			}
		}
		if !offered || validExtension(e) != nil {
			return nil, 500, "server misconfigured: negotiated an extension the client did not offer"
		}
	}
	return exts, 0, ""
}

// isManagedHeader reports whether the handshake writes header name itself.
func isManagedHeader(name string) bool {
	for _, m := range [...]string{hdrUpgrade, hdrConnection, hdrKey, hdrVersion, hdrProtocol, hdrExtensions, hdrAccept, "Host"} {
		if equalFold(name, m) {
			return true
		}
	}
	return false
}

// checkResponseHeader rejects extra headers that cannot be written safely.
func checkResponseHeader(h http.Header) error {
	for name, values := range h {
		if !isToken(name) {
			return fmt.Errorf("handshake: header name %q is not a token", name)
		}
		for _, v := range values {
			if !validFieldValue(v) {
				return fmt.Errorf("handshake: header %s has a control character in its value", name)
			}
		}
	}
	return nil
}

// appendHeaders appends the extra headers in a stable (sorted) order, skipping
// the ones the handshake manages. h must have passed checkResponseHeader.
func appendHeaders(b []byte, h http.Header) []byte {
	if len(h) == 0 {
		return b
	}
	if len(h) == 1 { // the common case needs no sorting
		for name, values := range h {
			b = appendHeader(b, name, values)
		}
		return b
	}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		b = appendHeader(b, name, h[name])
	}
	return b
}

func appendHeader(b []byte, name string, values []string) []byte {
	if isManagedHeader(name) {
		return b
	}
	for _, v := range values {
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, trimOWS(v)...)
		b = append(b, "\r\n"...)
	}
	return b
}

// appendSwitching appends the complete 101 response; accept is the
// Sec-WebSocket-Accept value (see appendAccept).
func appendSwitching(b []byte, accept []byte, proto string, exts []Extension, extra http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, accept...)
	b = append(b, "\r\n"...)
	if proto != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, proto...)
		b = append(b, "\r\n"...)
	}
	if len(exts) > 0 {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = appendExtensions(b, exts)
		b = append(b, "\r\n"...)
	}
	b = appendHeaders(b, extra)
	return append(b, "\r\n"...)
}

// appendRefusal appends a complete error response for the low-level path.
func appendRefusal(b []byte, status int, reason string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"...)
	if status == http.StatusUpgradeRequired {
		b = append(b, "Sec-WebSocket-Version: 13\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(reason)+1), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, reason...)
	return append(b, '\n')
}
