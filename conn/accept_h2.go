package conn

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/internal/streamconn"
)

// This file is the server side of WebSockets over HTTP/2 (RFC 8441): Accept
// hands an extended CONNECT here. See "HTTP/2" in the package documentation.

// acceptExtendedConnect answers an extended CONNECT and makes a Conn of its
// stream: reads from r.Body, writes to w, each write flushed.
func acceptExtendedConnect(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	var deflate *handshake.DeflateParams
	rc := http.NewResponseController(w)
	// The stream outlives the server's ReadTimeout and WriteTimeout, as a
	// hijacked connection does: clear the deadlines they set. (Errors mean
	// the writer has no deadlines: nothing to clear.)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	res, err := handshake.AcceptExtendedConnect(w, r, opts.serverOptions(&deflate))
	if err != nil {
		return nil, err
	}
	var local net.Addr = streamconn.Addr{Net: "tcp"}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local = a
	}
	kill := func() {
		// A write deadline in the past resets the stream at once
		// (RST_STREAM), which ends a write blocked on flow control.
		_ = rc.SetWriteDeadline(time.Unix(1, 0))
	}
	sc := streamconn.New(r.Body, responseWriter{w, rc}, kill, nil, local, streamconn.Addr{Net: "tcp", S: r.RemoteAddr})
	// The request's context ends when the stream is reset, the HTTP/2
	// connection is lost or the handler returns: from then on the stream
	// must not be written to (net/http forbids writes after the handler
	// returns). The rule of use ("the handler waits for the Conn") makes
	// the Conn close it before that; this is a second line.
	context.AfterFunc(r.Context(), func() { sc.Close() })
	c := New(sc, nil, false, res.Subprotocol, opts.connOptions(deflate))
	return c, nil
}

// responseWriter is the write side of a server's stream.
type responseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (w responseWriter) Write(p []byte) (int, error) { return w.w.Write(p) }
func (w responseWriter) Flush() error                { return w.rc.Flush() }
