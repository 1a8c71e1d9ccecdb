package suite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws6455/ws6455/autobahn/report"
)

// This file carries the suite's cases over HTTP/2 (RFC 8441): each case is
// one stream of an HTTP/2 connection, opened with an extended CONNECT
// (:protocol websocket) and answered with a 200, and the stream carries the
// same WebSocket frames as a TCP connection would. The end of the stream
// takes the place of the TCP close. The suite has its own small adapters
// here, independent of the library it tests (as it has its own handshake).
//
// In the reports, the opening handshake of such a case is shown as the
// HTTP/2 header block: pseudo-headers first (":method: CONNECT",
// ":protocol: websocket", ":status: 200"), lower-case field names, and
// "HTTP/2" on the first line (the bytes on the wire are HPACK, not text).

// h2Client sends the extended CONNECTs of a fuzzing-client run: one
// HTTP/2 connection (cleartext with prior knowledge for ws://, TLS with
// ALPN h2 for wss://) that all of the run's cases share, as streams.
type h2Client struct {
	tr *http2.Transport
}

// newH2Client returns a client for the server at wsURL; dial replaces the
// TCP dialer when not nil.
func newH2Client(wsURL string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *h2Client {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	secure := isWSS(wsURL)
	tr := &http2.Transport{
		AllowHTTP: !secure,
		DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			nc, err := dial(ctx, network, addr)
			if err != nil || !secure {
				return nc, err
			}
			// Like the real suite, the suite does not check the server's
			// certificate: it tests the WebSocket layer, not the PKI.
			cfg = cfg.Clone()
			cfg.InsecureSkipVerify = true
			cfg.NextProtos = []string{http2.NextProtoTLS}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				nc.Close()
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
				tc.Close()
				return nil, fmt.Errorf("the server did not choose HTTP/2 in ALPN (got %q)", p)
			}
			return tc, nil
		},
	}
	return &h2Client{tr: tr}
}

func (h *h2Client) close() { h.tr.CloseIdleConnections() }

// runCaseH2 is RunCase over HTTP/2; h is the run's shared client (nil: a
// client of its own for this case).
func runCaseH2(ctx context.Context, wsURL string, c *Case, index int, opts *Options, h *h2Client) *Result {
	if _, _, _, err := parseWSURL(wsURL); err != nil {
		return failedResult(c, index, opts.Agent, err)
	}
	if h == nil {
		h = newH2Client(wsURL, opts.Dial)
		defer h.close()
	}
	r := newRunDeferred(ctx, c, opts.Timeouts)
	r.origin, r.protocols = opts.Origin, opts.Protocols
	var offers []deflateOffer
	if c.deflate != nil {
		offers = c.deflate.offers
	}
	nc, params, err := h.handshake(ctx, wsURL, offers, r)
	if err != nil {
		if nc == nil {
			nc = closedConn{}
		}
		r.attach(nc)
		r.finish()
		res := r.toResult(index, opts.Agent)
		res.Behavior, res.BehaviorClose = report.Failed, report.CloseFailed
		res.Result = "The opening handshake (extended CONNECT over HTTP/2) failed: " + err.Error()
		res.ResultClose = res.Result
		return res
	}
	r.attach(nc)
	if params != nil {
		r.pmd = newPMD(*params, false)
	}
	r.loop(nil)
	r.finish()
	return r.toResult(index, opts.Agent)
}

// newRunDeferred makes a run whose connection is attached later (the
// stream exists only once the handshake succeeded).
func newRunDeferred(ctx context.Context, c *Case, to Timeouts) *run {
	return newRun(ctx, c, closedConn{}, false, to)
}

// attach replaces the run's connection before the run starts.
func (r *run) attach(nc net.Conn) {
	r.wq.mu.Lock()
	r.wq.nc = nc
	r.wq.mu.Unlock()
	r.nc = nc
}

