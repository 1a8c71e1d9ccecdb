// Command wstest runs the built-in Autobahn-style conformance suite. It
// accepts the real suite's command line and spec files:
//
//	wstest -m fuzzingclient -s fuzzingclient.json   # test servers
//	wstest -m fuzzingserver -s fuzzingserver.json   # test clients
//
// A fuzzingclient spec lists "servers" (each with "agent", "url" and
// optional "options", "origin", "protocols"); a fuzzingserver spec has the
// "url" to listen on (wss:// with "cert" and "key", PEM files). Both take
// "outdir", "cases", "exclude-cases", "exclude-agent-cases" and "options"
// (failByDrop and the timeouts among them); keys or options this tool
// cannot honour are rejected with a message, never ignored.
//
// Without -s, a ./fuzzingclient.json or ./fuzzingserver.json (after the
// mode) is read when it exists and no flag below is given, as the real
// wstest does. Otherwise flags say the same. Test a server (the suite connects
// to it, one connection per case):
//
//	go run ./autobahn/wstest -mode fuzzingclient -url ws://127.0.0.1:9001 -agent myserver
//
// Test a client (the suite listens; the client asks /getCaseCount, runs
// /runCase?case=N&agent=A for each case, then calls /updateReports):
//
//	go run ./autobahn/wstest -mode fuzzingserver -addr 127.0.0.1:9002
//
// (-cert FILE -key FILE for wss://).
// Select cases with -cases and -exclude (comma-separated ids, '*' matches
// any run: "1.*,5.*"). Reports (index.json in the real suite's layout, one
// JSON per case, index.html) go to -out. The exit status is 0 when the run
// completed, whatever the verdicts: judging them is the checker's job
// (go run ./autobahn/check). -cpuprofile FILE records where the suite
// itself spends its time.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/ws6455/ws6455/autobahn/suite"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "wstest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wstest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  wstest -m fuzzingclient -s fuzzingclient.json   test the servers the spec lists
  wstest -m fuzzingserver -s fuzzingserver.json   listen for clients to test
  wstest -m fuzzingclient -url ws://HOST:PORT [-agent NAME] [-cases ...]   without a spec
  wstest -m fuzzingserver -addr HOST:PORT [-cases ...]                    without a spec

