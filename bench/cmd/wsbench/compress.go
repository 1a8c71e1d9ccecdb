package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"

	"github.com/ws6455/ws6455/conn"
)

// The compression cell: permessage-deflate (RFC 7692) without and with
// context takeover, on JSON-like 1 KiB text messages: server CPU per
// echoed message, and server memory per connection once each connection
// has echoed one message (so that whatever compression state a library
// keeps per connection exists). Each library is set up as its
// documentation says, with the mode asked for; gorilla offers only "no
// context takeover" (its server answers any offer with it), and gobwas
// (compression through a separate extension package, wsflate) and x/net
// (none) are left out.

// compModes are the two modes, as named on the command line and in
// server names ("ours+nct").
var compModes = []string{"nct", "ct"}

// compServers are the servers of the compression cell, by library.
var compServers = map[string]func(ln net.Listener, takeover bool) error{
	"ours":    serveOursComp,
	"gorilla": serveGorillaComp,
	"coder":   serveCoderComp,
	"gws":     serveGwsComp,
}

// compSupports reports whether lib can serve mode.
func compSupports(lib, mode string) bool { return !(lib == "gorilla" && mode == "ct") }

// findCompServer returns the server of a name like "ours+ct".
func findCompServer(name string) (server, bool) {
	lib, mode, ok := strings.Cut(name, "+")
	serve, known := compServers[lib]
	if !ok || !known || (mode != "nct" && mode != "ct") || !compSupports(lib, mode) {
		return server{}, false
	}
	takeover := mode == "ct"
	return server{name: name, label: label(lib) + " " + mode, serve: func(ln net.Listener) error { return serve(ln, takeover) }, ws: true}, true
}

func serveOursComp(ln net.Listener, takeover bool) error {
	mode := conn.CompressionNoContextTakeover
	if takeover {
		mode = conn.CompressionContextTakeover
	}
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{Compression: mode})
		if err != nil {
			return
		}
		go echoOurs(c)
	})
}

func serveGorillaComp(ln net.Listener, _ bool) error {
	up := gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: true}
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	})
}

func serveCoderComp(ln net.Listener, takeover bool) error {
	mode := coder.CompressionNoContextTakeover
	if takeover {
		mode = coder.CompressionContextTakeover
	}
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: mode})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
}

func serveGwsComp(ln net.Listener, takeover bool) error {
	up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{PermessageDeflate: gws.PermessageDeflate{
		Enabled: true, ServerContextTakeover: takeover, ClientContextTakeover: takeover,
	}})
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
}

// jsonMessage returns the i-th message of the cell: a JSON-like document
// of exactly 1024 bytes, with fields that repeat from message to message
// (what context takeover exploits) and values that change.
func jsonMessage(i int) []byte {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id":%d,"type":"chat.message","room":"room-%d","user":{"id":%d,"name":"user-%d","online":true},"ts":"2026-12-02T07:%02d:%02d.%03dZ","text":"`,
		i, i%7, 1000+i%97, i%97, i%60, (i/60)%60, i%1000)
	x := uint32(i)*2654435761 + 1
	for b.Len() < 1024-16 {
		x = x*1664525 + 1013904223
		b.WriteString(words[x>>28%uint32(len(words))])
		b.WriteByte(' ')
	}
	b.WriteString(`","tags":[]}`)
	out := b.Bytes()
	if len(out) > 1024 {
		out = append(out[:1024-2], '}', '\n')
	}
	for len(out) < 1024 {
		out = append(out, ' ')
	}
	return out
}

// dialComp opens a load-client connection that offers mode.
func dialComp(addr, mode string) (*conn.Conn, error) {
	cm := conn.CompressionNoContextTakeover
	if mode == "ct" {
		cm = conn.CompressionContextTakeover
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+addr+"/", &conn.DialOptions{ReadLimit: 1 << 20, Proxy: noProxy, Compression: cm})
	return c, err
}

// dialCompAll opens n such connections, par at a time.
func dialCompAll(addr, mode string, n, par int) ([]*conn.Conn, error) {
	conns := make([]*conn.Conn, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dialComp(addr, mode)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("connection %d: %w", i, err)
				}
				conns[i] = c
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		closeAll(conns)
		return nil, first
	}
	return conns, nil
}

// jsonPhase has every connection echo count JSON-like text messages, each
// checked byte for byte; message numbers continue from start.
func jsonPhase(conns []*conn.Conn, start, count int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for k, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var buf []byte
			for j := range count {
				msg := jsonMessage(start + k*count + j)
				if err := c.Write(ctx, conn.MessageText, msg); err != nil {
					errs <- err
					return
				}
				typ, got, err := c.ReadInto(ctx, buf)
				if err != nil {
					errs <- err
					return
				}
				if typ != conn.MessageText || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("a compressed echo came back different")
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

// compResult is what the compression cell measured for one server.
type compResult struct {
	msgs                  int
	cpu                   time.Duration
	idle                  int
	before, after         usage
	loadBefore, loadAfter float64
	err                   error
}

func (r compResult) cpuPerMsg() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.msgs)
}

