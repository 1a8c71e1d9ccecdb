package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
)

// The load client is the same for every server: ws6455's client Conn
// (Dial, Write, ReadInto with a reused buffer), or bare TCP for the floor;
// the pipelined cell uses rawClient, which has no library on its data
// path.
// It runs in the harness process; only the server's process is measured
// for CPU and memory.

// dialTimeout bounds each connection and handshake of the load client.
const dialTimeout = 10 * time.Second

func dialWS(addr string) (*conn.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+addr+"/", &conn.DialOptions{
		ReadLimit: 1 << 20,
		Proxy:     noProxy,
	})
	return c, err
}

// noProxy makes the load client dial directly whatever the environment says.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// dialAll opens n WebSocket connections, at most par at a time.
func dialAll(addr string, n, par int) ([]*conn.Conn, error) {
	conns := make([]*conn.Conn, n)
	errs := make(chan error, par)
	var wg sync.WaitGroup
	next := make(chan int)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dialWS(addr)
				if err != nil {
					select {
					case errs <- fmt.Errorf("connection %d: %w", i, err):
					default:
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		closeAll(conns)
		return nil, err
	default:
	}
	return conns, nil
}

func closeAll(conns []*conn.Conn) {
	for _, c := range conns {
		if c != nil {
			c.CloseNow()
		}
	}
}

// echoResult is what one echo configuration measured.
type echoResult struct {
	msgs   int
	wall   time.Duration
	cpu    time.Duration   // server CPU over the measured phase
	rtts   []time.Duration // sorted round-trip times
	err    error
	config echoConfig
	// The 1-minute load average of the machine when the cell started and
	// when it ended (the load client and the server are part of it).
	loadBefore, loadAfter float64
}

type echoConfig struct {
	size, conns, perConn int
	// depth, when positive, makes the configuration pipelined: each
	// connection keeps depth messages in flight (a writer and a reader
	// goroutine) instead of waiting for each echo before the next.
	depth int
}

// label names the configuration in the tables.
func (c echoConfig) label() string {
	s := fmt.Sprintf("%s × %d", sizeLabel(c.size), c.conns)
	if c.depth > 0 {
		s += fmt.Sprintf(", %d in flight", c.depth)
	}
	return s
}

// echoClient is one connection of the load client: a ws6455 client Conn,
// or a bare TCP connection for the floor (which echoes bytes, not
// messages).
type echoClient interface {
	send(ctx context.Context, msg []byte) error
	// recv reads the echo of a size-byte message, into buf if it fits.
	recv(ctx context.Context, buf []byte, size int) ([]byte, error)
	close()
}

type wsClient struct{ c *conn.Conn }

func (w wsClient) send(ctx context.Context, msg []byte) error {
	return w.c.Write(ctx, conn.MessageBinary, msg)
}

func (w wsClient) recv(ctx context.Context, buf []byte, _ int) ([]byte, error) {
	_, got, err := w.c.ReadInto(ctx, buf)
	return got, err
}

func (w wsClient) close() { w.c.CloseNow() }

type tcpClient struct{ nc net.Conn }

func (t tcpClient) send(ctx context.Context, msg []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		t.nc.SetWriteDeadline(dl)
	}
	_, err := t.nc.Write(msg)
	return err
}

func (t tcpClient) recv(ctx context.Context, buf []byte, size int) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		t.nc.SetReadDeadline(dl)
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	_, err := io.ReadFull(t.nc, buf)
	return buf, err
}

func (t tcpClient) close() { t.nc.Close() }

// dialClients opens n connections of the load client to a server that
// speaks WebSocket (ws) or to the bare TCP echo.
func dialClients(addr string, ws bool, n, par int) ([]echoClient, error) {
	out := make([]echoClient, n)
	if ws {
		conns, err := dialAll(addr, n, par)
		if err != nil {
			return nil, err
		}
		for i, c := range conns {
			out[i] = wsClient{c}
		}
		return out, nil
	}
	tcs, err := dialTCPAll(addr, n, par)
	if err != nil {
		for _, c := range tcs {
			if c != nil {
				c.Close()
			}
		}
		return nil, err
	}
	for i, c := range tcs {
		out[i] = tcpClient{c}
	}
	return out, nil
}

func closeClients(cs []echoClient) {
	for _, c := range cs {
		c.close()
	}
}

// loadAvg returns the machine's 1-minute load average (/proc/loadavg), or
// -1 if it cannot be read: the other load a cell ran under.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

