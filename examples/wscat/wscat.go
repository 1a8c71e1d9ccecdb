package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// Exit statuses.
const (
	exitOK    = 0 // normal end: end of input, or the peer closed with 1000/1001
	exitError = 1 // connection failed or ended abnormally
	exitUsage = 2 // bad flags or arguments
)

// previewLen bounds the payload shown by -trace and for binary messages.
const previewLen = 64

// maxLine is the longest input line; longer lines end the program with an
// error rather than growing a buffer without bound.
const maxLine = 1 << 20

// headerFlags collects repeated -H flags.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	value = strings.TrimSpace(value)
	if !ok || !isToken(name) {
		return fmt.Errorf("want \"Name: value\", got %q", s)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return fmt.Errorf("header %s: control characters in the value", name)
	}
	http.Header(h).Add(name, value)
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the syntax
// of a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// config is what the command line asks for.
type config struct {
	url          string
	listen       string
	header       http.Header
	subprotocols []string
	compress     bool
	binary       bool
	trace        bool
	ping         time.Duration
	insecure     bool
	timeout      time.Duration
	readLimit    int64
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("wscat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wscat [flags] ws://host[:port]/path\n       wscat [flags] -listen host:port\nflags:")
		fs.PrintDefaults()
	}
	cfg := &config{header: http.Header{}}
	fs.StringVar(&cfg.listen, "listen", "", "serve on this address instead of connecting (one client at a time, any path, any origin)")
	fs.Var(headerFlags(cfg.header), "H", "extra request header, \"Name: value\" (repeatable; client only)")
	subprotocols := fs.String("subprotocol", "", "subprotocols to offer (client) or accept (server), comma-separated")
	fs.BoolVar(&cfg.compress, "compress", false, "offer (client) or accept (server) permessage-deflate")
	fs.BoolVar(&cfg.binary, "binary", false, "send input lines as binary messages instead of text")
	fs.BoolVar(&cfg.trace, "trace", false, "print every frame sent and received on standard error")
	fs.DurationVar(&cfg.ping, "ping", 0, "send a ping at this interval and print the round trip (0: never)")
	fs.BoolVar(&cfg.insecure, "insecure", false, "do not verify the server's TLS certificate (wss)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "bound on connecting and on the opening handshake")
	fs.Int64Var(&cfg.readLimit, "read-limit", 16<<20, "largest message accepted, in bytes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, p := range strings.Split(*subprotocols, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.subprotocols = append(cfg.subprotocols, p)
		}
	}
	switch {
	case cfg.listen == "" && fs.NArg() != 1:
		fs.Usage()
		return nil, errors.New("want one URL, or -listen")
	case cfg.listen != "" && fs.NArg() != 0:
		fs.Usage()
		return nil, errors.New("-listen takes no URL")
	case cfg.listen != "" && len(cfg.header) > 0:
		return nil, errors.New("-H is for the client only")
	}
	cfg.url = fs.Arg(0)
	return cfg, nil
}

// run is the whole command, with its inputs and outputs as parameters so
// that tests can drive it. It returns the exit status. Cancelling ctx (a
// signal) closes the connection with 1001 (going away).
//
// Reading stdin cannot be interrupted: when the connection ends first, the
// goroutine reading it stays blocked until stdin delivers a line or ends.
// In the command that does not matter (the process exits); tests close
// their stdin.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var mu sync.Mutex // serialises the output of all goroutines
	out := &syncWriter{mu: &mu, w: stdout}
	errw := &syncWriter{mu: &mu, w: stderr}
	cfg, err := parseArgs(args, errw)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(errw, "wscat:", err)
		return exitUsage
	}
	lines := readLines(stdin, errw)
	var observer conn.FrameObserver
	if cfg.trace {
		observer = func(dir conn.Direction, h wsframe.Header, p []byte) {
			fmt.Fprintln(errw, formatFrame(dir, h, p))
		}
	}
	if cfg.listen != "" {
		return serve(ctx, cfg, lines, observer, out, errw)
	}
	return dial(ctx, cfg, lines, observer, out, errw)
}

// readLines sends the lines of r, without their line endings, until r
// ends; then it closes the channel.
func readLines(r io.Reader, errw io.Writer) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), maxLine)
		for sc.Scan() {
			lines <- strings.TrimSuffix(sc.Text(), "\r")
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(errw, "wscat: reading input:", err)
		}
	}()
	return lines
}

