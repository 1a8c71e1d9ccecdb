package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	xnet "golang.org/x/net/websocket"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
)

// An echo server for one library. Each one is written the way that
// library's own documentation writes an echo server, with default options
// except for the read limit, raised where the default would refuse the
// 64 KiB messages of the benchmark. serve blocks, accepting on ln.
type server struct {
	name  string // as selected with -libs
	label string // as printed in tables
	serve func(ln net.Listener) error
	ws    bool // speaks WebSocket (false: the bare TCP floor)
}

// servers lists every server the harness knows, ours first: tables are in
// this order and ratios are to the first one.
var servers = []server{
	{"ours", "ws6455 (ours)", serveOurs, true},
	{"ours-handler", "ws6455 loop in handler", serveOursHandler, true},
	{"ours-raw", "ws6455 raw listener", serveOursRaw, true},
	{"gorilla", "gorilla v1.5.3", serveGorilla, true},
	{"coder", "coder v1.8.15", serveCoder, true},
	{"gobwas", "gobwas v1.5.0", serveGobwas, true},
	{"gws", "gws v1.8.9", serveGws, true},
	{"xnet", "x/net v0.58.0", serveXnet, true},
	{"tcp", "bare TCP echo", serveTCP, false},
}

func findServer(name string) (server, bool) {
	for _, s := range servers {
		if s.name == name {
			return s, true
		}
	}
	return server{}, false
}

// httpServe serves h on ln with net/http, quietly.
func httpServe(ln net.Listener, h http.HandlerFunc) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	return srv.Serve(ln)
}

// serveOurs: Accept, then ReadMessage and Write the message back, in a
// goroutine of its own so that the handler returns at once (the README's
// first server). This is the
// pattern conn's package documentation recommends for servers holding many
// connections: once the handler has returned, net/http drops what it kept
// for the connection (its 4 KiB bufio.Reader and bufio.Writer, the request,
// and the handler goroutine's stack, grown by the request's parsing).
func serveOurs(ln net.Listener) error {
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		go echoOurs(c) // not r.Context(): it ends when the handler returns
	})
}

// serveOursHandler: the server of the README, as a newcomer copies it:
// the loop stays on net/http's handler goroutine, Read (a new slice per
// message) and Write under r.Context().
func serveOursHandler(ln net.Listener) error {
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
}

// serveOursRaw: the opening handshake on a raw listener (no net/http),
// with handshake.UpgradeConn and conn.New, then the same echo loop as
// serveOurs. It is the counterpart of gobwas's zero-copy upgrade: an
// application that keeps its connections on net/http's handler goroutines
// also keeps net/http's per-connection buffers alive.
func serveOursRaw(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			br := bufio.NewReaderSize(nc, 1024)
			res, err := handshake.UpgradeConn(nc, br, &handshake.ServerOptions{InsecureSkipOriginCheck: true})
			if err != nil {
				nc.Close()
				return
			}
			// A fresh goroutine for the connection's life, as behind
			// net/http: the handshake's parsing grew this one's stack.
			go echoOurs(conn.New(nc, br, false, res.Subprotocol, nil))
		}()
	}
}

// echoOurs echoes every message on c until it ends, as the README's
// server does: ReadMessage (the payload in a pooled buffer), Write it
// back, Release.
func echoOurs(c *conn.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	for {
		m, err := c.ReadMessage(ctx)
		if err != nil {
			return
		}
		err = c.Write(ctx, m.Type, m.Payload)
		m.Release()
		if err != nil {
			return
		}
	}
}

// serveGorilla: Upgrader with default buffers, ReadMessage/WriteMessage.
func serveGorilla(ln net.Listener) error {
	up := gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
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

// serveCoder: Accept, Read/Write; its default read limit (32 KiB) is raised
// to 1 MiB, like ours.
func serveCoder(ln net.Listener) error {
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, nil)
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

// serveGobwas: the "zero-copy upgrade" on a raw listener (no net/http),
// then wsutil.ReadClientData/WriteServerMessage, as in its README.
func serveGobwas(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			if _, err := ws.Upgrade(nc); err != nil {
				return
			}
			for {
				msg, op, err := wsutil.ReadClientData(nc)
				if err != nil {
					return
				}
				if err := wsutil.WriteServerMessage(nc, op, msg); err != nil {
					return
				}
			}
		}()
	}
}