// handshake sends the extended CONNECT for one case and checks the answer.
func (h *h2Client) handshake(ctx context.Context, wsURL string, offers []deflateOffer, r *run) (net.Conn, *deflateParams, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, nil, err
	}
	u.Scheme = "http"
	if isWSS(wsURL) {
		u.Scheme = "https"
	}
	if u.Path == "" {
		u.Path = "/"
	}
	// The request's context is the stream's life; the opening-handshake
	// timeout ends it only while the handshake is under way.
	life, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(life, http.MethodConnect, u.String(), pr)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header[":protocol"] = []string{"websocket"}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	if len(r.protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(r.protocols, ", "))
	}
	if len(offers) > 0 {
		hs := make([]string, len(offers))
		for i, o := range offers {
			hs[i] = o.header()
		}
		req.Header.Set("Sec-WebSocket-Extensions", strings.Join(hs, ","))
	}
	r.httpRequest = h2RequestText(req)
	r.log("TO", hexData([]byte(r.httpRequest)), false)

	timedOut := false
	var tmu sync.Mutex
	t := time.AfterFunc(r.to.Open, func() {
		tmu.Lock()
		timedOut = true
		tmu.Unlock()
		cancel()
	})
	resp, err := h.tr.RoundTrip(req)
	stopped := t.Stop()
	tmu.Lock()
	to := timedOut
	tmu.Unlock()
	if err == nil && !stopped && to {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		pw.Close()
		if to {
			r.wasOpenHandshakeTimeout = true
		}
		return nil, nil, err
	}
	r.httpResponse = h2ResponseText(resp)
	r.log("RO", hexData([]byte(r.httpResponse)))
	s := &h2ClientStream{body: resp.Body, pw: pw, cancel: cancel, remote: h2Addr(req.URL.Host)}
	params, err := checkH2Response(resp, offers)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, params, nil
}

// checkH2Response checks the answer to an extended CONNECT: 200 and, if
// compression was offered, acceptable deflate parameters.
func checkH2Response(resp *http.Response, offers []deflateOffer) (*deflateParams, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server answered %q, not 200", resp.Status)
	}
	ext := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ",")
	if strings.TrimSpace(ext) == "" {
		return nil, nil
	}
	if len(offers) == 0 {
		return nil, fmt.Errorf("server enabled extensions we did not offer: %q", ext)
	}
	return parseDeflateResponse(ext)
}

// h2ClientStream is the suite's side of a stream it opened: what it writes
// goes into the request body, what it reads comes from the response body.
type h2ClientStream struct {
	body   io.ReadCloser
	pw     *io.PipeWriter
	cancel context.CancelFunc
	remote net.Addr
	once   sync.Once
}

func (s *h2ClientStream) Read(p []byte) (int, error)  { return s.body.Read(p) }
func (s *h2ClientStream) Write(p []byte) (int, error) { return s.pw.Write(p) }

// Close ends the suite's half of the stream (END_STREAM) and stops
// reading (a stream the server has not ended yet is reset), as closing a
// TCP connection would.
func (s *h2ClientStream) Close() error {
	s.once.Do(func() {
		s.pw.Close()
		s.body.Close()
		s.cancel()
	})
	return nil
}

func (s *h2ClientStream) LocalAddr() net.Addr                { return h2Addr("") }
func (s *h2ClientStream) RemoteAddr() net.Addr               { return s.remote }
func (s *h2ClientStream) SetDeadline(t time.Time) error      { return errNoDeadlines }
func (s *h2ClientStream) SetReadDeadline(t time.Time) error  { return errNoDeadlines }
func (s *h2ClientStream) SetWriteDeadline(t time.Time) error { return errNoDeadlines }

var errNoDeadlines = errors.New("suite: an HTTP/2 stream has no deadlines")

// h2Addr is the address of an HTTP/2 stream's connection.
type h2Addr string

func (a h2Addr) Network() string { return "h2" }
func (a h2Addr) String() string  { return string(a) }

// closedConn stands in for a connection that does not exist (yet).
type closedConn struct{}

func (closedConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (closedConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (closedConn) Close() error                     { return nil }
func (closedConn) LocalAddr() net.Addr              { return h2Addr("") }
func (closedConn) RemoteAddr() net.Addr             { return h2Addr("") }
func (closedConn) SetDeadline(time.Time) error      { return nil }
func (closedConn) SetReadDeadline(time.Time) error  { return nil }
func (closedConn) SetWriteDeadline(time.Time) error { return nil }

// isExtendedConnect reports whether req is an RFC 8441 extended CONNECT.
func isExtendedConnect(req *http.Request) bool {
	return req.ProtoMajor == 2 && req.Method == http.MethodConnect && len(req.Header[":protocol"]) > 0
}

// checkExtendedConnect validates a client's extended CONNECT (RFC 8441 §4
// and §5: :protocol websocket and version 13; there is no key).
func checkExtendedConnect(req *http.Request) error {
	if !isExtendedConnect(req) {
		return &serverHandshakeError{status: http.StatusBadRequest, msg: "over HTTP/2 the opening handshake must be an extended CONNECT with :protocol websocket"}
	}
	if p := req.Header[":protocol"]; len(p) != 1 || !strings.EqualFold(p[0], "websocket") {
		return &serverHandshakeError{status: http.StatusNotImplemented, msg: "unsupported :protocol; the suite speaks websocket"}
	}
	if req.Header.Get("Sec-WebSocket-Version") != "13" {
		return &serverHandshakeError{status: http.StatusBadRequest, msg: "only Sec-WebSocket-Version 13 is supported"}
	}
	return nil
}

// acceptH2 answers an extended CONNECT with 200 and header (flushed) and
// returns the stream as a net.Conn and the answer as text for the report.
func acceptH2(w http.ResponseWriter, req *http.Request, header http.Header) (net.Conn, string, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, "", err
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: w.Header()}
	s := &h2ServerStream{body: req.Body, w: w, rc: rc, remote: h2Addr(req.RemoteAddr)}
	return s, h2ResponseText(resp), nil
}

// h2ServerStream is the suite's side of a stream a client opened: reads
// come from the request body, writes go to the response, flushed. The
// stream ends (END_STREAM) when ServeHTTP returns, after Close.
type h2ServerStream struct {
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	remote net.Addr

	mu      sync.Mutex
	writing bool
	closed  bool
}

func (s *h2ServerStream) Read(p []byte) (int, error) { return s.body.Read(p) }

func (s *h2ServerStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, net.ErrClosed
	}
	s.writing = true
	s.mu.Unlock()
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	s.mu.Lock()
	s.writing = false
	s.mu.Unlock()
	return n, err
}

