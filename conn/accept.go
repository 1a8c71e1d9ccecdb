package conn

import (
	"net/http"
	"time"

	"github.com/ws6455/ws6455/handshake"
)

// AcceptOptions configures Accept. The zero value accepts a same-origin
// (or non-browser) client with no subprotocol and no compression.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server supports, in its order
	// of preference; the first one the client also offers is chosen.
	Subprotocols []string
	// RequireSubprotocol refuses (400) clients that offer none of them.
	RequireSubprotocol bool
	// OriginPatterns lists further hosts whose pages may connect, as
	// path.Match patterns ("*.example.com"). A browser request from another
	// origin is refused with 403: this blocks cross-site WebSocket hijacking.
	OriginPatterns []string
	// InsecureSkipOriginCheck accepts every origin: for public services only.
	InsecureSkipOriginCheck bool
	// HTTPHeader holds extra headers for the 101 response.
	HTTPHeader http.Header
	// HandshakeTimeout bounds writing the 101 response (0: 10 s).
	HandshakeTimeout time.Duration

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

// Accept upgrades an HTTP request to a WebSocket connection (server side).
// On a bad request it writes the HTTP error itself (400, 403 or 426 with a
// short reason) and returns the error; the handler must then just return.
// The Conn lives on after the handler returns: http.Server does not track
// it (see Group for graceful shutdown).
//
// Accept also serves WebSockets over HTTP/2 (RFC 8441 extended CONNECT) on
// the same handler; see "HTTP/2" in the package documentation (the handler
// must then not return before the Conn is closed).
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if handshake.IsExtendedConnect(r) { // WebSocket over HTTP/2 (RFC 8441): accept_h2.go
		return acceptExtendedConnect(w, r, opts)
	}
	var deflate *handshake.DeflateParams
	negotiate := opts.negotiator(&deflate)
	nc, br, res, err := handshake.Upgrade(w, r, &handshake.ServerOptions{
		NegotiateExtensions:     negotiate,
		Subprotocols:            opts.Subprotocols,
		RequireSubprotocol:      opts.RequireSubprotocol,
		OriginPatterns:          opts.OriginPatterns,
		InsecureSkipOriginCheck: opts.InsecureSkipOriginCheck,
		Header:                  opts.HTTPHeader,
		Timeout:                 opts.HandshakeTimeout,
	})
	if err != nil {
		return nil, err
	}
	return New(nc, br, false, res.Subprotocol, opts.connOptions(deflate)), nil
}

// negotiator returns the extension negotiation of o's compression mode,
// which sets *deflate to the parameters it accepts; nil when compression
// is off.
func (o *AcceptOptions) negotiator(deflate **handshake.DeflateParams) func([]handshake.Extension) ([]handshake.Extension, error) {
	if o.Compression == CompressionDisabled {
		return nil
	}
	return func(offers []handshake.Extension) ([]handshake.Extension, error) {
		ext, params, ok := serverDeflate(o.Compression, offers)
		if !ok {
			return nil, nil
		}
		*deflate = &params
		return []handshake.Extension{ext}, nil
	}
}

// connOptions is what New gets for a Conn accepted with o, whose
// permessage-deflate parameters the handshake settled (nil: none).
func (o *AcceptOptions) connOptions(deflate *handshake.DeflateParams) *Options {
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