// runEcho measures one configuration against the server of ch: it opens
// cfg.conns connections, warms each up, then has every connection send
// cfg.perConn messages of cfg.size bytes, one at a time, each waiting for
// its echo, all connections at once. The server's CPU time is read just
// before and just after that phase.
func runEcho(ch *child, ws bool, cfg echoConfig) (res echoResult) {
	res = echoResult{config: cfg, loadBefore: loadAvg()}
	defer func() { res.loadAfter = loadAvg() }()
	var conns []echoClient
	var err error
	if ws && cfg.depth > 0 {
		conns, err = dialRawAll(ch.addr, cfg.conns)
	} else {
		conns, err = dialClients(ch.addr, ws, cfg.conns, 16)
	}
	if err != nil {
		res.err = err
		return res
	}
	defer closeClients(conns)
	warm := min(cfg.perConn/10+1, 50)
	if err := clientsPhase(conns, cfg, warm, nil); err != nil {
		res.err = fmt.Errorf("warm-up: %w", err)
		return res
	}
	before, err := ch.usage(false)
	if err != nil {
		res.err = err
		return res
	}
	rtts := make([][]time.Duration, len(conns))
	for i := range rtts {
		rtts[i] = make([]time.Duration, 0, cfg.perConn)
	}
	start := time.Now()
	err = clientsPhase(conns, cfg, cfg.perConn, rtts)
	res.wall = time.Since(start)
	after, uerr := ch.usage(false)
	if err == nil {
		err = uerr
	}
	if err != nil {
		res.err = err
		return res
	}
	res.cpu = after.cpu - before.cpu
	for _, r := range rtts {
		res.rtts = append(res.rtts, r...)
	}
	res.msgs = len(res.rtts)
	sortDurations(res.rtts)
	return res
}

// echoPhase has every connection do count round trips of size-byte binary
// messages, recording each round trip in rtts[i] when rtts is not nil.
// Every echo is checked byte for byte.
func echoPhase(conns []*conn.Conn, size, count int, rtts [][]time.Duration) error {
	cs := make([]echoClient, len(conns))
	for i, c := range conns {
		cs[i] = wsClient{c}
	}
	return clientsPhase(cs, echoConfig{size: size}, count, rtts)
}