Flags:
`)
		fs.PrintDefaults()
	}
	mode := fs.String("mode", "fuzzingclient", "fuzzingclient (test a server) or fuzzingserver (test a client)")
	fs.StringVar(mode, "m", "fuzzingclient", "short for -mode")
	specPath := fs.String("spec", "", "a spec file of the real suite (fuzzingclient.json, fuzzingserver.json); replaces -url, -addr, -agent, -cases, -exclude, -out, -cert and -key")
	fs.StringVar(specPath, "s", "", "short for -spec")
	url := fs.String("url", "ws://127.0.0.1:9001", "fuzzingclient: the server to test")
	addr := fs.String("addr", "127.0.0.1:9002", "fuzzingserver: where to listen")
	agent := fs.String("agent", "", "fuzzingclient: name of the server under test in the reports (default: server)")
	cases := fs.String("cases", "*", "case ids to run, comma-separated, '*' matches any run")
	exclude := fs.String("exclude", "", "case ids to leave out, same syntax")
	parallel := fs.Int("parallel", runtime.NumCPU(), "fuzzingclient: cases run at once (1: one by one)")
	out := fs.String("out", "", "report directory (default ./reports/servers or ./reports/clients, as the real suite's)")
	h2 := fs.Bool("h2", false, "fuzzingclient: run each case as a stream of one HTTP/2 connection (RFC 8441 extended CONNECT; h2c for ws://, ALPN h2 for wss://). A fuzzing server always accepts HTTP/2 (h2c) as well, which needs GODEBUG=http2xconnect=1 (Go 1.26/1.27)")
	certFile := fs.String("cert", "", "fuzzingserver: PEM certificate (chain) file; with -key, the server speaks wss://")
	keyFile := fs.String("key", "", "fuzzingserver: PEM private key file for -cert")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the suite to this file (for go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *mode != "fuzzingclient" && *mode != "fuzzingserver" {
		return fmt.Errorf("unknown -mode %q: use fuzzingclient or fuzzingserver", *mode)
	}
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "url", "addr", "agent", "cases", "exclude", "out", "cert", "key":
			clash = append(clash, "-"+f.Name)
		}
	})
	if *specPath == "" && len(clash) == 0 {
		// Like the real wstest, read ./fuzzingclient.json or
		// ./fuzzingserver.json when no spec is named and it exists.
		if _, err := os.Stat(*mode + ".json"); err == nil {
			*specPath = *mode + ".json"
			fmt.Fprintf(stderr, "wstest: using spec %s\n", *specPath)
		}
	}
	var sp *spec
	if *specPath != "" {
		if len(clash) > 0 {
			return fmt.Errorf("%s: the spec file says this (remove the flag or edit the spec)", strings.Join(clash, ", "))
		}
		var err error
		if sp, err = readSpec(*specPath, *mode); err != nil {
			return err
		}
		for _, w := range sp.Warnings {
			fmt.Fprintln(stderr, "wstest: warning:", w)
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if sp != nil {
		if *mode == "fuzzingclient" {
			return runSpecClient(ctx, sp, *parallel, stderr)
		}
		return runSpecServer(ctx, sp, stderr)
	}
	selected, err := suite.Select(*cases, *exclude)
	if err != nil {
		return err
	}
	opts := &suite.Options{Parallel: *parallel, HTTP2: *h2, Progress: progress(stderr, "")}
	switch *mode {
	case "fuzzingclient":
		if *out == "" {
			*out = "./reports/servers"
		}
		if *agent == "" {
			*agent = "server"
		}
		opts.Agent = *agent
		start := time.Now()
		results, err := suite.FuzzingClient(ctx, *url, selected, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "\nran %d cases in %v\n", len(results), time.Since(start).Round(time.Millisecond))
		if err := suite.WriteReports(*out, *agent, results); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "reports in %s\n", *out)
		return nil
	default:
		if *out == "" {
			*out = "./reports/clients"
		}
		var tlsConfig *tls.Config
		if *certFile != "" || *keyFile != "" {
			if *certFile == "" || *keyFile == "" {
				return errors.New("-cert and -key go together")
			}
			if tlsConfig, err = loadTLS(*certFile, *keyFile); err != nil {
				return err
			}
		}
		return serve(ctx, *addr, tlsConfig, 0, suite.NewServer(selected, *out, opts), len(selected), *out, stderr)
	}
}

// runSpecClient tests every server of a fuzzingclient spec in turn and
// writes one report directory with all of them, as the real suite does.
func runSpecClient(ctx context.Context, sp *spec, parallel int, stderr io.Writer) error {
	// The real suite rewrites index.json with this run's agents only.
	if err := os.Remove(filepath.Join(sp.OutDir, "index.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, sv := range sp.Servers {
		cases := sp.casesFor(sv.Agent)
		if skipped := len(sp.Cases) - len(cases); skipped > 0 {
			fmt.Fprintf(stderr, "agent %s: %d cases left out by exclude-agent-cases\n", sv.Agent, skipped)
		}
		fmt.Fprintf(stderr, "testing agent %s at %s: %d cases\n", sv.Agent, sv.URL, len(cases))
		opts := &suite.Options{
			Agent: sv.Agent, Parallel: parallel, Timeouts: sv.Timeouts,
			Origin: sv.Origin, Protocols: sv.Protocols,
			Progress: progress(stderr, sv.Agent+": "),
		}
		start := time.Now()
		results, err := suite.FuzzingClient(ctx, sv.URL, cases, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "agent %s: ran %d cases in %v\n", sv.Agent, len(results), time.Since(start).Round(time.Millisecond))
		if err := suite.WriteReports(sp.OutDir, sv.Agent, results); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "reports in %s\n", sp.OutDir)
	return nil
}

// runSpecServer is the fuzzing server of a fuzzingserver spec.
func runSpecServer(ctx context.Context, sp *spec, stderr io.Writer) error {
	// The real suite's index.json holds the agents tested since the
	// server started, not those of an earlier run.
	if err := os.Remove(filepath.Join(sp.OutDir, "index.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	opts := &suite.Options{
		Timeouts: sp.Timeouts, Protocols: sp.Protocols,
		Skip: sp.excludes, Progress: progress(stderr, ""),
	}
	return serve(ctx, sp.Listen, sp.TLS, sp.WebPort, suite.NewServer(sp.Cases, sp.OutDir, opts), len(sp.Cases), sp.OutDir, stderr)
}

// serve runs a fuzzing server on addr until ctx ends, over TLS (wss://)
// when tlsConfig is set; with webPort > 0 it also serves the report
// directory over HTTP on that port.
func serve(ctx context.Context, addr string, tlsConfig *tls.Config, webPort int, srv *suite.Server, n int, outDir string, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	scheme := "ws"
	if tlsConfig != nil {
		// HTTP/1.1 only over TLS: the WebSocket handshake of RFC 6455.
		cfg := tlsConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
		scheme = "wss"
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	// Clients may also speak HTTP/2 with prior knowledge (h2c) and open
	// their WebSockets as extended CONNECTs (RFC 8441).
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	servers := []*http.Server{hs}
	errs := make(chan error, 2)
	if webPort > 0 {
		host, _, _ := net.SplitHostPort(addr)
		wln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(webPort)))
		if err != nil {
			ln.Close()
			return fmt.Errorf("webport: %w", err)
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			ln.Close()
			wln.Close()
			return err
		}
		web := &http.Server{Handler: http.FileServer(http.Dir(outDir)), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, web)
		fmt.Fprintf(stderr, "reports served on http://%s/\n", wln.Addr())
		go func() { errs <- web.Serve(wln) }()
	}
	fmt.Fprintf(stderr, "fuzzing server on %s://%s with %d cases; reports in %s\n", scheme, ln.Addr(), n, outDir)
	go func() { errs <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	for _, s := range servers {
		s.Close()
	}
	srv.Close()
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// progress reports how far a run is: on a terminal one line that
// rewrites itself after every case, elsewhere (CI logs) a line at every
// tenth of the run.
func progress(w io.Writer, prefix string) func(done, total int, res *suite.Result) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	step := 0
	return func(done, total int, res *suite.Result) {
		if tty {
			fmt.Fprintf(w, "\r%s%d/%d cases, last %-8s %s/%s      ", prefix, done, total, res.ID, res.Behavior, res.BehaviorClose)
			return
		}
		if s := done * 10 / max(total, 1); s > step || done == total {
			step = s
			fmt.Fprintf(w, "%s%d/%d cases done (last %s: %s/%s)\n", prefix, done, total, res.ID, res.Behavior, res.BehaviorClose)
		}
	}
}