func dial(ctx context.Context, cfg *config, lines <-chan string, observer conn.FrameObserver, out, errw io.Writer) int {
	opts := &conn.DialOptions{
		HTTPHeader:   cfg.header,
		Subprotocols: cfg.subprotocols,
		ReadLimit:    cfg.readLimit,
		OnFrame:      observer,
	}
	if cfg.compress {
		opts.Compression = conn.CompressionContextTakeover
	}
	if cfg.insecure {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	c, resp, err := conn.Dial(dctx, cfg.url, opts)
	cancel()
	if err != nil {
		var re *handshake.ResponseError
		if errors.As(err, &re) && re.Response != nil {
			fmt.Fprintf(errw, "wscat: handshake refused: %s\n", re.Response.Status)
			if body := strings.TrimSpace(string(re.Body)); body != "" {
				fmt.Fprintf(errw, "wscat: %s\n", body)
			}
			return exitError
		}
		fmt.Fprintln(errw, "wscat:", err)
		return exitError
	}
	fmt.Fprintf(errw, "connected to %s%s\n", cfg.url, describe(c, resp.Header))
	code, _ := session(ctx, c, cfg, lines, out, errw)
	return code
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
// each until input ends or ctx is cancelled.
func serve(ctx context.Context, cfg *config, lines <-chan string, observer conn.FrameObserver, out, errw io.Writer) int {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintln(errw, "wscat:", err)
		return exitError
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
	srv := &http.Server{ReadHeaderTimeout: cfg.timeout, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	fmt.Fprintf(errw, "listening on ws://%s/\n", ln.Addr())

	for {
		select {
		case c := <-sessions:
			fmt.Fprintf(errw, "client %s connected to %s%s\n", c.RemoteAddr(), "ws://"+ln.Addr().String(), describe(c, nil))
			code, inputDone := session(ctx, c, cfg, lines, out, errw)
			busy.Store(false)
			if inputDone || ctx.Err() != nil {
				return code
			}
		case _, ok := <-lines:
			if !ok {
				return exitOK
			}
			fmt.Fprintln(errw, "no client connected: line dropped")
		case <-ctx.Done():
			return exitOK
		}
	}
}

// session exchanges messages over c until input ends (close with 1000),
// ctx is cancelled (close with 1001) or the connection ends. It returns
// the exit status and whether input ended.
func session(ctx context.Context, c *conn.Conn, cfg *config, lines <-chan string, out, errw io.Writer) (code int, inputDone bool) {
	readDone := make(chan error, 1)
	var reading atomic.Bool
	go func() { readDone <- printMessages(c, out, &reading) }()
	if cfg.ping > 0 {
		go pingLoop(c, cfg.ping, cfg.timeout, errw)
	}
	typ := conn.MessageText
	if cfg.binary {
		typ = conn.MessageBinary
	}
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				closeAndWait(c, wsframe.CloseNormal, readDone, &reading, errw)
				return exitOK, true
			}
			wctx, cancel := context.WithTimeout(ctx, cfg.timeout)
			err := c.Write(wctx, typ, []byte(line))
			cancel()
			if err != nil {
				fmt.Fprintln(errw, "wscat: write:", err)
				c.CloseNow()
				<-readDone
				return exitError, false
			}
		case <-ctx.Done():
			closeAndWait(c, wsframe.CloseGoingAway, readDone, &reading, errw)
			return exitOK, false
		case err := <-readDone:
			return reportEnd(err, errw), false
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
func closeAndWait(c *conn.Conn, code wsframe.CloseCode, readDone <-chan error, reading *atomic.Bool, errw io.Writer) {
	for i := 0; i < 1000 && !reading.Load(); i++ {
		select {
		case <-c.Done():
			i = 1000
		case <-time.After(time.Millisecond):
		}
	}
	time.Sleep(time.Millisecond) // from the flag being set to the read lock being held
	err := c.Close(code, "")
	<-readDone
	if err != nil {
		fmt.Fprintf(errw, "closed with %s: %v\n", code, err)
		return
	}
	fmt.Fprintf(errw, "closed with %s: the peer answered\n", code)
}

// reportEnd prints how the peer ended the connection and turns it into an
// exit status.
func reportEnd(err error, errw io.Writer) int {
	var ce conn.CloseError
	if errors.As(err, &ce) {
		fmt.Fprintf(errw, "closed by peer: %s%s\n", closeText(ce.Code), reasonText(ce.Reason))
		if ce.Code == wsframe.CloseNormal || ce.Code == wsframe.CloseGoingAway || ce.Code == wsframe.CloseNoStatus {
			return exitOK
		}
		return exitError
	}
	fmt.Fprintf(errw, "connection failed: %s: %v\n", closeText(conn.CloseCode(err)), err)
	return exitError
}

func closeText(code wsframe.CloseCode) string { return code.String() }

func reasonText(reason string) string {
	if reason == "" {
		return ""
	}
	return " " + strconv.Quote(reason)
}

// printMessages prints every message received until the connection ends,
// and returns the error that ended it.
func printMessages(c *conn.Conn, out io.Writer, reading *atomic.Bool) error {
	var buf []byte
	for {
		reading.Store(true)
		typ, msg, err := c.ReadInto(context.Background(), buf)
		reading.Store(false)
		if err != nil {
			return err
		}
		buf = msg
		if typ == conn.MessageText {
			fmt.Fprintf(out, "< %s\n", msg)
		} else {
			fmt.Fprintf(out, "< binary %d bytes: %s\n", len(msg), hexPreview(msg))
		}
	}
}

// pingLoop pings c every interval, one ping at a time, until c ends. Each
// ping waits at most timeout for its pong: a ping whose write is cut short
// breaks the connection, so the bound must not be tight.
func pingLoop(c *conn.Conn, interval, timeout time.Duration, errw io.Writer) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			return
		case <-t.C:
		}
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
			continue
		}
		fmt.Fprintf(errw, "pong after %v\n", time.Since(start).Round(time.Microsecond))
	}
}