func (r compResult) kibPerConn() float64 {
	return float64(r.after.rss-r.before.rss) / 1024 / float64(r.idle)
}

func (r compResult) heapKiBPerConn() float64 {
	return float64(r.after.heap+r.after.stack-r.before.heap-r.before.stack) / 1024 / float64(r.idle)
}

func (r compResult) summary() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d msgs, server CPU %.2f µs/msg; %d conns: %.2f KiB RSS, %.2f KiB heap+stack per connection; load %.1f→%.1f",
		r.msgs, r.cpuPerMsg(), r.idle, r.kibPerConn(), r.heapKiBPerConn(), r.loadBefore, r.loadAfter)
}

// runComp measures one server of the compression cell in a fresh process:
// CPU over conns connections echoing perConn messages each, then memory
// with idle connections that have echoed one message each.
func runComp(name, mode string, conns, perConn, idle int) (res compResult) {
	res.loadBefore = loadAvg()
	defer func() { res.loadAfter = loadAvg() }()
	ch, err := startChild(name)
	if err != nil {
		res.err = err
		return res
	}
	defer ch.stop()
	cs, err := dialCompAll(ch.addr, mode, conns, 16)
	if err != nil {
		res.err = err
		return res
	}
	if err := jsonPhase(cs, 0, 20); err != nil { // warm-up
		closeAll(cs)
		res.err = err
		return res
	}
	before, err := ch.usage(false)
	if err == nil {
		err = jsonPhase(cs, 1000, perConn)
	}
	after, uerr := ch.usage(false)
	closeAll(cs)
	if err == nil {
		err = uerr
	}
	if err != nil {
		res.err = err
		return res
	}
	res.msgs, res.cpu = conns*perConn, after.cpu-before.cpu
	if idle <= 0 {
		return res
	}
	time.Sleep(200 * time.Millisecond)
	if res.before, err = ch.usage(true); err != nil {
		res.err = err
		return res
	}
	ic, err := dialCompAll(ch.addr, mode, idle, 32)
	if err != nil {
		res.err = err
		return res
	}
	defer closeAll(ic)
	if err := jsonPhase(ic, 0, 1); err != nil {
		res.err = err
		return res
	}
	time.Sleep(500 * time.Millisecond)
	res.after, err = ch.usage(true)
	res.idle = idle
	res.err = err
	return res
}

// compTable prints the compression cell: a row per library and mode.
func (r *report) compTable(w io.Writer) {
	fmt.Fprintf(w, "### Compression: JSON-like 1 KiB text messages, %d connections; memory with %d connections that have each echoed one message (lower is better)\n\n", r.opts.compConns, r.opts.compIdle)
	fmt.Fprintf(w, "Ratios are ours/this for the same mode. RSS is the server's growth after garbage collection divided by the count; heap+stack is the Go runtime's view of the same.\n\n")
	fmt.Fprintf(w, "| server | mode | server CPU per message, µs | KiB RSS per connection | KiB heap+stack per connection | load start → end |\n| --- | --- | ---: | ---: | ---: | --- |\n")
	for _, mode := range compModes {
		ours := r.comp["ours+"+mode]
		for _, lib := range r.opts.compLibs {
			res, ok := r.comp[lib+"+"+mode]
			if !ok {
				continue
			}
			name := label(lib)
			if res.err != nil {
				fmt.Fprintf(w, "| %s | %s | error: %v | | | |\n", name, mode, res.err)
				continue
			}
			cpu := fmt.Sprintf("%.2f", res.cpuPerMsg())
			rss, hs := "—", "—"
			if res.idle > 0 {
				rss, hs = fmt.Sprintf("%.2f", res.kibPerConn()), fmt.Sprintf("%.2f", res.heapKiBPerConn())
			}
			if lib != "ours" && ours.err == nil && ours.msgs > 0 {
				cpu += ratio(ours.cpuPerMsg(), res.cpuPerMsg())
				if res.idle > 0 && ours.idle > 0 {
					rss += ratio(ours.kibPerConn(), res.kibPerConn())
					hs += ratio(ours.heapKiBPerConn(), res.heapKiBPerConn())
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.1f → %.1f |\n", name, mode, cpu, rss, hs, res.loadBefore, res.loadAfter)
		}
	}
	fmt.Fprintln(w)
}
