// Command wsbench compares WebSocket servers side by side, in one run:
// ws6455 (this repository) against gorilla/websocket, coder/websocket,
// gobwas/ws, lxzan/gws and golang.org/x/net/websocket, plus a bare TCP echo
// as the floor for memory per idle connection.
//
// Every server runs as a child process of the harness (wsbench -serve LIB)
// so that its CPU time and resident memory are measured on their own; one
// load client, the same for every server, drives them all from the harness
// process. The report is a set of Markdown tables with absolute numbers and
// ratios to ours. See ../../README.md for how to run it and read it.
//
// Usage:
//
//	go run ./cmd/wsbench [-libs ours,gorilla,...] [-sizes 16,1024,65536]
//	    [-conns 1,100] [-msgs 20000] [-maxbytes 268435456] [-idle 10000]
//	    [-handshakes 2000] [-hspar 4] [-out FILE] [-heapprofile DIR]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

// options are the command-line settings of a run.
type options struct {
	libs       []string
	sizes      []int
	conns      []int
	msgs       int
	maxBytes   int
	idle       int
	handshakes int
	hsPar      int
	pipeline   int // messages in flight in the pipelined cell; 0: none
	pipeSize   int
	compLibs   []string // servers of the compression cell, ours first; none: no cell
	compConns  int
	compIdle   int
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	serve := fs.String("serve", "", "internal: run the echo server of this library in this process")
	libs := fs.String("libs", "ours,ours-handler,ours-raw,gorilla,coder,gobwas,gws,xnet,tcp", "servers to compare, comma-separated (ours is always included, first)")
	sizes := fs.String("sizes", "16,1024,65536", "message sizes in bytes, comma-separated")
	conns := fs.String("conns", "1,100", "numbers of concurrent connections, comma-separated")
	msgs := fs.Int("msgs", 20000, "messages echoed per configuration (all connections together)")
	maxBytes := fs.Int("maxbytes", 256<<20, "cap on the bytes echoed per configuration: big messages get fewer round trips")
	idle := fs.Int("idle", 10000, "idle connections for the memory measurement (0 skips it)")
	handshakes := fs.Int("handshakes", 2000, "opening handshakes for the rate measurement (0 skips it)")
	hsPar := fs.Int("hspar", 4, "handshakes in flight at once")
	pipeline := fs.Int("pipeline", 64, "messages in flight in the pipelined cell (one connection; 0 skips it)")
	pipeSize := fs.Int("pipesize", 16, "message size of the pipelined cell, bytes")
	compLibs := fs.String("complibs", "ours,gorilla,coder,gws", "servers of the compression cell (permessage-deflate, JSON-like 1 KiB messages), comma-separated; empty skips it")
	compConns := fs.Int("compconns", 100, "connections of the compression cell's CPU measurement")
	compIdle := fs.Int("compidle", 1000, "connections of the compression cell's memory measurement (0 skips it)")
	out := fs.String("out", "", "also write the report to this file")
	fs.StringVar(&heapDir, "heapprofile", "", "save each server's heap profile with its idle connections open in this directory (idle-LIB.pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve != "" {
		return runServe(*serve)
	}
	o := options{msgs: *msgs, maxBytes: *maxBytes, idle: *idle, handshakes: *handshakes, hsPar: max(*hsPar, 1), pipeline: *pipeline, pipeSize: *pipeSize}
	o.libs = []string{"ours"}
	for _, l := range strings.Split(*libs, ",") {
		l = strings.TrimSpace(l)
		if l == "" || l == "ours" {
			continue
		}
		if _, ok := findServer(l); !ok {
			return fmt.Errorf("unknown library %q (known: %s)", l, knownLibs())
		}
		o.libs = append(o.libs, l)
	}
	for _, l := range strings.Split(*compLibs, ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if _, ok := compServers[l]; !ok {
			return fmt.Errorf("-complibs: %q has no compression server (known: ours, gorilla, coder, gws)", l)
		}
		if l != "ours" {
			o.compLibs = append(o.compLibs, l)
		}
	}
	if len(o.compLibs) > 0 || strings.Contains(*compLibs, "ours") {
		o.compLibs = append([]string{"ours"}, o.compLibs...)
	}
	o.compConns, o.compIdle = max(*compConns, 1), max(*compIdle, 0)
	var err error
	if o.sizes, err = parseInts(*sizes, 1, 1<<20); err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if o.conns, err = parseInts(*conns, 1, 1000); err != nil {
		return fmt.Errorf("-conns: %w", err)
	}
	if o.msgs < 1 || o.idle < 0 || o.handshakes < 0 || o.pipeline < 0 || o.pipeSize < 1 || o.pipeSize > 1<<20 {
		return fmt.Errorf("-msgs and -pipesize must be positive (-pipesize at most 1 MiB), -idle, -handshakes and -pipeline not negative")
	}
	if heapDir != "" {
		if err := os.MkdirAll(heapDir, 0o755); err != nil {
			return fmt.Errorf("-heapprofile: %w", err)
		}
	}
	if o.idle > 0 {
		if err := raiseFileLimit(o.idle + 1000); err != nil {
			fmt.Fprintf(os.Stderr, "wsbench: %v; measuring %d idle connections may fail\n", err, o.idle)
		}
	}
	var sink io.Writer = stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		sink = io.MultiWriter(stdout, f)
	}
	rep := measure(o, os.Stderr)
	rep.write(sink)
	return nil
}

