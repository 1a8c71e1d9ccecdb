// Command crosscheck checks the built-in Autobahn suite (autobahn/suite)
// against the real Autobahn testsuite: it runs our suite against the same
// libraries, versions and settings as the real suite's reference runs
// (gorilla/websocket, coder/websocket and Node's ws 8.23, each as server
// and as client, and this project's own testee server and client), then
// compares the verdicts (behavior and behaviorClose) case by case with the
// reference index.json files. Node's ws needs node and
// `npm ci --prefix ../interop/node`.
//
//	cd bench && go run ./crosscheck -ref ../../shared/autobahn/reference
//
// It prints an agreement table per reference folder and group and lists
// every disagreement. A disagreement is "explained" when
// crosscheck/DISAGREEMENTS.md names it in a "Cases:" line next to its root
// cause. The exit status is 0 when every case agrees or is explained, 1
// when some disagreement is unexplained, 2 on usage or run errors.
//
// Select reference runs with -peers (folder names) and cases with -cases
// and -exclude (comma-separated ids, '*' matches any run: "1.*,5.*").
// -parallel cases run at once in both modes (the suite's fuzzing server
// handles clients concurrently). -out DIR keeps our reports, one
// directory per reference folder, in the real suite's layout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/autobahn/suite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	ref      string
	peers    []*peer
	cases    []*suite.Case
	parallel int
	scale    float64
	out      string
	explain  string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("crosscheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ref := fs.String("ref", "../../shared/autobahn/reference", "directory of the real suite's reference runs (one folder per peer)")
	names := fs.String("peers", "", "reference folders to check, comma-separated (default: all)")
	cases := fs.String("cases", "*", "case ids to run, comma-separated, '*' matches any run")
	exclude := fs.String("exclude", "", "case ids to leave out, same syntax")
	parallel := fs.Int("parallel", 2, "cases run at once against each peer")
	scale := fs.Float64("scale", 1, "multiplies the suite's waits for the peer (1: the real suite's)")
	out := fs.String("out", "", "keep our reports here, one directory per reference folder")
	explain := fs.String("explain", "crosscheck/DISAGREEMENTS.md", "file explaining known disagreements")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *parallel < 1 {
		return nil, errors.New("-parallel must be at least 1")
	}
	if *scale <= 0 {
		return nil, errors.New("-scale must be positive")
	}
	sel, err := suite.Select(*cases, *exclude)
	if err != nil {
		return nil, err
	}
	c := &config{ref: *ref, cases: sel, parallel: *parallel, scale: *scale, out: *out, explain: *explain}
	if *names == "" {
		c.peers = peers
	} else {
		for _, n := range strings.Split(*names, ",") {
			n = strings.TrimSpace(n)
			var found *peer
			for _, p := range peers {
				if p.folder == n {
					found = p
				}
			}
			if found == nil {
				var all []string
				for _, p := range peers {
					all = append(all, p.folder)
				}
				return nil, fmt.Errorf("unknown peer %q: use one of %s", n, strings.Join(all, ", "))
			}
			c.peers = append(c.peers, found)
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "crosscheck:", err)
		return 2
	}
	ex, err := readExplanations(cfg.explain)
	if err != nil {
		fmt.Fprintln(stderr, "crosscheck:", err)
		return 2
	}
	var comps []comparison
	for _, p := range cfg.peers {
		idx, err := report.ReadIndex(filepath.Join(p.refPath(cfg.ref), "index.json"))
		if err != nil {
			fmt.Fprintln(stderr, "crosscheck:", err)
			return 2
		}
		ref, ok := idx[p.agent]
		if !ok {
			fmt.Fprintf(stderr, "crosscheck: %s has no agent %q\n", p.folder, p.agent)
			return 2
		}
		start := time.Now()
		results, err := runPeer(ctx, p, cfg, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "crosscheck: %s: %v\n", p.folder, err)
			return 2
		}
		fmt.Fprintf(stderr, "%s: %d cases in %v\n", p.folder, len(results), time.Since(start).Round(time.Second))
		if cfg.out != "" {
			if err := suite.WriteReports(filepath.Join(cfg.out, p.folder), p.agent, results); err != nil {
				fmt.Fprintln(stderr, "crosscheck:", err)
				return 2
			}
		}
		ours := map[string]verdicts{}
		why := map[string]string{}
		for _, r := range results {
			ours[r.ID] = verdicts{r.Behavior, r.BehaviorClose}
			why[r.ID] = r.Result + " / " + r.ResultClose
		}
		comps = append(comps, compare(p.folder, ref, ours, why, ex))
	}
	writeTable(stdout, comps)
	for _, c := range comps {
		for _, d := range c.Diffs {
			if !d.Explained {
				return 1
			}
		}
	}
	return 0
}

