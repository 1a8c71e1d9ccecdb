package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// Dial opens a WebSocket connection to rawURL (ws://, wss://, or the
// equivalent http:// and https://): it connects over TCP with
// opts.NetDialContext, directly or through an HTTP CONNECT proxy
// (opts.Proxy, by default the environment, with basic auth from the proxy
// URL's user info), adds TLS for wss (opts.TLSConfig, SNI from the URL, ALPN
// "http/1.1"), and runs ClientHandshake. ctx bounds all of it (give it a
// deadline); once Dial returns, ctx no longer affects the connection.
//
// It returns the connection, the reader to read frames from (it may already
// hold data), the server's 101 response and the negotiated result. On error
// the connection is closed; the response is returned when the server sent one
// (a *ResponseError then holds it too).
func Dial(ctx context.Context, rawURL string, opts *ClientOptions) (net.Conn, *bufio.Reader, *http.Response, Result, error) {
	if opts == nil {
		opts = &defaultClientOptions
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, Result{}, fmt.Errorf("handshake: %w", err)
	}
	var secure bool
	var httpScheme string
	switch u.Scheme {
	case "ws", "http":
		httpScheme = "http"
	case "wss", "https":
		secure, httpScheme = true, "https"
	default:
		return nil, nil, nil, Result{}, fmt.Errorf("handshake: unsupported URL scheme %q (want ws, wss, http or https)", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, nil, nil, Result{}, fmt.Errorf("handshake: URL %q has no host", rawURL)
	}
	if u.Fragment != "" {
		return nil, nil, nil, Result{}, errors.New("handshake: a WebSocket URL must not have a fragment (RFC 6455 §3)")
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}

	// The proxy function works on HTTP URLs, like net/http's Transport.
	hu := *u
	hu.Scheme = httpScheme
	proxyFunc := opts.Proxy
	if proxyFunc == nil {
		proxyFunc = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFunc(&http.Request{Method: http.MethodGet, URL: &hu, Header: http.Header{}, Host: u.Host})
	if err != nil {
		return nil, nil, nil, Result{}, fmt.Errorf("handshake: choosing a proxy: %w", err)
	}

	var c net.Conn
	if proxyURL != nil {
		c, err = dialProxy(ctx, proxyURL, addr, opts)
	} else {
		c, err = dialContext(ctx, opts, "tcp", addr)
	}
	if err != nil {
		return nil, nil, nil, Result{}, err
	}

	if secure {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, nil, nil, Result{}, fmt.Errorf("handshake: TLS: %w", err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
			c.Close()
			return nil, nil, nil, Result{}, fmt.Errorf("handshake: TLS: server selected protocol %q", p)
		}
		c = tc
	}

	br, resp, res, err := ClientHandshake(ctx, c, u, opts)
	if err != nil {
		c.Close()
		return nil, nil, resp, Result{}, err
	}
	return c, br, resp, res, nil
}

// dialContext dials with the caller's function or a zero net.Dialer.
func dialContext(ctx context.Context, opts *ClientOptions, network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if opts.NetDialContext != nil {
		c, err = opts.NetDialContext(ctx, network, addr)
		if err == nil && c == nil {
			err = errors.New("NetDialContext returned no connection")
		}
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("handshake: dialing %s: %w", addr, err)
	}
	return c, nil
}
