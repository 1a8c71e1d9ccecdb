// Command h2bench compares WebSockets over HTTP/2 (RFC 8441) with
// WebSockets over HTTP/1.1, both served by this repository's conn.Accept
// behind net/http, as ratios HTTP/2 ÷ HTTP/1.1:
//
//   - server CPU per echoed message (16 B, 1 KiB, 64 KiB; 1 and 100
//     WebSockets): over HTTP/1.1 each WebSocket is a TCP connection, over
//     HTTP/2 all of them are streams of one h2c connection (package h2);
//   - server memory per idle WebSocket (RSS, and heap + stacks after GC):
//     N idle WebSockets, as N TCP connections or as N streams of one
//     HTTP/2 connection.
//
// The server runs as a child process (h2bench -serve) started with
// GODEBUG=http2xconnect=1, so that its CPU time (getrusage) and memory are
// its own; the load client is this process. The child serves HTTP/1.1 and
// h2c on one port, with one handler, and answers "stats"/"gcstats" on
// stdin.
//
//	go run ./cmd/h2bench [-sizes 16,1024,65536] [-conns 1,100] [-msgs 20000]
//	    [-maxbytes 268435456] [-idle 5000] [-rounds 3]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "h2bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("h2bench", flag.ContinueOnError)
	serve := fs.Bool("serve", false, "internal: run the echo server in this process")
	sizes := fs.String("sizes", "16,1024,65536", "message sizes in bytes, comma-separated")
	conns := fs.String("conns", "1,100", "numbers of concurrent WebSockets, comma-separated")
	msgs := fs.Int("msgs", 20000, "messages echoed per cell (all WebSockets together)")
	maxBytes := fs.Int("maxbytes", 256<<20, "cap on the bytes echoed per cell: big messages get fewer round trips")
	idle := fs.Int("idle", 5000, "idle WebSockets for the memory measurement (0 skips it)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server process (the CPU cells only) to this file")
	heapDir := fs.String("heapprofile", "", "write a heap profile of the server with its idle WebSockets to DIR/idle-h1.pprof and DIR/idle-h2.pprof")
	rounds := fs.Int("rounds", 3, "CPU cells are measured this many times, HTTP/1.1 and HTTP/2 alternating; the median counts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve {
		return runServe(*cpuProfile)
	}
	sz, err := ints(*sizes)
	if err != nil {
		return err
	}
	cs, err := ints(*conns)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "go %s, %s/%s, %d CPUs; load before: %s\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadavg())

	if *idle > 0 {
		fmt.Fprintf(out, "Memory per idle WebSocket (%d idle; server process; after GC for heap+stack):\n\n", *idle)
		fmt.Fprintln(out, "| transport | RSS/WS | heap+stack/WS | goroutines/WS | TCP connections |")
		fmt.Fprintln(out, "|---|---|---|---|---|")
		var res [2]idleResult
		for i, proto := range []string{"h1", "h2"} {
			r, err := measureIdle(proto, *idle, *heapDir)
			if err != nil {
				return fmt.Errorf("idle %s: %w", proto, err)
			}
			res[i] = r
			fmt.Fprintf(out, "| %s | %.1f KiB | %.1f KiB | %.2f | %d |\n", label(proto), r.rss/1024, r.heap/1024, r.goroutines, r.tcp)
		}
		fmt.Fprintf(out, "| **HTTP/2 ÷ HTTP/1.1** | **%.2f×** | **%.2f×** | | |\n\n", res[1].rss/res[0].rss, res[1].heap/res[0].heap)
	}

	c, err := startChild(*cpuProfile)
	if err != nil {
		return err
	}
	defer c.stop()
	fmt.Fprintln(out, "Server CPU per echoed message (user+system, median of rounds):")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| size | WebSockets | HTTP/1.1 | HTTP/2 | **HTTP/2 ÷ HTTP/1.1** |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, n := range cs {
		for _, size := range sz {
			count := min(*msgs, max(*maxBytes/max(size, 1), 100*n))
			per := map[string][]float64{}
			for range *rounds {
				for _, proto := range []string{"h1", "h2"} {
					ns, err := measureCPU(c, proto, n, size, count)
					if err != nil {
						return fmt.Errorf("cpu %s %d×%d B: %w", proto, n, size, err)
					}
					per[proto] = append(per[proto], ns)
				}
			}
			h1, h2 := median(per["h1"]), median(per["h2"])
			fmt.Fprintf(out, "| %s | %d | %s | %s | **%.2f×** |\n", sizeName(size), n, nsName(h1), nsName(h2), h2/h1)
		}
	}
	fmt.Fprintf(out, "\nload after: %s\n", loadavg())
	return nil
}