// formatFrame renders one frame for -trace: direction, FIN, RSV bits,
// opcode, mask key, length, and a bounded preview of the payload.
func formatFrame(dir conn.Direction, h wsframe.Header, p []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-3s fin=%d rsv=%03b op=%s mask=", dir, btoi(h.Fin), h.Rsv&7, h.Opcode)
	if h.Masked {
		b.WriteString(hex.EncodeToString(h.Mask[:]))
	} else {
		b.WriteString("-")
	}
	fmt.Fprintf(&b, " len=%d", h.Length)
	switch {
	case h.Length == 0:
	case p == nil:
		b.WriteString(" data=(streamed)")
	case h.Opcode == wsframe.OpClose:
		code, reason, err := wsframe.ParseClosePayload(p)
		if err != nil {
			fmt.Fprintf(&b, " close=invalid(%v) data=%s", err, hexPreview(p))
		} else {
			fmt.Fprintf(&b, " close=%d%s", uint16(code), reasonText(reason))
		}
	case h.Rsv&wsframe.RSV1 != 0:
		b.WriteString(" data=" + hexPreview(p) + " (compressed)")
	default:
		b.WriteString(" data=" + preview(p))
	}
	return b.String()
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// preview shows p as quoted text when it is printable UTF-8, else as hex,
// cut at previewLen bytes.
func preview(p []byte) string {
	cut := p
	if len(cut) > previewLen {
		cut = cut[:previewLen]
		for i := 1; i < utf8.UTFMax && !utf8.Valid(cut); i++ {
			cut = cut[:len(cut)-1] // do not split a character
		}
	}
	if !printable(cut) {
		return hexPreview(p)
	}
	s := strconv.Quote(string(cut))
	if len(cut) < len(p) {
		s += fmt.Sprintf("… (+%d bytes)", len(p)-len(cut))
	}
	return s
}

func printable(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, r := range string(p) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// hexPreview shows p in hex, cut at previewLen bytes.
func hexPreview(p []byte) string {
	if len(p) <= previewLen {
		return "hex:" + hex.EncodeToString(p)
	}
	return fmt.Sprintf("hex:%s… (+%d bytes)", hex.EncodeToString(p[:previewLen]), len(p)-previewLen)
}

// syncWriter serialises writes from several goroutines (the reader, the
// writer, frame observers) so that lines never interleave.
type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