// Close stops reading. A write that is under way (blocked by flow
// control) is cut short by resetting the stream; otherwise the stream
// ends normally when ServeHTTP returns.
func (s *h2ServerStream) Close() error {
	s.mu.Lock()
	s.closed = true
	writing := s.writing
	s.mu.Unlock()
	if writing {
		_ = s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	return s.body.Close()
}

func (s *h2ServerStream) LocalAddr() net.Addr                { return h2Addr("") }
func (s *h2ServerStream) RemoteAddr() net.Addr               { return s.remote }
func (s *h2ServerStream) SetDeadline(t time.Time) error      { return errNoDeadlines }
func (s *h2ServerStream) SetReadDeadline(t time.Time) error  { return errNoDeadlines }
func (s *h2ServerStream) SetWriteDeadline(t time.Time) error { return errNoDeadlines }

// h2RequestText renders an extended CONNECT as its HTTP/2 header block,
// for the report.
func h2RequestText(req *http.Request) string {
	var b strings.Builder
	b.WriteString("CONNECT " + req.URL.RequestURI() + " HTTP/2 (extended CONNECT, RFC 8441)\r\n")
	fmt.Fprintf(&b, ":method: CONNECT\r\n:protocol: %s\r\n:scheme: %s\r\n:authority: %s\r\n:path: %s\r\n",
		strings.Join(req.Header[":protocol"], ","), schemeOf(req), hostOf(req), req.URL.RequestURI())
	writeH2Fields(&b, req.Header)
	b.WriteString("\r\n")
	return b.String()
}

func schemeOf(req *http.Request) string {
	switch {
	case req.URL.Scheme != "":
		return req.URL.Scheme
	case req.TLS != nil:
		return "https"
	}
	return "http"
}

func hostOf(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// h2ResponseText renders the answer to an extended CONNECT as its HTTP/2
// header block, for the report.
func h2ResponseText(resp *http.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/2 %d %s\r\n:status: %d\r\n", resp.StatusCode, http.StatusText(resp.StatusCode), resp.StatusCode)
	writeH2Fields(&b, resp.Header)
	b.WriteString("\r\n")
	return b.String()
}

// writeH2Fields writes the regular fields of h, lower-case and sorted, as
// HTTP/2 carries them.
func writeH2Fields(b *strings.Builder, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		if !strings.HasPrefix(k, ":") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s: %s\r\n", strings.ToLower(k), v)
		}
	}
}

// serveH2 runs case c (index 0: a control connection) on the stream of an
// extended CONNECT that checkExtendedConnect accepted.
func (s *Server) serveH2(w http.ResponseWriter, req *http.Request, c *Case, index int, agent string, params *deflateParams) {
	header := http.Header{"Server": {userAgent}}
	if params != nil {
		header.Set("Sec-WebSocket-Extensions", params.header())
	}
	if p := chooseProtocol(req.Header.Values("Sec-WebSocket-Protocol"), s.opts.Protocols); p != "" {
		header.Set("Sec-WebSocket-Protocol", p)
	}
	s.wg.Add(1)
	defer s.wg.Done()
	nc, resp, err := acceptH2(w, req, header)
	if err != nil {
		return
	}
	r := newRun(s.ctx, c, nc, true, s.opts.Timeouts)
	r.httpRequest = h2RequestText(req)
	r.httpResponse = resp
	r.log("RO", hexData([]byte(r.httpRequest)))
	r.log("TO", hexData([]byte(resp)), false)
	if params != nil {
		r.pmd = newPMD(*params, true)
	}
	r.loop(nil)
	r.finish()
	s.record(r, index, agent)
}
