package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/internal/streamconn"
)

// This file is the client side of WebSockets over HTTP/2 (RFC 8441),
// independent of any HTTP/2 implementation: the caller brings a
// RoundTripper that sends extended CONNECT requests (package github.com/ws6455/ws6455/h2 has
// one built on golang.org/x/net/http2).

// ErrExtendedConnectUnsupported is matched (errors.Is) by the error of
// DialExtendedConnect when the server did not advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL: it does not accept WebSockets over
// HTTP/2 (a Go server needs GODEBUG=http2xconnect=1, see "HTTP/2" in the
// package documentation). Dial over HTTP/1.1 instead.
var ErrExtendedConnectUnsupported = errors.New("conn: the server does not accept WebSockets over HTTP/2 (it did not send SETTINGS_ENABLE_CONNECT_PROTOCOL)")

// DialExtendedConnect opens a WebSocket as one stream of an HTTP/2
// connection (RFC 8441, client side): it sends rt an extended CONNECT
// request for rawURL (ws, wss, http or https) and makes a Conn of the
// stream, whose bytes go in the request body and come back in the
// response body. rt must support extended CONNECT (a request with Method
// CONNECT and a ":protocol" header, handshake.ProtocolHeader): net/http's
// Transport does not (as of Go 1.26); package
// github.com/ws6455/ws6455/h2 provides one, built on
// golang.org/x/net/http2, which shares one HTTP/2 connection among many
// WebSockets.
//
// ctx bounds the handshake, not the Conn's life. Of opts, TLSConfig, Proxy
// and NetDialContext are not used (they belong to rt). On a refusal the
// response is returned with a *handshake.ResponseError holding the start
// of its body. A server that does not accept extended CONNECT gives an
// error that matches ErrExtendedConnectUnsupported.
func DialExtendedConnect(ctx context.Context, rt http.RoundTripper, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	hopts := &handshake.ClientOptions{
		Header:       opts.HTTPHeader,
		Subprotocols: opts.Subprotocols,
	}
	if opts.Compression != CompressionDisabled {
		hopts.Extensions = []handshake.Extension{clientDeflateOffer(opts.Compression)}
		hopts.CheckExtensions = func(_, accepted []handshake.Extension) error {
			_, _, err := clientDeflateResponse(accepted)
			return err
		}
	}
	pr, pw := io.Pipe()
	reqBody := &requestBody{PipeReader: pr, closed: make(chan struct{})}
	req, err := handshake.NewExtendedConnectRequest(rawURL, reqBody, hopts)
	if err != nil {
		return nil, nil, err
	}
	// The request's context is the stream's life; ctx bounds only the
	// handshake.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var addrMu sync.Mutex
	var local, remote net.Addr = streamconn.Addr{Net: "tcp"}, streamconn.Addr{Net: "tcp", S: req.URL.Host}
	life = httptrace.WithClientTrace(life, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Conn == nil {
				return
			}
			addrMu.Lock()
			local, remote = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
			addrMu.Unlock()
		},
	})
	req = req.WithContext(life)
	stop := context.AfterFunc(ctx, cancel)
	resp, err := rt.RoundTrip(req)
	if !stop() && err == nil {
		// ctx ended as the answer came: the handshake did not finish in time.
		resp.Body.Close()
		err = ctx.Err()
		resp = nil
	}
	if err != nil {
		cancel()
		pw.Close()
		if e := ctx.Err(); e != nil {
			return nil, nil, fmt.Errorf("conn: extended CONNECT to %s: %w", req.URL.Host, e)
		}
		if strings.Contains(err.Error(), "extended connect not supported") {
			return nil, nil, fmt.Errorf("%w: %w", ErrExtendedConnectUnsupported, err)
		}
		if strings.Contains(err.Error(), `invalid header field name ":protocol"`) {
			return nil, nil, fmt.Errorf("conn: this RoundTripper cannot send extended CONNECT (net/http's Transport cannot; use package github.com/ws6455/ws6455/h2): %w", err)
		}
		return nil, nil, fmt.Errorf("conn: extended CONNECT to %s: %w", req.URL.Host, err)
	}
	res, err := handshake.CheckExtendedConnectResponse(resp, hopts)
	if err != nil {
		var re *handshake.ResponseError
		if errors.As(err, &re) {
			re.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
		}
		resp.Body.Close()
		cancel()
		pw.Close()
		return nil, resp, err
	}
	var deflate *handshake.DeflateParams
	if p, ok, _ := clientDeflateResponse(res.Extensions); ok {
		deflate = &p
	}
	kill := func() {
		pw.CloseWithError(errStreamReset)
		cancel()
	}
	end := func() {
		// END_STREAM: the client's half of the stream is done. The
		// Transport closes the request body once it has sent END_STREAM
		// (or once the stream is over): wait for that, briefly, so that
		// closing the response body next does not reset a stream that is
		// ending cleanly (RST_STREAM CANCEL instead of END_STREAM).
		pw.Close()
		t := time.NewTimer(endStreamWait)
		defer t.Stop()
		select {
		case <-reqBody.closed:
		case <-t.C:
		}
	}
	addrMu.Lock()
	la, ra := local, remote
	addrMu.Unlock()
	body := &responseBody{ReadCloser: resp.Body, cancel: cancel}
	sc := streamconn.New(body, pipeWriter{pw}, kill, end, la, ra)
	return New(sc, nil, true, res.Subprotocol, opts.connOptions(deflate)), resp, nil
}

var errStreamReset = errors.New("conn: write timed out; HTTP/2 stream reset")

// endStreamWait bounds how long closing a client's stream waits for the
// Transport to send END_STREAM.
const endStreamWait = time.Second

// requestBody is the client's half of the stream, as the Transport reads
// it; closed is closed when the Transport closes it (it is done with it).
type requestBody struct {
	*io.PipeReader
	once   sync.Once
	closed chan struct{}
}

func (b *requestBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return b.PipeReader.Close()
}

// responseBody ends the request's context when the response body is
// closed, so that nothing of the stream outlives the Conn.
type responseBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *responseBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// pipeWriter is the write side of a client's stream: a write returns once
// the Transport has taken all of it, so there is nothing to flush.
type pipeWriter struct{ pw *io.PipeWriter }

func (w pipeWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }
func (w pipeWriter) Flush() error                { return nil }