func knownLibs() string {
	var names []string
	for _, s := range servers {
		names = append(names, s.name)
	}
	return strings.Join(names, ",")
}

func parseInts(s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is outside [%d, %d]", n, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// raiseFileLimit raises the soft limit on open files to at least want
// (bounded by the hard limit): the load client holds every idle connection
// in one process. Child processes inherit it.
func raiseFileLimit(want int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= uint64(want) {
		return nil
	}
	lim.Cur = min(uint64(want), lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < uint64(want) {
		return fmt.Errorf("open files limited to %d (hard limit)", lim.Cur)
	}
	return nil
}

// report holds everything measured in one run.
type report struct {
	opts    options
	machine string
	start   time.Time
	elapsed time.Duration
	echo    map[string][]echoResult // by library, in configuration order
	hs      map[string]handshakeResult
	idle    map[string]idleResult
	comp    map[string]compResult // by server name ("ours+ct")
}

// measure runs every measurement. Echo and handshake measurements
// alternate between the libraries configuration by configuration (all
// echo servers run at once, idle while not driven), so that drift in a
// noisy machine's speed spreads over all of them alike. Memory per idle
// connection is measured in a fresh process per library.
func measure(o options, log io.Writer) *report {
	rep := &report{
		opts: o, machine: machineLine(), start: time.Now(),
		echo: map[string][]echoResult{}, hs: map[string]handshakeResult{}, idle: map[string]idleResult{},
		comp: map[string]compResult{},
	}
	var configs []echoConfig
	for _, size := range o.sizes {
		for _, nc := range o.conns {
			total := min(o.msgs, max(o.maxBytes/size, nc))
			configs = append(configs, echoConfig{size: size, conns: nc, perConn: max(total/nc, 1)})
		}
	}
	if o.pipeline > 0 {
		configs = append(configs, echoConfig{size: o.pipeSize, conns: 1, perConn: min(o.msgs*4, max(o.maxBytes/o.pipeSize, 1)), depth: o.pipeline})
	}
	children := map[string]*child{}
	for _, l := range o.libs {
		ch, err := startChild(l)
		if err != nil {
			fmt.Fprintf(log, "%s: %v\n", l, err)
			for _, cfg := range configs {
				rep.echo[l] = append(rep.echo[l], echoResult{config: cfg, err: err})
			}
			rep.hs[l] = handshakeResult{err: err}
			continue
		}
		children[l] = ch
	}
	for _, cfg := range configs {
		for _, l := range o.libs {
			ch := children[l]
			if ch == nil {
				continue
			}
			s, _ := findServer(l)
			r := runEcho(ch, s.ws, cfg)
			fmt.Fprintf(log, "echo %-12s %s: %s\n", l, cfg.label(), r.summary())
			rep.echo[l] = append(rep.echo[l], r)
		}
	}
	if o.handshakes > 0 {
		for _, l := range o.libs {
			if s, _ := findServer(l); !s.ws {
				continue
			}
			if ch := children[l]; ch != nil {
				r := runHandshakes(ch, o.handshakes, o.hsPar)
				fmt.Fprintf(log, "handshakes %-8s: %s\n", l, r.summary())
				rep.hs[l] = r
			}
		}
	}
	for _, ch := range children {
		ch.stop()
	}
	if o.idle > 0 {
		for _, l := range o.libs {
			s, _ := findServer(l)
			ch, err := startChild(l)
			if err != nil {
				rep.idle[l] = idleResult{n: o.idle, err: err}
				continue
			}
			r := runIdle(ch, s.ws, o.idle) // stops ch
			fmt.Fprintf(log, "idle %-8s: %s\n", l, r.summary())
			rep.idle[l] = r
		}
	}
	perConn := max(o.msgs/o.compConns, 1)
	for _, mode := range compModes {
		for _, l := range o.compLibs {
			if !compSupports(l, mode) {
				continue
			}
			name := l + "+" + mode
			r := runComp(name, mode, o.compConns, perConn, o.compIdle)
			fmt.Fprintf(log, "compression %-12s: %s\n", name, r.summary())
			rep.comp[name] = r
		}
	}
	rep.elapsed = time.Since(rep.start)
	return rep
}

func (r echoResult) summary() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d msgs in %v, server CPU %.2f µs/msg, p50 %v p99 %v, load %.1f→%.1f",
		r.msgs, r.wall.Round(time.Millisecond), r.cpuPerMsg(), percentile(r.rtts, 50), percentile(r.rtts, 99), r.loadBefore, r.loadAfter)
}

func (r echoResult) cpuPerMsg() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.msgs)
}

func (r handshakeResult) summary() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d in %v: %.0f/s, server CPU %.1f µs each", r.n, r.wall.Round(time.Millisecond), r.rate(), r.cpuPer())
}

func (r handshakeResult) rate() float64 { return float64(r.n) / r.wall.Seconds() }
func (r handshakeResult) cpuPer() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.n)
}

func (r idleResult) summary() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d conns: RSS %d -> %d KiB, %.2f KiB per connection (heap %.2f, stacks %.2f), %d goroutines",
		r.n, r.before.rss>>10, r.after.rss>>10, r.perConn()/1024, r.heapPerConn()/1024, r.stackPerConn()/1024, r.after.goroutines)
}

// machineLine names the machine: CPU model, cores, Go version, kernel.
func machineLine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d logical CPUs (GOMAXPROCS %d), %s %s/%s%s",
		model, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel)
}
