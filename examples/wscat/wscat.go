package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// Exit statuses (documented in the package comment and the usage text).
const (
	exitOK        = 0 // normal end
	exitUsage     = 1 // bad flags, arguments or files named by flags
	exitConnect   = 2 // could not connect, the handshake failed, or could not listen
	exitSend      = 3 // something could not be sent (write failed, input line too long, input dropped)
	exitTimeout   = 4 // fewer replies than -count before -wait ran out or the peer closed
	exitPeerClose = 5 // the peer closed with a code other than 1000, 1001 or 1005 (printed on stderr)
	exitFailed    = 6 // the connection broke without a close handshake (1006) or failed (1002, 1007, 1009...)
)

// previewLen bounds the payload shown by -trace and for binary messages in
// the decorated view.
const previewLen = 64

// maxLine is the longest input line; a longer line is not sent: the
// program ends with exitSend rather than growing a buffer without bound.
const maxLine = 1 << 20

// maxFile bounds the message read by -file.
const maxFile = 256 << 20

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

// optBool is a boolean flag that remembers whether it was given, for
// defaults that depend on the terminal.
type optBool struct{ set, v bool }

func (b *optBool) String() string   { return strconv.FormatBool(b.v) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.set, b.v = true, v
	return nil
}

// config is what the command line asks for.
type config struct {
	url          string
	listen       string
	header       http.Header
	origin       string
	subprotocols []string
	compress     bool
	binary       bool
	trace        bool
	ping         time.Duration
	insecure     bool
	timeout      time.Duration
	readLimit    int64
	proxy        *url.URL
	caFile       string
	certFile     string
	keyFile      string

	// Output.
	raw    bool   // bodies only, one per line
	binfmt string // raw, hex or base64: binary messages in raw output

	// Scripted use.
	oneShot bool   // -x or -file: one message instead of the input's lines
	message []byte // the message of -x or -file
	count   int    // end after this many messages received (0: no limit)
	wait    time.Duration
	slash   bool // input lines starting with "/" are commands
}

// streams are the command's standard files and whether they are terminals.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinTTY       bool
	stdoutTTY      bool
}

const usageHead = `usage: wscat [flags] ws://host[:port]/path [flags]
       wscat [flags] -listen host:port
Each input line is sent as a message; each message received is printed.
Flags may come before or after the URL.

exit status: 0 ok, 1 usage, 2 connect/handshake/listen failed, 3 send failed,
4 fewer replies than -count, 5 peer closed with an error code (printed),
6 connection broken or failed.

examples:
  wscat ws://127.0.0.1:8081/echo                       type lines, see replies
  wscat ws://127.0.0.1:8081/echo -x hello              one message, one reply, exit
  jq -c '.[]' in.json | wscat wss://host/ingest       a message per line
  wscat -file body.bin -binfmt base64 ws://host/api    a file as one message

flags:`

