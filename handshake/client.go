package handshake

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// ClientOptions configures the client side of the handshake (Dial and
// ClientHandshake). The zero value (or a nil pointer) is usable.
type ClientOptions struct {
	// Header holds extra request headers, e.g. Origin, Cookie or
	// Authorization. Headers the handshake writes itself (Upgrade,
	// Connection, Sec-WebSocket-Key, -Version, -Protocol, -Extensions) are
	// ignored here; Header["Host"] overrides the Host header.
	Header http.Header
	// Host, when set, overrides the Host header (and Header["Host"]); by
	// default it is the URL's host[:port].
	Host string
	// Subprotocols are offered in Sec-WebSocket-Protocol, in order of
	// preference.
	Subprotocols []string
	// Extensions are offered in Sec-WebSocket-Extensions, in order.
	Extensions []Extension
	// CheckExtensions, when set, validates the server's accepted extensions
	// against the offers (the compression layer uses it to check
	// permessage-deflate parameters). The default rule is always applied
	// first: every extension in the response must have a name the client
	// offered.
	CheckExtensions func(offered, accepted []Extension) error
	// TLSConfig is used for wss URLs. It is cloned; ServerName defaults to
	// the URL's host name (SNI) and NextProtos is set to ["http/1.1"] so that
	// ALPN never selects HTTP/2.
	TLSConfig *tls.Config
	// Proxy returns the HTTP proxy for a request (nil URL: connect
	// directly). nil means http.ProxyFromEnvironment (HTTP_PROXY,
	// HTTPS_PROXY, NO_PROXY, like net/http; wss URLs use HTTPS_PROXY).
	Proxy func(*http.Request) (*url.URL, error)
	// NetDialContext dials TCP connections (to the server or the proxy).
	// nil means a zero net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

var defaultClientOptions ClientOptions

// Limits on what the client reads from the server during the handshake.
const (
	maxResponseHeaderBytes = 64 * 1024
	maxErrorBody           = 1024
)

// aLongTimeAgo is a deadline in the past: setting it unblocks pending I/O.
var aLongTimeAgo = time.Unix(1, 0)

// watchContext makes ctx bound the I/O on c: ctx's deadline becomes c's
// deadline and cancellation sets a deadline in the past. stop undoes the
// watch and reports ctx's error if the cancellation already hit c; the
// caller then clears or abandons c's deadline.
func watchContext(ctx context.Context, c net.Conn) (stop func() error) {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	fired := make(chan struct{})
	stopFunc := context.AfterFunc(ctx, func() {
		c.SetDeadline(aLongTimeAgo)
		close(fired)
	})
	return func() error {
		if !stopFunc() {
			<-fired
			return ctx.Err()
		}
		return nil
	}
}

// ctxError prefers ctx's error over the I/O error it caused.
func ctxError(ctx context.Context, what string, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline (ctx's) fired a moment before ctx did.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		return fmt.Errorf("handshake: %s: %w (%v)", what, cerr, err)
	}
	return fmt.Errorf("handshake: %s: %w", what, err)
}

// countingReader passes reads through to r until limit bytes have been read,
// then fails; limit < 0 disables the limit. It bounds the response headers
// without a second buffer.
type countingReader struct {
	r     io.Reader
	limit int64
}

var errResponseTooLarge = errors.New("handshake: response header too large")

func (cr *countingReader) Read(p []byte) (int, error) {
	if cr.limit < 0 {
		return cr.r.Read(p)
	}
	if cr.limit == 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > cr.limit {
		p = p[:cr.limit]
	}
	n, err := cr.r.Read(p)
	cr.limit -= int64(n)
	return n, err
}

// ClientHandshake performs the client side of the opening handshake over an
// established connection c (plain TCP, TLS, or a proxy tunnel) for the
// WebSocket URL u: it writes the upgrade request with a fresh random key, the
// offered subprotocols and extensions and opts.Header, then reads the
// response and checks it: status 101, Upgrade and Connection tokens,
// Sec-WebSocket-Accept, a subprotocol only if it was offered, extensions
// only if offered (plus opts.CheckExtensions).
//
// ctx bounds the exchange: its deadline is set on c and cancellation unblocks
// it; on success c's deadline is cleared. There is no other timeout, so give
// ctx a deadline: a server that accepts the connection and never answers
// would otherwise hold the call until ctx is cancelled. The returned reader must be used for
// all further reads: it may already hold bytes the server sent after the
// response. The returned *http.Response has no body.
//
// Any answer other than a valid 101 is a *ResponseError holding the response
// and at most 1 KiB of its body; the response is also returned. ClientHandshake
// never closes c; on error the caller should.
func ClientHandshake(ctx context.Context, c net.Conn, u *url.URL, opts *ClientOptions) (*bufio.Reader, *http.Response, Result, error) {
	if opts == nil {
		opts = &defaultClientOptions
	}
	if u == nil || u.Host == "" {
		return nil, nil, Result{}, errors.New("handshake: the URL has no host")
	}
	key := NewKey()
	reqBytes, err := appendRequest(nil, u, key, opts)
	if err != nil {
		return nil, nil, Result{}, err
	}
	stop := watchContext(ctx, c)
	br, resp, res, err := clientExchange(ctx, c, u, key, reqBytes, opts)
	if serr := stop(); serr != nil && err == nil {
		err = fmt.Errorf("handshake: %w", serr)
	}
	if err != nil {
		return nil, resp, Result{}, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, resp, Result{}, fmt.Errorf("handshake: clearing the deadline: %w", err)
	}
	return br, resp, res, nil
}

func clientExchange(ctx context.Context, c net.Conn, u *url.URL, key string, reqBytes []byte, opts *ClientOptions) (*bufio.Reader, *http.Response, Result, error) {
	if _, err := c.Write(reqBytes); err != nil {
		return nil, nil, Result{}, ctxError(ctx, "writing the request", err)
	}
	cr := &countingReader{r: c, limit: maxResponseHeaderBytes}
	br := bufio.NewReader(cr)
	req := &http.Request{Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Host: u.Host}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, Result{}, ctxError(ctx, "reading the response", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, Result{}, &ResponseError{Response: resp, Body: body, Reason: "expected status 101 Switching Protocols"}
	}
	cr.limit = -1
	res, reason := checkResponse(resp, key, opts)
	if reason != "" {
		return nil, resp, Result{}, &ResponseError{Response: resp, Reason: reason}
	}
	return br, resp, res, nil
}

// checkResponse validates a 101 response and returns the negotiated result,
// or the reason it is not acceptable.
func checkResponse(resp *http.Response, key string, opts *ClientOptions) (Result, string) {
	h := resp.Header
	if !headerHasToken(h[hdrUpgrade], "websocket") {
		return Result{}, "Upgrade header does not contain websocket"
	}
	if !headerHasToken(h[hdrConnection], "upgrade") {
		return Result{}, "Connection header does not contain upgrade"
	}
	if acc := h[hdrAccept]; len(acc) != 1 || trimOWS(acc[0]) != AcceptKey(key) {
		return Result{}, "missing or wrong Sec-WebSocket-Accept"
	}
	return checkNegotiation(h, opts)
}

// checkNegotiation validates the subprotocol and extensions a server
// chose (in a 101 response, or in the 200 of RFC 8441).
func checkNegotiation(h http.Header, opts *ClientOptions) (Result, string) {
	var res Result
	if p := h[hdrProtocol]; len(p) > 0 {
		if len(p) > 1 {
			return Result{}, "more than one Sec-WebSocket-Protocol header"
		}
		proto := trimOWS(p[0])
		for _, o := range opts.Subprotocols {
			if o == proto {
				res.Subprotocol = o
				break
			}
		}
		if res.Subprotocol == "" {
			return Result{}, fmt.Sprintf("server chose subprotocol %q, which was not offered", proto)
		}
	}
	if v := h[hdrExtensions]; len(v) > 0 {
		accepted, err := ParseExtensions(v)
		if err != nil {
			return Result{}, err.Error()
		}
		for _, a := range accepted {
			offered := false
			for _, o := range opts.Extensions {
				if equalFold(o.Name, a.Name) {
					offered = true
					break
				}
			}
			if !offered {
				return Result{}, fmt.Sprintf("server accepted extension %q, which was not offered", a.Name)
			}
		}
		if len(accepted) > 0 {
			res.Extensions = accepted
		}
	}
	if opts.CheckExtensions != nil {
		if err := opts.CheckExtensions(opts.Extensions, res.Extensions); err != nil {
			return Result{}, "extensions refused: " + err.Error()
		}
	}
	return res, ""
}

// appendRequest appends the upgrade request for u to b. It fails on values
// that cannot be sent (bad header names or values, subprotocols that are not
// tokens), so that a caller's mistake never turns into header injection.
func appendRequest(b []byte, u *url.URL, key string, opts *ClientOptions) ([]byte, error) {
	host := u.Host
	if h := opts.Header["Host"]; len(h) > 0 {
		host = h[0]
	}
	if opts.Host != "" {
		host = opts.Host
	}
	if host == "" || !validFieldValue(host) {
		return nil, fmt.Errorf("handshake: bad Host %q", host)
	}
	uri := u.RequestURI()
	if !validFieldValue(uri) {
		return nil, errors.New("handshake: bad characters in the request target")
	}
	for i := 0; i < len(uri); i++ {
		if uri[i] == ' ' || uri[i] == '\t' {
			return nil, errors.New("handshake: bad characters in the request target")
		}
	}
	b = append(b, "GET "...)
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if len(opts.Subprotocols) > 0 {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		for i, p := range opts.Subprotocols {
			if !isToken(p) {
				return nil, fmt.Errorf("handshake: subprotocol %q is not a token", p)
			}
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, p...)
		}
		b = append(b, "\r\n"...)
	}
	if len(opts.Extensions) > 0 {
		for _, e := range opts.Extensions {
			if err := validExtension(e); err != nil {
				return nil, err
			}
		}
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = appendExtensions(b, opts.Extensions)
		b = append(b, "\r\n"...)
	}
	if u.User != nil && len(opts.Header["Authorization"]) == 0 {
		pass, _ := u.User.Password()
		b = append(b, "Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(u.User.Username()+":"+pass))
		b = append(b, "\r\n"...)
	}
	if err := checkResponseHeader(opts.Header); err != nil {
		return nil, err
	}
	b = appendHeaders(b, opts.Header)
	return append(b, "\r\n"...), nil
}