func label(proto string) string {
	if proto == "h2" {
		return "HTTP/2 (streams of one h2c connection)"
	}
	return "HTTP/1.1 (one TCP connection each)"
}

// dialer opens WebSockets over one protocol to the child at addr.
type dialer struct {
	proto string
	h2    *h2.Dialer
}

func newDialer(proto string) *dialer {
	d := &dialer{proto: proto}
	if proto == "h2" {
		d.h2 = &h2.Dialer{}
	}
	return d
}

func (d *dialer) dial(ctx context.Context, addr string) (*conn.Conn, error) {
	u := "ws://" + addr + "/"
	opts := &conn.DialOptions{ReadLimit: 1 << 20}
	var c *conn.Conn
	var err error
	if d.h2 != nil {
		c, _, err = d.h2.Dial(ctx, u, opts)
	} else {
		c, _, err = conn.Dial(ctx, u, opts)
	}
	return c, err
}

func (d *dialer) close() {
	if d.h2 != nil {
		d.h2.CloseIdleConnections()
	}
}

// measureCPU echoes count messages of size bytes over n WebSockets and
// returns the server's CPU time per message, in ns.
func measureCPU(c *child, proto string, n, size, count int) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := newDialer(proto)
	defer d.close()
	ws := make([]*conn.Conn, n)
	for i := range ws {
		w, err := d.dial(ctx, c.addr)
		if err != nil {
			return 0, err
		}
		ws[i] = w
		defer w.CloseNow()
	}
	if err := c.waitActive(ctx, n); err != nil {
		return 0, err
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	// Warm up: one round trip each.
	for _, w := range ws {
		if err := echo(ctx, w, msg); err != nil {
			return 0, err
		}
	}
	before, err := c.stats(false)
	if err != nil {
		return 0, err
	}
	var left atomic.Int64
	left.Store(int64(count))
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := echo(ctx, w, msg); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	after, err := c.stats(false)
	if err != nil {
		return 0, err
	}
	for _, w := range ws {
		w.CloseNow()
	}
	if err := c.waitActive(ctx, 0); err != nil {
		return 0, err
	}
	return float64(after.cpu-before.cpu) / float64(done.Load()), nil
}

func echo(ctx context.Context, w *conn.Conn, msg []byte) error {
	if err := w.Write(ctx, conn.MessageBinary, msg); err != nil {
		return err
	}
	_, got, err := w.Read(ctx)
	if err != nil {
		return err
	}
	if len(got) != len(msg) {
		return fmt.Errorf("echo of %d bytes came back with %d", len(msg), len(got))
	}
	return nil
}

type idleResult struct {
	rss, heap, goroutines float64
	tcp                   int
}

// measureIdle opens n idle WebSockets to a fresh child and returns what
// each one costs the server.
func measureIdle(proto string, n int, heapDir string) (idleResult, error) {
	c, err := startChild("")
	if err != nil {
		return idleResult{}, err
	}
	defer c.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// One WebSocket first, so that what every server pays once (HTTP/2
	// connection, pools) is in the baseline.
	d := newDialer(proto)
	defer d.close()
	first, err := d.dial(ctx, c.addr)
	if err != nil {
		return idleResult{}, err
	}
	defer first.CloseNow()
	if err := c.waitActive(ctx, 1); err != nil {
		return idleResult{}, err
	}
	before, err := c.stats(true)
	if err != nil {
		return idleResult{}, err
	}
	ws := make([]*conn.Conn, 0, n)
	defer func() {
		for _, w := range ws {
			w.CloseNow()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var dialErr error
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := d.dial(ctx, c.addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				dialErr = err
				return
			}
			ws = append(ws, w)
		}()
	}
	wg.Wait()
	if dialErr != nil {
		return idleResult{}, dialErr
	}
	if err := c.waitActive(ctx, n+1); err != nil {
		return idleResult{}, err
	}
	after, err := c.stats(true)
	if err != nil {
		return idleResult{}, err
	}
	if heapDir != "" {
		if err := c.heapProfile(filepath.Join(heapDir, "idle-"+proto+".pprof")); err != nil {
			return idleResult{}, err
		}
	}
	return idleResult{
		rss:        float64(after.rss-before.rss) / float64(n),
		heap:       float64(after.heap-before.heap) / float64(n),
		goroutines: float64(after.goroutines-before.goroutines) / float64(n),
		tcp:        after.tcp,
	}, nil
}