func parseArgs(args []string, s streams, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("wscat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageHead)
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\n"+commandHelp)
	}
	cfg := &config{header: http.Header{}}
	fs.StringVar(&cfg.listen, "listen", "", "serve on this address instead of connecting (one client at a time, any path, any origin)")
	fs.Var(headerFlags(cfg.header), "H", "extra request header, \"Name: value\" (repeatable; client only)")
	fs.StringVar(&cfg.origin, "origin", "", "Origin header of the request (client only)")
	subprotocols := fs.String("subprotocol", "", "subprotocols to offer (client) or accept (server), comma-separated")
	fs.BoolVar(&cfg.compress, "compress", false, "offer (client) or accept (server) permessage-deflate")
	fs.BoolVar(&cfg.binary, "binary", false, "send messages as binary instead of text (text that is not UTF-8 is always sent as binary)")
	fs.BoolVar(&cfg.trace, "trace", false, "print every frame sent and received on standard error")
	fs.DurationVar(&cfg.ping, "ping", 0, "send a ping at this interval and print the round trip (0: never)")
	fs.BoolVar(&cfg.insecure, "insecure", false, "do not verify the server's TLS certificate (client only)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "bound on connecting, the opening handshake, and each write")
	fs.Int64Var(&cfg.readLimit, "read-limit", 16<<20, "largest message accepted, in bytes")
	proxy := fs.String("proxy", "", "HTTP CONNECT proxy, http://[user:pass@]host:port (default: $HTTPS_PROXY/$HTTP_PROXY)")
	fs.StringVar(&cfg.caFile, "cacert", "", "PEM file of CAs: trust these for the server (client), or require client certificates signed by them (-listen)")
	fs.StringVar(&cfg.certFile, "cert", "", "PEM certificate: the client certificate, or with -listen the server's (serves wss)")
	fs.StringVar(&cfg.keyFile, "key", "", "PEM private key of -cert")
	output := fs.String("output", "auto", "how messages are printed: pretty (\"< text\"), raw (bodies only, one per line), auto (pretty on a terminal, else raw)")
	fs.StringVar(&cfg.binfmt, "binfmt", "raw", "binary messages in raw output: raw (bytes as received, no newline), hex or base64 (one per line)")
	execute := fs.String("x", "", "send this one message instead of reading input lines, then wait for -count replies")
	file := fs.String("file", "", "send the content of this file (\"-\": all of standard input) as one message, then wait for -count replies")
	cfg.count = -1 // not given
	fs.Func("count", "exit after this many messages received (0: no limit; default 1 with -x or -file, else 0)", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errors.New("want a number of messages, 0 or more")
		}
		cfg.count = n
		return nil
	})
	fs.DurationVar(&cfg.wait, "wait", 0, "exit after this long; with -count, exit 4 if fewer replies came (0: no limit)")
	var slash optBool
	fs.Var(&slash, "slash", "read input lines starting with / as commands (default: when standard input is a terminal)")

	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	for _, p := range strings.Split(*subprotocols, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.subprotocols = append(cfg.subprotocols, p)
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	usage := func(format string, a ...any) error {
		fs.Usage()
		return fmt.Errorf(format, a...)
	}
	switch {
	case cfg.listen == "" && len(positional) != 1:
		return nil, usage("want one URL, or -listen")
	case cfg.listen != "" && len(positional) != 0:
		return nil, usage("-listen takes no URL")
	}
	if cfg.listen != "" {
		for _, name := range []string{"H", "origin", "proxy", "insecure"} {
			if given[name] {
				return nil, fmt.Errorf("-%s is for the client only", name)
			}
		}
		if (cfg.caFile != "") && cfg.certFile == "" {
			return nil, errors.New("-cacert with -listen needs -cert and -key (clients are checked over TLS)")
		}
	} else {
		cfg.url = positional[0]
		if err := checkURL(cfg.url); err != nil {
			return nil, err
		}
	}
	if (cfg.certFile == "") != (cfg.keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if *proxy != "" {
		if cfg.proxy, err = parseProxy(*proxy); err != nil {
			return nil, err
		}
	}
	if cfg.origin != "" {
		if strings.ContainsFunc(cfg.origin, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, errors.New("-origin: spaces or control characters in the origin")
		}
		cfg.header.Set("Origin", cfg.origin)
	}

	switch *output {
	case "pretty":
	case "raw":
		cfg.raw = true
	case "auto":
		cfg.raw = !s.stdoutTTY
	default:
		return nil, fmt.Errorf("-output: want pretty, raw or auto, got %q", *output)
	}
	switch cfg.binfmt {
	case "raw", "hex", "base64":
	default:
		return nil, fmt.Errorf("-binfmt: want raw, hex or base64, got %q", cfg.binfmt)
	}

	switch {
	case given["x"] && given["file"]:
		return nil, errors.New("-x and -file both give the message: choose one")
	case given["x"]:
		cfg.oneShot, cfg.message = true, []byte(*execute)
	case given["file"]:
		cfg.oneShot = true
		if cfg.message, err = readFile(*file, s.stdin); err != nil {
			return nil, err
		}
	}
	if cfg.count == -1 {
		cfg.count = 0
		if cfg.oneShot {
			cfg.count = 1
		}
	}
	if cfg.wait < 0 || cfg.timeout <= 0 {
		return nil, errors.New("-wait must not be negative and -timeout must be positive")
	}
	cfg.slash = s.stdinTTY && !cfg.oneShot
	if slash.set {
		cfg.slash = slash.v
	}
	return cfg, nil
}

// parseInterleaved parses flags before and after the positional
// arguments: the flag package stops at the first non-flag, so parse, take
// that argument, and parse the rest again. After "--" everything is
// positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// checkURL catches the usual mistakes before dialling: no scheme (with a
// hint), a scheme the client does not speak.
func checkURL(raw string) error {
	if !hasScheme(raw) {
		if raw == "" || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) {
			return fmt.Errorf("URL %q has no scheme (want ws://, wss://, http:// or https://)", raw)
		}
		return fmt.Errorf("URL %q has no scheme: did you mean ws://%s ?", raw, strings.TrimPrefix(raw, "//"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL: %v", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return fmt.Errorf("URL scheme %q: want ws, wss, http or https", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", raw)
	}
	return nil
}

// hasScheme reports whether raw starts with "scheme://" (RFC 3986 §3.1).
func hasScheme(raw string) bool {
	for i, c := range []byte(raw) {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.HasPrefix(raw[i:], "://")
		default:
			return false
		}
	}
	return false
}

