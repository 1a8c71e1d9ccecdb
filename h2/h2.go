// Package h2 dials WebSockets over HTTP/2 (RFC 8441): many WebSockets, each
// one stream of a shared HTTP/2 connection, opened with an extended CONNECT.
// It is the only part of this module that needs golang.org/x/net/http2
// (net/http's own Transport does not send extended CONNECT as of Go 1.26);
// programs that do not import it do not link it.
//
//	var d h2.Dialer // keep it: it holds the HTTP/2 connections
//	c, _, err := d.Dial(ctx, "wss://example.com/echo", nil)
//	...
//	c.Write(ctx, conn.MessageText, []byte("hello"))
//
// wss and https URLs use TLS with ALPN "h2". ws and http URLs use HTTP/2
// over cleartext TCP with prior knowledge (h2c), for servers that accept it
// (http.Server with Protocols.SetUnencryptedHTTP2): there is no upgrade
// from HTTP/1.1. Either way the server must advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL (a Go 1.26/1.27 server: started with
// GODEBUG=http2xconnect=1 in its environment; Go 1.28 is expected to add
// http.HTTP2Config.EnableConnectProtocol; see "HTTP/2" in package conn);
// otherwise Dial fails with an error that matches
// conn.ErrExtendedConnectUnsupported, or, with the Dialer's FallbackHTTP1
// set, opens the WebSocket over HTTP/1.1 instead (the caller chooses).
//
// The returned *conn.Conn is a client (it masks what it sends) with the
// same API as one from conn.Dial. Its NetConn is the stream, not a TCP
// connection. A write cut short by its context resets the stream (HTTP/2
// cannot resume it), which fails the Conn with 1011, as over TLS.
package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"golang.org/x/net/http2"

	"github.com/ws6455/ws6455/conn"
)

// A Dialer opens WebSockets over HTTP/2. It holds HTTP/2 connections and
// reuses them: WebSockets to the same host share one connection (up to the
// server's limit on concurrent streams, then a new one is opened). The zero
// value is ready to use; the fields must not change after the first Dial.
// A Dialer is safe for concurrent use.
type Dialer struct {
	// TLSConfig for wss and https URLs; nil means a default config. It is
	// cloned, "h2" is added to NextProtos and ServerName defaults to the
	// URL's host.
	TLSConfig *tls.Config
	// NetDialContext dials the TCP connections (both kinds); nil means a
	// net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// FallbackHTTP1, when set, makes Dial open the WebSocket with an
	// HTTP/1.1 upgrade on a connection of its own (conn.Dial, with the same
	// URL and options, and this Dialer's TLSConfig and NetDialContext) when
	// the server does not offer WebSockets over HTTP/2: it did not send
	// SETTINGS_ENABLE_CONNECT_PROTOCOL, or, over TLS, did not choose "h2"
	// in ALPN. Other errors are returned as they are (a cleartext server
	// that does not speak h2c at all is one of them: HTTP/2 with prior
	// knowledge cannot tell it from a broken server). When it is not set,
	// Dial returns an error that matches conn.ErrExtendedConnectUnsupported.
	// The returned response says which protocol served the WebSocket
	// (ProtoMajor).
	FallbackHTTP1 bool

	once     sync.Once
	tls, h2c *http2.Transport
}

func (d *Dialer) init() {
	d.once.Do(func() {
		d.tls = &http2.Transport{
			TLSClientConfig: d.TLSConfig,
			DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
				nc, err := d.dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				// Offer http/1.1 after h2, so that an HTTP/1.1-only
				// server answers (and is recognised below) instead of
				// refusing the handshake.
				if !slices.Contains(cfg.NextProtos, "http/1.1") {
					cfg = cfg.Clone()
					cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
				}
				tc := tls.Client(nc, cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					nc.Close()
					return nil, err
				}
				if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
					tc.Close()
					return nil, fmt.Errorf("%w: the TLS server chose %q in ALPN, not %q", conn.ErrExtendedConnectUnsupported, p, http2.NextProtoTLS)
				}
				return tc, nil
			},
		}
		d.h2c = &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return d.dial(ctx, network, addr)
			},
		}
	})
}

func (d *Dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.NetDialContext != nil {
		return d.NetDialContext(ctx, network, addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// Dial opens a WebSocket to a ws, wss, http or https URL as a stream of an
// HTTP/2 connection, opening the connection first if the Dialer has none
// to that host. ctx bounds the handshake (and the connection's dial), not
// the Conn's life. opts is as for conn.Dial, except that TLSConfig, Proxy
// and NetDialContext are not used (see the Dialer's fields; proxies are
// not supported). Errors and the returned response are as for
// conn.DialExtendedConnect.
func (d *Dialer) Dial(ctx context.Context, rawURL string, opts *conn.DialOptions) (*conn.Conn, *http.Response, error) {
	d.init()
	c, resp, err := conn.DialExtendedConnect(ctx, d.transport(rawURL), rawURL, opts)
	if err == nil || !d.FallbackHTTP1 || !errors.Is(err, conn.ErrExtendedConnectUnsupported) {
		return c, resp, err
	}
	var o conn.DialOptions
	if opts != nil {
		o = *opts
	}
	o.TLSConfig, o.NetDialContext = d.TLSConfig, d.NetDialContext
	o.Proxy = noProxy // like the HTTP/2 path: no proxy
	return conn.Dial(ctx, rawURL, &o)
}

// noProxy is a DialOptions.Proxy that asks for a direct connection.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// transport chooses the Transport for the URL's scheme: cleartext for ws
// and http, TLS otherwise (an unknown scheme is refused later).
func (d *Dialer) transport(rawURL string) http.RoundTripper {
	if i := strings.IndexByte(rawURL, ':'); i > 0 {
		if s := strings.ToLower(rawURL[:i]); s == "ws" || s == "http" {
			return d.h2c
		}
	}
	return d.tls
}

// CloseIdleConnections closes the HTTP/2 connections that carry no
// WebSocket. Connections in use stay open.
func (d *Dialer) CloseIdleConnections() {
	d.init()
	d.tls.CloseIdleConnections()
	d.h2c.CloseIdleConnections()
}
