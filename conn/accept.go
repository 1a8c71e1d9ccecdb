package conn

import (
	"bufio"
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
	nc, br, res, err := handshake.Upgrade(w, r, opts.serverOptions(&deflate))
	if err != nil {
		return nil, err
	}
	if br.Buffered() == 0 {
		// net/http's 4 KiB reader, ours since the hijack; net/http still
		// points to it while the handler runs but never uses it again.
		*br = bufio.Reader{}
		br = nil
	}
	return New(nc, br, false, res.Subprotocol, opts.connOptions(deflate)), nil
}

// serverOptions returns the handshake options for o, over HTTP/1.1 or
// HTTP/2. Its extension negotiation, when o turns compression on, sets
// *deflate to the permessage-deflate parameters it accepts.
func (o *AcceptOptions) serverOptions(deflate **handshake.DeflateParams) *handshake.ServerOptions {
	so := &handshake.ServerOptions{
		Subprotocols:            o.Subprotocols,
		RequireSubprotocol:      o.RequireSubprotocol,
		OriginPatterns:          o.OriginPatterns,
		InsecureSkipOriginCheck: o.InsecureSkipOriginCheck,
		Header:                  o.HTTPHeader,
		Timeout:                 o.HandshakeTimeout,
	}
	if o.Compression != CompressionDisabled {
		so.NegotiateExtensions = func(offers []handshake.Extension) ([]handshake.Extension, error) {
			ext, params, ok := serverDeflate(o.Compression, offers)
			if !ok {
				return nil, nil
			}
			*deflate = &params
			return []handshake.Extension{ext}, nil
		}
	}
	return so
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
