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
// As soon as a reference folder is done, it prints that folder's agreement
// table (per group) and lists its disagreements; at the end it prints a
// summary line per folder. A disagreement is "explained" when
// crosscheck/DISAGREEMENTS.md names it in a "Cases:" line next to its root
// cause. The exit status is 0 when every case agrees or is explained, 1
// when some disagreement is unexplained, 2 on usage or run errors.
//
// Select reference runs with -peers (folder names) and cases with -cases
// and -exclude (comma-separated ids, '*' matches any run: "1.*,5.*").
// -parallel cases run at once in both modes (the suite's fuzzing server
// handles clients concurrently). -out DIR keeps our reports, one
// directory per reference folder, in the real suite's layout: each case's
// report is written as the case ends, and index.json holds the cases done
// so far, so the directory of a folder is complete when its table is
// printed (and shows how far an interrupted run got). An interrupted run
// prints the table of the cases done so far in the folder it stopped in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
		c, err := checkPeer(ctx, p, cfg, ex, stdout, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "crosscheck: %s: %v\n", p.folder, err)
			if len(comps) > 0 {
				writeSummary(stdout, comps)
			}
			return 2
		}
		comps = append(comps, c)
	}
	writeSummary(stdout, comps)
	for _, c := range comps {
		for _, d := range c.Diffs {
			if !d.Explained {
				return 1
			}
		}
	}
	return 0
}

// checkPeer runs the selected cases against one peer, keeps our reports
// under -out as each case ends, and prints the folder's agreement table
// and disagreements as soon as the peer is done. When the run stops early
// (an interrupt), it prints the table of the cases done so far, marked as
// partial, and returns the error.
func checkPeer(ctx context.Context, p *peer, cfg *config, ex explanations, stdout, stderr io.Writer) (comparison, error) {
	idx, err := report.ReadIndex(filepath.Join(p.refPath(cfg.ref), "index.json"))
	if err != nil {
		return comparison{}, err
	}
	ref, ok := idx[p.agent]
	if !ok {
		return comparison{}, fmt.Errorf("the reference has no agent %q", p.agent)
	}
	dir := ""
	if cfg.out != "" {
		dir = filepath.Join(cfg.out, p.folder)
		if err := forgetAgent(dir, p.agent); err != nil {
			return comparison{}, err
		}
	}
	col := newCollector(ctx, len(cfg.cases), dir, p.agent, progress(stderr, p.folder))
	start := time.Now()
	results, runErr := runPeer(ctx, p, cfg, col.add)
	done, werr := col.close()
	if runErr != nil {
		if len(done) > 0 {
			fmt.Fprintf(stdout, "%s: stopped after %d of %d cases in %v; the cases done so far:\n",
				p.folder, len(done), len(cfg.cases), time.Since(start).Round(time.Second))
			writeTable(stdout, []comparison{compareResults(p.folder, ref, done, ex)})
			fmt.Fprintln(stdout)
		}
		return comparison{}, runErr
	}
	if werr != nil {
		return comparison{}, werr
	}
	fmt.Fprintf(stderr, "%s: %d cases in %v\n", p.folder, len(results), time.Since(start).Round(time.Second))
	if dir != "" {
		// Each result should have come through the collector, which
		// wrote it; any that did not is written now, so the folder's
		// reports are complete before its table is printed.
		var rest []*suite.Result
		for _, r := range results {
			if !col.wrote(r) {
				rest = append(rest, r)
			}
		}
		if len(rest) > 0 {
			if err := suite.WriteReports(dir, p.agent, rest); err != nil {
				return comparison{}, err
			}
		}
	}
	c := compareResults(p.folder, ref, results, ex)
	writeTable(stdout, []comparison{c})
	fmt.Fprintln(stdout)
	return c, nil
}

