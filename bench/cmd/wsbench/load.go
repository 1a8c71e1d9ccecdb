package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
)

// The load client is the same for every server: ws6455's client Conn
// (Dial, Write, ReadInto with a reused buffer), or bare TCP for the floor.
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
}

type echoConfig struct {
	size, conns, perConn int
}

// runEcho measures one configuration against the server of ch: it opens
// cfg.conns connections, warms each up, then has every connection send
// cfg.perConn messages of cfg.size bytes, one at a time, each waiting for
// its echo, all connections at once. The server's CPU time is read just
// before and just after that phase.
func runEcho(ch *child, cfg echoConfig) echoResult {
	res := echoResult{config: cfg}
	conns, err := dialAll(ch.addr, cfg.conns, 16)
	if err != nil {
		res.err = err
		return res
	}
	defer closeAll(conns)
	warm := min(cfg.perConn/10+1, 50)
	if err := echoPhase(conns, cfg.size, warm, nil); err != nil {
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
	err = echoPhase(conns, cfg.size, cfg.perConn, rtts)
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
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			buf := make([]byte, 0, size)
			for range count {
				t0 := time.Now()
				if err := c.Write(ctx, conn.MessageBinary, msg); err != nil {
					errs <- err
					return
				}
				_, got, err := c.ReadInto(ctx, buf)
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