// gwsEcho is gws's event handler: echo every message.
type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// serveGws: Upgrader with default options, ReadLoop on the handler's
// goroutine, echo in OnMessage.
func serveGws(ln net.Listener) error {
	up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{})
	return httpServe(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
}

// serveXnet: websocket.Server (no Origin requirement), Message.Receive and
// Message.Send of []byte.
func serveXnet(ln net.Listener) error {
	h := xnet.Server{Handler: func(c *xnet.Conn) {
		c.PayloadType = xnet.BinaryFrame
		var msg []byte
		for {
			if err := xnet.Message.Receive(c, &msg); err != nil {
				return
			}
			if err := xnet.Message.Send(c, msg); err != nil {
				return
			}
		}
	}}
	return httpServe(ln, h.ServeHTTP)
}

// serveTCP is the floor for memory per idle connection: a goroutine per
// connection echoing bytes through a 512-byte buffer, no WebSocket at all.
func serveTCP(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			buf := make([]byte, 512)
			for {
				n, err := nc.Read(buf)
				if n > 0 {
					if _, err := nc.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// runServe is the child process (-serve LIB): it listens on a free
// loopback port, prints "ADDR host:port", serves in the background, and
// answers the harness on stdin:
//
//	stats    -> "STATS <user ns> <system ns> <rss bytes> 0 0 <goroutines>"
//	gcstats  -> after two garbage collections, the same with the heap
//	            and stack in use (bytes, from runtime.MemStats)
//	heapprofile PATH -> writes a heap profile (go tool pprof) to PATH, "OK"
//
// It exits when stdin closes: the harness ending it, or dying.
func runServe(name string) error {
	s, ok := findServer(name)
	if !ok {
		s, ok = findCompServer(name)
	}
	if !ok {
		return fmt.Errorf("unknown server %q", name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		err := s.serve(ln)
		fmt.Fprintf(os.Stderr, "wsbench -serve %s: %v\n", name, err)
		os.Exit(1)
	}()
	fmt.Printf("ADDR %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ms runtime.MemStats
		cmd := strings.TrimSpace(in.Text())
		if path, ok := strings.CutPrefix(cmd, "heapprofile "); ok {
			if err := writeHeapProfile(path); err != nil {
				return err
			}
			fmt.Println("OK")
			continue
		}
		switch cmd {
		case "freestats":
			debug.FreeOSMemory()
			runtime.ReadMemStats(&ms)
			u, sys, rss, err := selfUsage()
			if err != nil {
				return err
			}
			fmt.Printf("STATS %d %d %d %d %d %d\n", u, sys, rss, ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
		case "gcstats":
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			fallthrough
		case "stats":
			u, sys, rss, err := selfUsage()
			if err != nil {
				return err
			}
			fmt.Printf("STATS %d %d %d %d %d %d\n", u, sys, rss, ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
		}
	}
	return nil
}

// selfUsage returns this process's user and system CPU time (getrusage)
// and its resident set size now (/proc/self/statm; Linux).
func selfUsage() (user, sys time.Duration, rss int64, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, 0, err
	}
	user = time.Duration(ru.Utime.Nano())
	sys = time.Duration(ru.Stime.Nano())
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, 0, err
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, 0, 0, fmt.Errorf("parsing /proc/self/statm: %w", err)
	}
	return user, sys, resident * int64(os.Getpagesize()), nil
}

// quietLog drops net/http's server log (connections reset by the load
// client are expected).
var quietLog = log.New(io.Discard, "", 0)

// percentile returns the p-th percentile (0-100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}

// writeHeapProfile writes the heap profile of live objects to path.
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