// clientsPhase is echoPhase for any load client, closed-loop or pipelined
// as cfg says.
func clientsPhase(conns []echoClient, cfg echoConfig, count int, rtts [][]time.Duration) error {
	size := cfg.size
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var r *[]time.Duration
			if rtts != nil {
				r = &rtts[i]
			}
			if cfg.depth > 0 {
				if err := pipelined(ctx, c, size, count, cfg.depth, r); err != nil {
					errs <- err
				}
				return
			}
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			buf := make([]byte, 0, size)
			for range count {
				t0 := time.Now()
				if err := c.send(ctx, msg); err != nil {
					errs <- err
					return
				}
				got, err := c.recv(ctx, buf, size)
				if err != nil {
					errs <- err
					return
				}
				if rtts != nil {
					rtts[i] = append(rtts[i], time.Since(t0))
				}
				if !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("echo of %d bytes came back as %d different bytes", size, len(got))
					return
				}
				buf = got
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// pipelined sends count size-byte messages on c from one goroutine while
// another reads their echoes, with at most depth messages in flight; each
// echo is checked (the first byte numbers the message, so a reordered
// or lost echo is caught) and its round trip recorded in rtts if not nil.
func pipelined(ctx context.Context, c echoClient, size, count, depth int, rtts *[]time.Duration) error {
	sent := make(chan time.Time, depth) // send times of the messages in flight
	werr := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte(j * 3)
		}
		for i := range count {
			select {
			case sent <- time.Now():
			case <-ctx.Done(): // the reader gave up
				werr <- ctx.Err()
				return
			}
			if size > 0 {
				msg[0] = byte(i)
			}
			if err := c.send(ctx, msg); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	want := make([]byte, size)
	for j := range want {
		want[j] = byte(j * 3)
	}
	buf := make([]byte, 0, size)
	for i := range count {
		got, err := c.recv(ctx, buf, size)
		if err != nil {
			return err
		}
		var t0 time.Time
		select {
		case t0 = <-sent:
		default:
			return fmt.Errorf("an echo arrived before its message was sent")
		}
		if rtts != nil {
			*rtts = append(*rtts, time.Since(t0))
		}
		if size > 0 {
			want[0] = byte(i)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("pipelined echo %d of %d bytes came back as %d different bytes", i, size, len(got))
		}
		buf = got
	}
	return <-werr
}

// idleResult is the memory per idle connection.
type idleResult struct {
	n      int
	before usage // server before, after a warm-up
	after  usage // server with n idle connections
	// The same after debug.FreeOSMemory: without the freed heap that the
	// runtime keeps for reuse (see child.trimmedUsage).
	beforeTrim, afterTrim usage
	err                   error
}

// perConn returns the growth of the server's RSS per connection, bytes.
func (r idleResult) perConn() float64 {
	return float64(r.after.rss-r.before.rss) / float64(r.n)
}

// trimmedPerConn is perConn measured after debug.FreeOSMemory.
func (r idleResult) trimmedPerConn() float64 {
	return float64(r.afterTrim.rss-r.beforeTrim.rss) / float64(r.n)
}

// heapPerConn and stackPerConn split the growth by where the Go runtime
// says it went, bytes per connection.
func (r idleResult) heapPerConn() float64 {
	return float64(r.after.heap-r.before.heap) / float64(r.n)
}

func (r idleResult) stackPerConn() float64 {
	return float64(r.after.stack-r.before.stack) / float64(r.n)
}

// runIdle measures the server's RSS growth for n idle connections, each
// having completed its handshake (or, for the bare TCP floor, its
// connect and one echoed byte). The server is warmed up with a few
// connections first, and collects garbage before each reading.
func runIdle(ch *child, ws bool, n int) idleResult {
	res := idleResult{n: n}
	// Warm up: the first connections initialise pools and the HTTP server.
	if ws {
		warm, err := dialAll(ch.addr, 16, 4)
		if err != nil {
			res.err = err
			return res
		}
		if err := echoPhase(warm, 16, 4, nil); err != nil {
			res.err = err
			return res
		}
		closeAll(warm)
	}
	time.Sleep(200 * time.Millisecond) // let the server see the closes
	base, err := ch.usage(true)
	if err != nil {
		res.err = err
		return res
	}
	res.before = base
	if res.beforeTrim, err = ch.trimmedUsage(); err != nil {
		res.err = err
		return res
	}
	var closers []func()
	defer func() {
		// The server goes first, so that the TIME_WAIT sockets are on its
		// side and later runs find free ports.
		ch.stop()
		for _, c := range closers {
			c()
		}
	}()
	if ws {
		conns, err := dialAll(ch.addr, n, 32)
		if err != nil {
			res.err = err
			return res
		}
		closers = append(closers, func() { closeAll(conns) })
		// One round trip on the last connection: the server has run the
		// handlers of all the connections before it.
		if err := echoPhase(conns[n-1:], 16, 1, nil); err != nil {
			res.err = err
			return res
		}
	} else {
		tcs, err := dialTCPAll(ch.addr, n, 32)
		closers = append(closers, func() {
			for _, c := range tcs {
				if c != nil {
					c.Close()
				}
			}
		})
		if err != nil {
			res.err = err
			return res
		}
	}
	time.Sleep(500 * time.Millisecond) // let every handler reach its idle read
	loaded, err := ch.usage(true)
	if err != nil {
		res.err = err
		return res
	}
	res.after = loaded
	if res.afterTrim, err = ch.trimmedUsage(); err != nil {
		res.err = err
		return res
	}
	if heapDir != "" {
		path := filepath.Join(heapDir, "idle-"+ch.name+".pprof")
		if _, err := io.WriteString(ch.in, "heapprofile "+path+"\n"); err == nil {
			if line, err := ch.line(); err != nil || line != "OK" {
				res.err = fmt.Errorf("heap profile: %q %v", line, err)
			}
		}
	}
	return res
}

// heapDir, when set (-heapprofile), is where runIdle saves each server's
// heap profile with its idle connections open.
var heapDir string

// dialTCPAll opens n TCP connections to the bare echo server and has each
// echo one byte, so that the server's goroutine for it is running.
func dialTCPAll(addr string, n, par int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := net.DialTimeout("tcp", addr, dialTimeout)
				if err == nil {
					c.SetDeadline(time.Now().Add(dialTimeout))
					var b [1]byte
					if _, err = c.Write([]byte{'x'}); err == nil {
						_, err = c.Read(b[:])
					}
					c.SetDeadline(time.Time{})
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					if c != nil {
						c.Close()
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, first
}

// handshakeResult is the rate of opening handshakes.
type handshakeResult struct {
	n    int
	wall time.Duration
	cpu  time.Duration // server CPU
	err  error
}

// runHandshakes opens and drops n connections, par at a time: TCP connect,
// the opening handshake, then an immediate TCP close.
func runHandshakes(ch *child, n, par int) handshakeResult {
	res := handshakeResult{n: n}
	// Warm up.
	if c, err := dialAll(ch.addr, par, par); err == nil {
		closeAll(c)
	} else {
		res.err = err
		return res
	}
	before, err := ch.usage(false)
	if err != nil {
		res.err = err
		return res
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, par)
	per := n / par
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				c, err := dialWS(ch.addr)
				if err != nil {
					errs <- err
					return
				}
				c.CloseNow()
			}
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	res.n = per * par
	after, uerr := ch.usage(false)
	select {
	case err = <-errs:
	default:
		err = uerr
	}
	res.err = err
	res.cpu = after.cpu - before.cpu
	return res
}
