package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// clientTLS is the TLS configuration of -insecure, -cacert, -cert and
// -key for dialling (nil: the library's default).
func clientTLS(cfg *config) (*tls.Config, error) {
	if !cfg.insecure && cfg.caFile == "" && cfg.certFile == "" {
		return nil, nil
	}
	tc := &tls.Config{InsecureSkipVerify: cfg.insecure}
	if cfg.caFile != "" {
		pool, err := loadPool(cfg.caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if cfg.certFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert/-key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// serverTLS is the TLS configuration of -listen with -cert and -key (nil:
// plain ws), requiring client certificates when -cacert is given.
func serverTLS(cfg *config) (*tls.Config, error) {
	if cfg.certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
	if err != nil {
		return nil, fmt.Errorf("-cert/-key: %v", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	if cfg.caFile != "" {
		pool, err := loadPool(cfg.caFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func loadPool(name string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("-cacert: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-cacert: no PEM certificate in %s", name)
	}
	return pool, nil
}

func dial(ctx context.Context, cfg *config, in <-chan input, observer conn.FrameObserver, p *printer, errw io.Writer) int {
	tc, err := clientTLS(cfg)
	if err != nil {
		fmt.Fprintln(errw, "wscat:", err)
		return exitUsage
	}
	opts := &conn.DialOptions{
		HTTPHeader:   cfg.header,
		Subprotocols: cfg.subprotocols,
		ReadLimit:    cfg.readLimit,
		OnFrame:      observer,
		TLSConfig:    tc,
	}
	if cfg.proxy != nil {
		opts.Proxy = http.ProxyURL(cfg.proxy)
	}
	if cfg.compress {
		opts.Compression = conn.CompressionContextTakeover
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	c, resp, err := conn.Dial(dctx, cfg.url, opts)
	cancel()
	if err != nil {
		var re *handshake.ResponseError
		if errors.As(err, &re) {
			for _, line := range refusal(re) {
				fmt.Fprintln(errw, "wscat:", line)
			}
		} else {
			fmt.Fprintln(errw, "wscat:", err)
		}
		return exitConnect
	}
	fmt.Fprintf(errw, "connected to %s%s\n", cfg.url, describe(c, resp.Header))
	code, _ := session(ctx, c, cfg, in, p, errw)
	return code
}

// maxBodyLine bounds the part of a refusal's body that is shown.
const maxBodyLine = 200

// refusal describes a handshake the server refused in a few short lines:
// the status, and the body's first line when it is plain text (the reason
// most servers give), never a page of HTML.
func refusal(re *handshake.ResponseError) []string {
	if re.Response == nil {
		return []string{"handshake failed: " + re.Reason}
	}
	if re.Response.StatusCode == http.StatusSwitchingProtocols {
		return []string{"handshake failed: " + re.Response.Status + ": " + re.Reason}
	}
	lines := []string{"handshake refused: " + re.Response.Status}
	body := strings.TrimSpace(string(re.Body))
	if body == "" {
		return lines
	}
	mediaType, _, _ := mime.ParseMediaType(re.Response.Header.Get("Content-Type"))
	textual := mediaType == "" || mediaType == "text/plain" || mediaType == "application/json"
	if !textual || strings.HasPrefix(body, "<") || !utf8.ValidString(body) {
		if mediaType == "" {
			mediaType = "no Content-Type"
		}
		return append(lines, fmt.Sprintf("(not shown: a body of %d bytes, %s)", len(re.Body), mediaType))
	}
	first, _, more := strings.Cut(body, "\n")
	first = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(first))
	if len(first) > maxBodyLine || more {
		first = truncate(first, maxBodyLine)
		if !strings.HasSuffix(first, "…") {
			first += " …"
		}
	}
	return append(lines, first)
}

// describe lists what the handshake negotiated, for the "connected" line.
func describe(c *conn.Conn, h http.Header) string {
	var s string
	if p := c.Subprotocol(); p != "" {
		s += " (subprotocol " + p + ")"
	}
	if e := h.Get("Sec-WebSocket-Extensions"); e != "" {
		s += " (extensions " + e + ")"
	}
	return s
}

// serve accepts one client at a time on cfg.listen and runs a session with
// each until the program should end (input over, -count or -wait reached,
// /close) or ctx is cancelled.
func serve(ctx context.Context, cfg *config, in <-chan input, observer conn.FrameObserver, p *printer, errw io.Writer) int {
	tc, err := serverTLS(cfg)
	if err != nil {
		fmt.Fprintln(errw, "wscat:", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintln(errw, "wscat:", err)
		return exitConnect
	}
	scheme := "ws"
	if tc != nil {
		ln, scheme = tls.NewListener(ln, tc), "wss"
	}
	opts := &conn.AcceptOptions{
		Subprotocols:            cfg.subprotocols,
		InsecureSkipOriginCheck: true, // a tool for local exploration
		ReadLimit:               cfg.readLimit,
		OnFrame:                 observer,
	}
	if cfg.compress {
		opts.Compression = conn.CompressionContextTakeover
	}
	var busy atomic.Bool
	sessions := make(chan *conn.Conn)
	stopped := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: cfg.timeout, ErrorLog: log.New(errw, "wscat: ", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !busy.CompareAndSwap(false, true) {
			http.Error(w, "wscat serves one client at a time", http.StatusServiceUnavailable)
			return
		}
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			busy.Store(false)
			return
		}
		select {
		case sessions <- c:
		case <-stopped:
			c.Close(wsframe.CloseGoingAway, "")
		}
	})}
	go srv.Serve(ln)
	defer func() {
		close(stopped)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	base := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(errw, "listening on %s/\n", base)

	dropped := 0
	idle := in // input read while no client is connected: dropped
	if cfg.oneShot {
		idle = nil // the one message waits for the first client
	}
	for {
		select {
		case c := <-sessions:
			fmt.Fprintf(errw, "client %s connected to %s%s\n", c.RemoteAddr(), base, describe(c, nil))
			code, end := session(ctx, c, cfg, in, p, errw)
			busy.Store(false)
			if end || ctx.Err() != nil {
				return dropStatus(code, dropped, errw)
			}
		case item, ok := <-idle:
			if !ok {
				return dropStatus(exitOK, dropped, errw)
			}
			if item.err != nil {
				fmt.Fprintln(errw, "wscat:", item.err)
				return exitSend
			}
			dropped++
			fmt.Fprintln(errw, "no client connected: line dropped")
		case <-ctx.Done():
			return dropStatus(exitOK, dropped, errw)
		}
	}
}

// dropStatus turns a normal end into exitSend when input lines were
// dropped for want of a client.
func dropStatus(code, dropped int, errw io.Writer) int {
	if dropped == 0 || code != exitOK {
		return code
	}
	fmt.Fprintf(errw, "wscat: %d input line(s) dropped: no client was connected\n", dropped)
	return exitSend
}

// session exchanges messages over c until the input ends (close with
// 1000; with -count, only once the replies are in), -count messages were
// received, -wait runs out, /close, ctx is cancelled (close with 1001) or
// the connection ends. It returns the exit status and whether the program
// should end (false: the peer left, a server may take the next client).
func session(ctx context.Context, c *conn.Conn, cfg *config, in <-chan input, p *printer, errw io.Writer) (code int, end bool) {
	readDone := make(chan error, 1)
	enough := make(chan struct{})
	var reading atomic.Bool
	var got atomic.Int64
	go func() { readDone <- readMessages(c, p, cfg.count, &got, enough, &reading) }()
	if cfg.ping > 0 {
		go pingLoop(c, cfg.ping, cfg.timeout, errw)
	}
	var timeout <-chan time.Time
	if cfg.wait > 0 {
		t := time.NewTimer(cfg.wait)
		defer t.Stop()
		timeout = t.C
	}
	binary := cfg.binary
	closeWith := func(code wsframe.CloseCode, reason string) {
		closeAndWait(c, code, reason, readDone, &reading, errw)
	}
	// handle acts on one input; done means the session is over, with
	// code and end as the results.
	handle := func(item input, ok bool) (code int, end, done bool) {
		if !ok {
			in = nil
			if cfg.count > 0 {
				return 0, false, false // wait for the replies
			}
			closeWith(wsframe.CloseNormal, "")
			return exitOK, true, true
		}
		if item.err != nil {
			fmt.Fprintln(errw, "wscat:", item.err)
			closeWith(wsframe.CloseNormal, "")
			return exitSend, true, true
		}
		data := item.data
		if cfg.slash && !item.whole {
			cmd, err := parseCommand(string(data))
			if err != nil {
				fmt.Fprintln(errw, "wscat:", err)
				return 0, false, false
			}
			switch cmd.kind {
			case cmdPing:
				go pingOnce(c, cfg.timeout, errw)
				return 0, false, false
			case cmdClose:
				closeWith(cmd.code, cmd.reason)
				return exitOK, true, true
			case cmdBinary, cmdText:
				binary = cmd.kind == cmdBinary
				fmt.Fprintf(errw, "sending %s messages\n", map[bool]string{true: "binary", false: "text"}[binary])
				return 0, false, false
			case cmdHelp:
				fmt.Fprintln(errw, commandHelp)
				return 0, false, false
			}
			data = []byte(cmd.text)
		}
		typ := conn.MessageText
		if binary {
			typ = conn.MessageBinary
		} else if !utf8.Valid(data) {
			typ = conn.MessageBinary
			fmt.Fprintln(errw, "wscat: not valid UTF-8: sent as a binary message")
		}
		wctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		err := c.Write(wctx, typ, data)
		cancel()
		if err != nil {
			fmt.Fprintln(errw, "wscat: write:", err)
			c.CloseNow()
			<-readDone
			return exitSend, true, true
		}
		return 0, false, false
	}
	for {
		// Input that is ready goes first: a one-shot message is sent
		// before a reply, the -wait timer or -count can end the session.
		select {
		case item, ok := <-in:
			if code, end, done := handle(item, ok); done {
				return code, end
			}
			continue
		default:
		}
		select {
		case item, ok := <-in:
			if code, end, done := handle(item, ok); done {
				return code, end
			}
		case <-enough:
			closeWith(wsframe.CloseNormal, "")
			return exitOK, true
		case <-timeout:
			if n := got.Load(); cfg.count > 0 && n < int64(cfg.count) {
				fmt.Fprintf(errw, "wscat: no more replies after %v: %d of %d\n", cfg.wait, n, cfg.count)
				closeWith(wsframe.CloseNormal, "")
				return exitTimeout, true
			}
			closeWith(wsframe.CloseNormal, "")
			return exitOK, true
		case <-ctx.Done():
			closeWith(wsframe.CloseGoingAway, "")
			return exitOK, false
		case err := <-readDone:
			code := reportEnd(err, errw)
			if n := got.Load(); code == exitOK && cfg.count > 0 && n < int64(cfg.count) {
				fmt.Fprintf(errw, "wscat: the peer closed after %d of %d replies\n", n, cfg.count)
				code = exitTimeout
			}
			return code, false
		}
	}
}

// readMessages prints every message received until the connection ends,
// and returns the error that ended it. With count > 0 it closes enough
// at the count-th message and prints no more.
func readMessages(c *conn.Conn, p *printer, count int, got *atomic.Int64, enough chan<- struct{}, reading *atomic.Bool) error {
	var buf []byte
	for {
		reading.Store(true)
		typ, msg, err := c.ReadInto(context.Background(), buf)
		reading.Store(false)
		if err != nil {
			return err
		}
		buf = msg
		if count > 0 && got.Load() >= int64(count) {
			continue // past -count: the session is closing
		}
		p.message(typ, msg)
		if n := got.Add(1); count > 0 && n == int64(count) {
			close(enough)
		}
	}
}

// closeAndWait runs our close handshake (the reading goroutine sees the
// peer's answer) and says how it went.
//
// conn.Conn.Close discards the messages that arrive before the peer's
// close frame when no goroutine is inside a read at that moment, so it
// first waits (boundedly) for the reading goroutine to be in one: messages
// the peer sent before it saw our close, such as echoes of the last lines,
// are still printed.
func closeAndWait(c *conn.Conn, code wsframe.CloseCode, reason string, readDone <-chan error, reading *atomic.Bool, errw io.Writer) {
	for i := 0; i < 1000 && !reading.Load(); i++ {
		select {
		case <-c.Done():
			i = 1000
		case <-time.After(time.Millisecond):
		}
	}
	time.Sleep(time.Millisecond) // from the flag being set to the read lock being held
	err := c.Close(code, reason)
	<-readDone
	if err != nil {
		fmt.Fprintf(errw, "closed with %s: %v\n", code, err)
		return
	}
	fmt.Fprintf(errw, "closed with %s%s: the peer answered\n", code, reasonText(reason))
}

// reportEnd prints how the peer ended the connection and turns it into an
// exit status.
func reportEnd(err error, errw io.Writer) int {
	var ce conn.CloseError
	if errors.As(err, &ce) {
		fmt.Fprintf(errw, "closed by peer: %s%s\n", ce.Code, reasonText(ce.Reason))
		if ce.Code == wsframe.CloseNormal || ce.Code == wsframe.CloseGoingAway || ce.Code == wsframe.CloseNoStatus {
			return exitOK
		}
		return exitPeerClose
	}
	fmt.Fprintf(errw, "connection failed: %s: %v\n", conn.CloseCode(err), err)
	return exitFailed
}

// pingLoop pings c every interval, one ping at a time, until c ends.
func pingLoop(c *conn.Conn, interval, timeout time.Duration, errw io.Writer) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			return
		case <-t.C:
		}
		pingOnce(c, timeout, errw)
	}
}

// pingOnce sends a ping and prints the round trip. It waits at most
// timeout for the pong: a ping whose write is cut short breaks the
// connection, so the bound must not be tight.
func pingOnce(c *conn.Conn, timeout time.Duration, errw io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	start := time.Now()
	err := c.Ping(ctx)
	cancel()
	select {
	case <-c.Done():
		return
	default:
	}
	if err != nil {
		fmt.Fprintln(errw, "ping: no pong:", err)
		return
	}
	fmt.Fprintf(errw, "pong after %v\n", time.Since(start).Round(time.Microsecond))
}
