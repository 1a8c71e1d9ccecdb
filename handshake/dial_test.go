package handshake

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDialBadURLs(t *testing.T) {
	noProxy := func(*http.Request) (*url.URL, error) { return nil, nil }
	for _, raw := range []string{"ftp://example.com/", "ws://", "ws:///path", "ws://example.com/#frag", "://x", "ws://[::1"} {
		_, _, _, _, err := Dial(t.Context(), raw, &ClientOptions{Proxy: noProxy,
			NetDialContext: func(context.Context, string, string) (net.Conn, error) {
				t.Errorf("%s: must not dial", raw)
				return nil, errors.New("no")
			}})
		assert.Error(t, err, raw)
	}
}

func TestDialAddresses(t *testing.T) {
	for _, tc := range []struct{ url, addr, sni string }{
		{"ws://example.com/", "example.com:80", ""},
		{"http://example.com:8080/", "example.com:8080", ""},
		{"wss://example.com/", "example.com:443", "example.com"},
		{"https://[::1]/", "[::1]:443", "::1"},
	} {
		var dialed string
		_, _, _, _, err := Dial(t.Context(), tc.url, &ClientOptions{
			Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
			NetDialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
				dialed = addr
				return nil, errors.New("stop here")
			},
		})
		require.ErrorContains(t, err, "stop here")
		assert.Equal(t, tc.addr, dialed, tc.url)
	}
}

func TestDialProxyErrors(t *testing.T) {
	for _, tc := range []struct {
		proxy string
		want  string
	}{
		{"socks5://127.0.0.1:1080", "unsupported proxy scheme"},
		{"http://", "has no host"},
	} {
		pu, _ := url.Parse(tc.proxy)
		_, _, _, _, err := Dial(t.Context(), "ws://example.com/", &ClientOptions{
			Proxy: func(*http.Request) (*url.URL, error) { return pu, nil },
		})
		assert.ErrorContains(t, err, tc.want)
	}
	_, _, _, _, err := Dial(t.Context(), "ws://example.com/", &ClientOptions{
		Proxy: func(*http.Request) (*url.URL, error) { return nil, errors.New("pac failed") },
	})
	assert.ErrorContains(t, err, "pac failed")
}

// TestDialTLSDefaults checks SNI and ALPN on a real TLS server: the server
// name comes from the URL and ALPN offers only http/1.1, even when the
// caller's config asks for h2.
func TestDialTLSDefaults(t *testing.T) {
	hellos := make(chan *tls.ClientHelloInfo, 1)
	srv := httptest.NewUnstartedServer(echoOnce(t, nil, false))
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		select {
		case hellos <- hello:
		default:
		}
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	u := strings.Replace(srv.URL, "127.0.0.1", "example.com", 1) // httptest's certificate covers example.com
	c, _, _, _, err := Dial(t.Context(), u, &ClientOptions{
		TLSConfig: cfg,
		Proxy:     func(*http.Request) (*url.URL, error) { return nil, nil },
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		},
	})
	require.NoError(t, err)
	c.Close()
	hello := <-hellos
	assert.Equal(t, "example.com", hello.ServerName)
	assert.Equal(t, []string{"http/1.1"}, hello.SupportedProtos)
	assert.Equal(t, []string{"h2", "http/1.1"}, cfg.NextProtos, "the caller's config is not modified")
}