// child is the server process.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
	mu   sync.Mutex
}

func startChild(cpuProfile string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve")
	if cpuProfile != "" {
		abs, err := filepath.Abs(cpuProfile)
		if err != nil {
			return nil, err
		}
		cmd.Args = append(cmd.Args, "-cpuprofile", abs)
	}
	gd := "http2xconnect=1"
	if v := os.Getenv("GODEBUG"); v != "" {
		gd = v + "," + gd
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+gd)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(stdout)}
	line, err := c.line()
	if err != nil {
		c.stop()
		return nil, err
	}
	addr, ok := strings.CutPrefix(line, "ADDR ")
	if !ok {
		c.stop()
		return nil, fmt.Errorf("child said %q", line)
	}
	c.addr = addr
	return c, nil
}

func (c *child) line() (string, error) {
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return "", err
		}
		return "", errors.New("the server process ended")
	}
	return c.out.Text(), nil
}

func (c *child) stop() {
	c.in.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// usage is what the child reports.
type usage struct {
	cpu                time.Duration
	rss, heap          int64
	goroutines, active int
	tcp                int
}

func (c *child) stats(gc bool) (usage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd := "stats\n"
	if gc {
		cmd = "gcstats\n"
	}
	if _, err := io.WriteString(c.in, cmd); err != nil {
		return usage{}, err
	}
	line, err := c.line()
	if err != nil {
		return usage{}, err
	}
	var u usage
	var cpu int64
	if _, err := fmt.Sscanf(line, "STATS %d %d %d %d %d %d", &cpu, &u.rss, &u.heap, &u.goroutines, &u.active, &u.tcp); err != nil {
		return usage{}, fmt.Errorf("child said %q: %w", line, err)
	}
	u.cpu = time.Duration(cpu)
	return u, nil
}

// heapProfile makes the child write a heap profile to path.
func (c *child) heapProfile(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(c.in, "heapprofile "+abs+"\n"); err != nil {
		return err
	}
	line, err := c.line()
	if err != nil {
		return err
	}
	if line != "OK" {
		return fmt.Errorf("heap profile: %s", line)
	}
	return nil
}

// waitActive waits until the server has exactly n WebSockets open.
func (c *child) waitActive(ctx context.Context, n int) error {
	for {
		u, err := c.stats(false)
		if err != nil {
			return err
		}
		if u.active == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server has %d WebSockets open, want %d", u.active, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runServe is the child: an echo server for HTTP/1.1 and h2c on one port.
func runServe(cpuProfile string) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		// Written when the harness closes stdin (below).
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var active, tcp atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{ReadLimit: 1 << 20})
		if err != nil {
			return
		}
		defer c.CloseNow()
		active.Add(1)
		defer active.Add(-1)
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
			buf = msg
		}
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	// Many WebSockets on one HTTP/2 connection: allow them all, and give
	// the connection enough flow-control credit that no stream waits on
	// another (see "HTTP/2" in the conn package documentation).
	srv.HTTP2 = &http.HTTP2Config{
		MaxConcurrentStreams:          100000,
		MaxReceiveBufferPerConnection: 64 << 20,
		MaxReceiveBufferPerStream:     256 << 10,
	}
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			tcp.Add(1)
		case http.StateClosed: // a hijacked connection (HTTP/1.1 WebSocket) stays counted
			tcp.Add(-1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		err := srv.Serve(ln)
		fmt.Fprintln(os.Stderr, "h2bench -serve:", err)
		os.Exit(1)
	}()
	fmt.Printf("ADDR %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ms runtime.MemStats
		cmd := strings.TrimSpace(in.Text())
		if path, ok := strings.CutPrefix(cmd, "heapprofile "); ok {
			if err := writeHeapProfile(path); err != nil {
				fmt.Println("ERR", err)
			} else {
				fmt.Println("OK")
			}
			continue
		}
		switch cmd {
		case "gcstats":
			runtime.GC()
			debug.FreeOSMemory()
			runtime.ReadMemStats(&ms)
		case "stats":
		default:
			continue
		}
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return err
		}
		fmt.Printf("STATS %d %d %d %d %d %d\n", ru.Utime.Nano()+ru.Stime.Nano(), rss(),
			int64(ms.HeapInuse+ms.StackInuse), runtime.NumGoroutine(), active.Load(), tcp.Load())
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rss is this process's resident set size (Linux; 0 elsewhere).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(b), &size, &resident)
	return resident * int64(os.Getpagesize())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func nsName(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.1f µs", ns/1000)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
