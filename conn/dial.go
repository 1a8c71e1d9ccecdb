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

	// Compression turns on permessage-deflate (off by default).
	// CompressionLevel and CompressionThreshold are as in Options.
	Compression          CompressionMode
	CompressionLevel     int
	CompressionThreshold int

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
	var offers []handshake.Extension
	var check func(offered, accepted []handshake.Extension) error
	if opts.Compression != CompressionDisabled {
		offers = []handshake.Extension{clientDeflateOffer(opts.Compression)}
		check = func(_, accepted []handshake.Extension) error {
			_, _, err := clientDeflateResponse(accepted)
			return err
		}
	}
	nc, br, resp, res, err := handshake.Dial(ctx, rawURL, &handshake.ClientOptions{
		Extensions:      offers,
		CheckExtensions: check,
		Header:          opts.HTTPHeader,
		Subprotocols:    opts.Subprotocols,
		TLSConfig:       opts.TLSConfig,
		Proxy:           opts.Proxy,
		NetDialContext:  opts.NetDialContext,
	})
	if err != nil {
		return nil, resp, err
	}
	var deflate *handshake.DeflateParams
	if p, ok, _ := clientDeflateResponse(res.Extensions); ok {
		deflate = &p
	}
	return New(nc, br, true, res.Subprotocol, opts.connOptions(deflate)), resp, nil
}

// connOptions is what New gets for a Conn dialled with o, whose
// permessage-deflate parameters the handshake settled (nil: none).
func (o *DialOptions) connOptions(deflate *handshake.DeflateParams) *Options {
	return &Options{
		ReadLimit:    o.ReadLimit,
		CloseTimeout: o.CloseTimeout,
		PingInterval: o.PingInterval,
		PingTimeout:  o.PingTimeout,
		OnFrame:      o.OnFrame,

		Deflate:              deflate,
		CompressionLevel:     o.CompressionLevel,
		CompressionThreshold: o.CompressionThreshold,
	}
}
