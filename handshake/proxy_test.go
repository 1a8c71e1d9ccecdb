package handshake

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testProxy is a minimal HTTP CONNECT proxy on 127.0.0.1. With auth set it
// requires "Proxy-Authorization: Basic base64(auth)".
type testProxy struct {
	ln   net.Listener
	auth string

	mu      sync.Mutex
	targets []string // CONNECT targets that were accepted
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, auth string) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &testProxy{ln: ln, auth: auth}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *testProxy) url(userinfo *url.Userinfo) *url.URL {
	return &url.URL{Scheme: "http", Host: p.ln.Addr().String(), User: userinfo}
}

func (p *testProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *testProxy) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if p.auth != "" && req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(p.auth)) {
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	target, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer target.Close()
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(target, br) // includes anything buffered
		target.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, target)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

func TestDialThroughProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		auth    string
		user    *url.Userinfo
		tls     bool
		refused bool
	}{
		{name: "no auth", auth: ""},
		{name: "no auth tls", auth: "", tls: true},
		{name: "basic auth", auth: "alice:s3cret", user: url.UserPassword("alice", "s3cret")},
		{name: "basic auth tls", auth: "alice:s3cret", user: url.UserPassword("alice", "s3cret"), tls: true},
		{name: "wrong password", auth: "alice:s3cret", user: url.UserPassword("alice", "nope"), refused: true},
		{name: "no credentials", auth: "alice:s3cret", refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.tls, echoOnce(t, nil, false))
			proxy := startProxy(t, tc.auth)
			var proxyCalls []string
			opts := &ClientOptions{Proxy: func(r *http.Request) (*url.URL, error) {
				proxyCalls = append(proxyCalls, r.URL.String())
				return proxy.url(tc.user), nil
			}}
			if tc.tls {
				opts.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
			}
			wsURL := "ws" + srv.URL[len("http"):] + "/x"
			c, br, _, _, err := Dial(t.Context(), wsURL, opts)
			require.Len(t, proxyCalls, 1)
			assert.Equal(t, srv.URL+"/x", proxyCalls[0], "the proxy function sees the http(s) URL")
			if tc.refused {
				var pe *ProxyError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, 407, pe.Response.StatusCode)
				assert.Equal(t, "handshake: proxy refused CONNECT: 407 Proxy Authentication Required", err.Error())
				return
			}
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write(frame(1, []byte("via proxy"), []byte{1, 1, 1, 1}))
			require.NoError(t, err)
			_, _, payload := readFrame(t, br)
			assert.Equal(t, "via proxy", string(payload))
			proxy.mu.Lock()
			assert.Equal(t, []string{srv.Listener.Addr().String()}, proxy.targets)
			proxy.mu.Unlock()
		})
	}
}

func TestConnectRequestBytes(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	go func() {
		defer cli.Close()
		connect(t.Context(), cli, &url.URL{Scheme: "http", Host: "proxy:3128", User: url.UserPassword("u", "p")}, "example.com:443")
	}()
	req, err := http.ReadRequest(bufio.NewReader(srv))
	require.NoError(t, err)
	assert.Equal(t, "CONNECT", req.Method)
	assert.Equal(t, "example.com:443", req.Host)
	assert.Equal(t, "example.com:443", req.RequestURI)
	assert.Equal(t, "Basic dTpw", req.Header.Get("Proxy-Authorization"))
}

// TestConnectKeepsEarlyBytes: bytes the proxy relays right after its 200
// are not lost.
func TestConnectKeepsEarlyBytes(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	go func() {
		http.ReadRequest(bufio.NewReader(srv))
		io.WriteString(srv, "HTTP/1.1 200 OK\r\n\r\nearly")
	}()
	c, err := connect(t.Context(), cli, &url.URL{Scheme: "http", Host: "proxy:3128"}, "example.com:80")
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "early", string(buf))
}
