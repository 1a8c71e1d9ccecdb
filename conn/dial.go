package conn

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ws6455/ws6455/handshake"
)

// DialOptions configures Dial. The zero value dials directly (or through
// the proxy named by the environment, like net/http) with no subprotocol
// and no compression.
type DialOptions struct {
	// HTTPHeader holds extra headers for the upgrade request (for example
	// Authorization, Origin or Cookie).
	HTTPHeader http.Header
	// Subprotocols to offer, in order of preference.
	Subprotocols []string
	// TLSConfig for wss URLs; nil means a default config for the host.
	TLSConfig *tls.Config
	// Proxy chooses an HTTP proxy for a request; nil means
	// http.ProxyFromEnvironment. Return nil for a direct connection.
	Proxy func(*http.Request) (*url.URL, error)
	// NetDialContext dials the TCP connection; nil means a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// ReadLimit, CloseTimeout, PingInterval, PingTimeout and OnFrame are as
	// in Options.
	ReadLimit    int64
	CloseTimeout time.Duration
	PingInterval time.Duration
	PingTimeout  time.Duration
	OnFrame      FrameObserver
}

// Dial opens a WebSocket connection to a ws://, wss://, http:// or https://
// URL (client side). ctx bounds the connection and the handshake, not the
// Conn's life. The HTTP response is returned also on a handshake failure,
// when the server answered (its status and headers; a *handshake.ResponseError
// holds the start of its body).
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	nc, br, resp, res, err := handshake.Dial(ctx, rawURL, &handshake.ClientOptions{
		Header:         opts.HTTPHeader,
		Subprotocols:   opts.Subprotocols,
		TLSConfig:      opts.TLSConfig,
		Proxy:          opts.Proxy,
		NetDialContext: opts.NetDialContext,
	})
	if err != nil {
		return nil, resp, err
	}
	return New(nc, br, true, res.Subprotocol, &Options{
		ReadLimit:    opts.ReadLimit,
		CloseTimeout: opts.CloseTimeout,
		PingInterval: opts.PingInterval,
		PingTimeout:  opts.PingTimeout,
		OnFrame:      opts.OnFrame,
	}), resp, nil
}
