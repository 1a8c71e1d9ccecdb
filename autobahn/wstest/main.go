// Command wstest runs the built-in Autobahn-style conformance suite.
//
// Test a server (the suite connects to it, one connection per case):
//
//	go run ./autobahn/wstest -mode fuzzingclient -url ws://127.0.0.1:9001 -agent myserver
//
// Test a client (the suite listens; the client asks /getCaseCount, runs
// /runCase?case=N&agent=A for each case, then calls /updateReports):
//
//	go run ./autobahn/wstest -mode fuzzingserver -addr 127.0.0.1:9002
//
// Select cases with -cases and -exclude (comma-separated ids, '*' matches
// any run: "1.*,5.*"). Reports (index.json in the real suite's layout, one
// JSON per case, index.html) go to -out. The exit status is 0 when the run
// completed, whatever the verdicts: judging them is the checker's job
// (go run ./autobahn/check). -cpuprofile FILE records where the suite
// itself spends its time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/ws6455/ws6455/autobahn/suite"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wstest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wstest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "fuzzingclient", "fuzzingclient (test a server) or fuzzingserver (test a client)")
	url := fs.String("url", "ws://127.0.0.1:9001", "fuzzingclient: the server to test")
	addr := fs.String("addr", "127.0.0.1:9002", "fuzzingserver: where to listen")
	agent := fs.String("agent", "", "fuzzingclient: name of the server under test in the reports (default: server)")
	cases := fs.String("cases", "*", "case ids to run, comma-separated, '*' matches any run")
	exclude := fs.String("exclude", "", "case ids to leave out, same syntax")
	parallel := fs.Int("parallel", runtime.NumCPU(), "fuzzingclient: cases run at once (1: one by one)")
	out := fs.String("out", "", "report directory (default autobahn/reports/builtin-server or builtin-client)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the suite to this file (for go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
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
	selected, err := suite.Select(*cases, *exclude)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	opts := &suite.Options{Parallel: *parallel, Progress: progress(stderr)}
	switch *mode {
	case "fuzzingclient":
		if *out == "" {
			*out = "autobahn/reports/builtin-server"
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
	case "fuzzingserver":
		if *out == "" {
			*out = "autobahn/reports/builtin-client"
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		srv := suite.NewServer(selected, *out, opts)
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		fmt.Fprintf(stderr, "fuzzing server on ws://%s with %d cases; reports in %s\n", ln.Addr(), len(selected), *out)
		go func() {
			<-ctx.Done()
			hs.Close()
		}()
		err = hs.Serve(ln)
		srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unknown -mode %q: use fuzzingclient or fuzzingserver", *mode)
}

// progress reports how far a run is: on a terminal one line that
// rewrites itself after every case, elsewhere (CI logs) a line at every
// tenth of the run.
func progress(w io.Writer) func(done, total int, res *suite.Result) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	step := 0
	return func(done, total int, res *suite.Result) {
		if tty {
			fmt.Fprintf(w, "\r%d/%d cases, last %-8s %s/%s      ", done, total, res.ID, res.Behavior, res.BehaviorClose)
			return
		}
		if s := done * 10 / max(total, 1); s > step || done == total {
			step = s
			fmt.Fprintf(w, "%d/%d cases done (last %s: %s/%s)\n", done, total, res.ID, res.Behavior, res.BehaviorClose)
		}
	}
}