// parseProxy reads -proxy; a bare host:port means an http:// proxy.
func parseProxy(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-proxy: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-proxy: scheme %q: want http or https (a CONNECT proxy)", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("-proxy: %q has no host", u.Redacted())
	}
	return u, nil
}

// readFile reads the message of -file ("-": standard input), bounded.
func readFile(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("-file: %v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("-file: %v", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("-file: larger than %d MiB", maxFile>>20)
	}
	return data, nil
}

// run is the whole command, with its inputs and outputs as parameters so
// that tests can drive it. It returns the exit status. Cancelling ctx (a
// signal) closes the connection with 1001 (going away).
//
// Reading stdin cannot be interrupted: when the connection ends first, the
// goroutine reading it stays blocked until stdin delivers a line or ends.
// In the command that does not matter (the process exits); tests close
// their stdin.
func run(ctx context.Context, args []string, s streams) int {
	var mu sync.Mutex // serialises the output of all goroutines
	out := &syncWriter{mu: &mu, w: s.stdout}
	errw := &syncWriter{mu: &mu, w: s.stderr}
	cfg, err := parseArgs(args, s, errw)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(errw, "wscat:", err)
		return exitUsage
	}
	var in <-chan input
	if cfg.oneShot {
		ch := make(chan input, 1)
		ch <- input{data: cfg.message, whole: true}
		close(ch)
		in = ch
	} else {
		in = readLines(s.stdin)
	}
	var observer conn.FrameObserver
	if cfg.trace {
		observer = func(dir conn.Direction, h wsframe.Header, p []byte) {
			fmt.Fprintln(errw, formatFrame(dir, h, p))
		}
	}
	p := &printer{w: out, raw: cfg.raw, binfmt: cfg.binfmt}
	if cfg.listen != "" {
		return serve(ctx, cfg, in, observer, p, errw)
	}
	return dial(ctx, cfg, in, observer, p, errw)
}

// input is one message to send: a line, or the whole of -x or -file; or
// the error that ended the input.
type input struct {
	data  []byte
	whole bool // -x or -file: never a command
	err   error
}

// readLines sends the lines of r, without their line endings, until r
// ends; then it closes the channel. A line too long to read, or a read
// error, is sent as the last input.
func readLines(r io.Reader) <-chan input {
	lines := make(chan input)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), maxLine)
		n := 0
		for sc.Scan() {
			n++
			line := append([]byte(nil), sc.Bytes()...)
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			lines <- input{data: line}
		}
		if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
			lines <- input{err: fmt.Errorf("input line %d is longer than %d bytes: not sent", n+1, maxLine)}
		} else if err != nil {
			lines <- input{err: fmt.Errorf("reading input after line %d: %v", n, err)}
		}
	}()
	return lines
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