// compareResults compares our results with the reference verdicts of one
// folder.
func compareResults(folder string, ref map[string]report.CaseResult, results []*suite.Result, ex explanations) comparison {
	ours := map[string]verdicts{}
	why := map[string]string{}
	for _, r := range results {
		ours[r.ID] = verdicts{r.Behavior, r.BehaviorClose}
		why[r.ID] = r.Result + " / " + r.ResultClose
	}
	return compare(folder, ref, ours, why, ex)
}

// forgetAgent drops agent's verdicts from an index.json left in dir by an
// earlier run, so that the index holds only this run's cases, the ones
// done so far while it runs.
func forgetAgent(dir, agent string) error {
	path := filepath.Join(dir, "index.json")
	idx, err := report.ReadIndex(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, ok := idx[agent]; !ok {
		return nil
	}
	delete(idx, agent)
	return report.WriteIndex(path, idx)
}

// A collector receives each result as its case ends (from any goroutine),
// prints progress, and, with an output directory, writes the case's
// report there at once, on a goroutine of its own so that the run does
// not wait for the disk. Results that arrive after ctx is done are
// dropped: they are cases cut short by the interrupt. A case recorded
// twice keeps its last result, as in the suite's fuzzing server.
type collector struct {
	ctx   context.Context
	total int
	dir   string
	agent string
	show  func(done, total int, res *suite.Result)
	wake  chan struct{} // has a value when pending may be non-empty
	quit  chan struct{} // closed when the writer is done

	mu      sync.Mutex
	closed  bool
	results map[string]*suite.Result
	pending []*suite.Result
	written map[string]*suite.Result
	err     error // the first write error
}

func newCollector(ctx context.Context, total int, dir, agent string, show func(done, total int, res *suite.Result)) *collector {
	c := &collector{ctx: ctx, total: total, dir: dir, agent: agent, show: show,
		wake: make(chan struct{}, 1), quit: make(chan struct{}),
		results: map[string]*suite.Result{}, written: map[string]*suite.Result{}}
	go c.writer()
	return c
}

// add takes one case's result; it has the signature of suite.Options's
// Progress, whose counts it ignores (it counts itself, across the several
// runs that may share it).
func (c *collector) add(_, _ int, res *suite.Result) {
	if res == nil || c.ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.results[res.ID] = res
	if c.show != nil {
		c.show(len(c.results), c.total, res)
	}
	if c.dir != "" {
		c.pending = append(c.pending, res)
	}
	c.mu.Unlock()
	c.signal()
}

func (c *collector) signal() {
	select {
	case c.wake <- struct{}{}:
	default: // the writer has a wake-up waiting already
	}
}

// writer writes the pending reports until the collector is closed and
// nothing is pending.
func (c *collector) writer() {
	defer close(c.quit)
	for range c.wake {
		for {
			c.mu.Lock()
			batch, closed := c.pending, c.closed
			c.pending = nil
			c.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			for _, res := range batch {
				err := suite.WriteReports(c.dir, c.agent, []*suite.Result{res})
				c.mu.Lock()
				if err != nil && c.err == nil {
					c.err = err
				}
				if err == nil {
					c.written[res.ID] = res
				}
				c.mu.Unlock()
			}
		}
	}
}

// close waits until every result taken is written and returns the
// results in case order and the first write error.
func (c *collector) close() ([]*suite.Result, error) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.signal()
	<-c.quit
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*suite.Result, 0, len(c.results))
	for _, r := range c.results {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *suite.Result) int { return report.CompareCaseIDs(a.ID, b.ID) })
	return out, c.err
}

// wrote reports whether res is the result whose report is written for
// its case.
func (c *collector) wrote(res *suite.Result) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written[res.ID] == res
}

// runPeer runs the selected cases against one peer and returns our
// suite's results, in case order. done is called as each case ends, from
// any goroutine (the runs against a peer in another process share it).
func runPeer(ctx context.Context, p *peer, cfg *config, done func(done, total int, res *suite.Result)) ([]*suite.Result, error) {
	opts := &suite.Options{
		Agent:    p.agent,
		Parallel: cfg.parallel,
		Timeouts: suite.Timeouts{Scale: cfg.scale},
		Progress: done,
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