// runPeer runs the selected cases against one peer and returns our
// suite's results, in case order.
func runPeer(ctx context.Context, p *peer, cfg *config, stderr io.Writer) ([]*suite.Result, error) {
	opts := &suite.Options{
		Agent:    p.agent,
		Parallel: cfg.parallel,
		Timeouts: suite.Timeouts{Scale: cfg.scale},
		Progress: progress(stderr, p.folder),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if p.start != nil {
		ln.Close()
		return runProcessServers(ctx, p, cfg, opts)
	}
	if p.isServer() {
		mux := http.NewServeMux()
		mux.HandleFunc(p.path, p.handler)
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		return suite.FuzzingClient(ctx, "ws://"+ln.Addr().String()+p.path, cfg.cases, opts)
	}
	return runClientPeer(ctx, p, cfg, opts, ln)
}

// runProcessServers starts cfg.parallel servers of a peer that runs in
// another process, runs every cfg.parallel-th case against each, one at a
// time, and returns the results in case order.
func runProcessServers(ctx context.Context, p *peer, cfg *config, opts *suite.Options) ([]*suite.Result, error) {
	type part struct {
		res []*suite.Result
		err error
	}
	parts := make([]part, cfg.parallel)
	var wg sync.WaitGroup
	for k := range cfg.parallel {
		u, stop, err := p.start(ctx)
		if err != nil {
			wg.Wait()
			return nil, err
		}
		var mine []*suite.Case
		for i := k; i < len(cfg.cases); i += cfg.parallel {
			mine = append(mine, cfg.cases[i])
		}
		o := *opts
		o.Parallel = 1
		o.Progress = nil // called from several runs at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stop()
			parts[k].res, parts[k].err = suite.FuzzingClient(ctx, u, mine, &o)
		}()
	}
	wg.Wait()
	var out []*suite.Result
	for _, pt := range parts {
		if pt.err != nil {
			return nil, pt.err
		}
		out = append(out, pt.res...)
	}
	slices.SortFunc(out, func(a, b *suite.Result) int { return report.CompareCaseIDs(a.ID, b.ID) })
	return out, nil
}

// runClientPeer serves the suite's fuzzing server on ln and lets the
// client peer run every case through the control protocol, up to
// cfg.parallel at once, then asks for the reports (which also waits until
// every result is recorded).
func runClientPeer(ctx context.Context, p *peer, cfg *config, opts *suite.Options, ln net.Listener) ([]*suite.Result, error) {
	dir, err := os.MkdirTemp("", "crosscheck-")
	if err != nil {
		ln.Close()
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv := suite.NewServer(cfg.cases, dir, opts)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer func() {
		hs.Close()
		srv.Close()
	}()
	base := "ws://" + ln.Addr().String()
	agent := url.QueryEscape(p.agent)
	if p.runAll != nil {
		if err := p.runAll(ctx, base, len(cfg.cases), p.agent, cfg.parallel); err != nil {
			return nil, err
		}
		return srv.Results(p.agent), nil
	}

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.parallel, len(cfg.cases)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				// The longest case waits 480 s for its peer; past
				// twice that the client is cut off, so a hung case
				// cannot stall the run.
				cctx, cancel := context.WithTimeout(ctx, 16*time.Minute)
				p.client(cctx, fmt.Sprintf("%s/runCase?case=%d&agent=%s", base, i, agent))
				cancel()
			}
		}()
	}
feed:
	for i := 1; i <= len(cfg.cases); i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := updateReports(ctx, base+"/updateReports?agent="+agent); err != nil {
		return nil, err
	}
	return srv.Results(p.agent), nil
}

// updateReports calls the control endpoint that writes the reports and
// waits until the suite closes it.
func updateReports(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		return fmt.Errorf("updateReports: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
				return nil
			}
			return fmt.Errorf("updateReports: %w", err)
		}
	}
}

// progress prints a line at every tenth of a peer's run.
func progress(w io.Writer, name string) func(done, total int, res *suite.Result) {
	step := 0
	return func(done, total int, res *suite.Result) {
		if s := done * 10 / max(total, 1); s > step || done == total {
			step = s
			fmt.Fprintf(w, "%s: %d/%d cases (last %s: %s/%s)\n", name, done, total, res.ID, res.Behavior, res.BehaviorClose)
		}
	}
}
