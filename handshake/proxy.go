package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ProxyError is returned by Dial when the HTTP proxy refused to open a
// tunnel (any CONNECT answer but 2xx), e.g. 407 for missing or wrong
// credentials.
type ProxyError struct {
	Response *http.Response // the proxy's answer (status and headers, no body)
}

// Error implements error.
func (e *ProxyError) Error() string {
	return "handshake: proxy refused CONNECT: " + e.Response.Status
}

// dialProxy connects to the proxy (TLS for an https proxy) and opens a
// CONNECT tunnel to addr, sending basic credentials from the proxy URL.
func dialProxy(ctx context.Context, proxyURL *url.URL, addr string, opts *ClientOptions) (net.Conn, error) {
	var secure bool
	switch proxyURL.Scheme {
	case "http", "":
	case "https":
		secure = true
	default:
		return nil, fmt.Errorf("handshake: unsupported proxy scheme %q (want http or https)", proxyURL.Scheme)
	}
	if proxyURL.Hostname() == "" {
		return nil, fmt.Errorf("handshake: proxy URL %q has no host", proxyURL.Redacted())
	}
	paddr := proxyURL.Host
	if proxyURL.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		paddr = net.JoinHostPort(proxyURL.Hostname(), port)
	}
	c, err := dialContext(ctx, opts, "tcp", paddr)
	if err != nil {
		return nil, err
	}
	if secure {
		tc := tls.Client(c, &tls.Config{ServerName: proxyURL.Hostname(), NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("handshake: TLS to proxy: %w", err)
		}
		c = tc
	}
	tunnel, err := connect(ctx, c, proxyURL, addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	return tunnel, nil
}

// connect sends CONNECT addr over c and waits for a 2xx answer.
func connect(ctx context.Context, c net.Conn, proxyURL *url.URL, addr string) (net.Conn, error) {
	b := make([]byte, 0, 256)
	b = append(b, "CONNECT "...)
	b = append(b, addr...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, addr...)
	b = append(b, "\r\n"...)
	if u := proxyURL.User; u != nil {
		pass, _ := u.Password()
		cred := u.Username() + ":" + pass
		if !validFieldValue(cred) {
			return nil, fmt.Errorf("handshake: bad characters in the proxy credentials")
		}
		b = append(b, "Proxy-Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(cred))
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)

	stop := watchContext(ctx, c)
	resp, br, err := func() (*http.Response, *bufio.Reader, error) {
		if _, err := c.Write(b); err != nil {
			return nil, nil, ctxError(ctx, "writing CONNECT to the proxy", err)
		}
		br := bufio.NewReader(&countingReader{r: c, limit: maxResponseHeaderBytes})
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr})
		if err != nil {
			return nil, nil, ctxError(ctx, "reading the proxy's CONNECT answer", err)
		}
		return resp, br, nil
	}()
	if serr := stop(); serr != nil && err == nil {
		err = fmt.Errorf("handshake: %w", serr)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		resp.Body = http.NoBody
		return nil, &ProxyError{Response: resp}
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("handshake: clearing the deadline: %w", err)
	}
	if br.Buffered() > 0 {
		// The proxy already relayed bytes from the server: keep them.
		buffered, _ := br.Peek(br.Buffered())
		return &prefixConn{Conn: c, prefix: append([]byte(nil), buffered...)}, nil
	}
	return c, nil
}

// prefixConn replays bytes that were read ahead before reading from Conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

// Read implements net.Conn.
func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
