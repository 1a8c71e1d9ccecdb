package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/conn"
)

// TestServersEcho checks every server of the harness in-process: the load
// client's messages of each benchmark size come back byte for byte, so a
// library that silently refused a size (a read limit) or mangled frames
// would fail here rather than skew the tables.
func TestServersEcho(t *testing.T) {
	for _, s := range servers {
		if !s.ws {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.serve(ln)
			t.Cleanup(func() { ln.Close() })
			ch := &child{addr: ln.Addr().String()}
			conns, err := dialAll(ch.addr, 3, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer closeAll(conns)
			for _, size := range []int{0, 1, 16, 125, 126, 1 << 10, 64 << 10, 65536 + 1} {
				if err := echoPhase(conns, size, 3, nil); err != nil {
					t.Fatalf("%d-byte messages: %v", size, err)
				}
			}
		})
	}
}

// TestPipelinedEcho checks the pipelined cell's load client (the raw
// client for WebSocket servers) against every server and the bare TCP
// floor: every echo comes back, in order, byte for byte, with many
// messages in flight.
func TestPipelinedEcho(t *testing.T) {
	for _, name := range []string{"ours", "ours-handler", "ours-raw", "gorilla", "coder", "gobwas", "gws", "xnet", "tcp"} {
		t.Run(name, func(t *testing.T) {
			s, _ := findServer(name)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.serve(ln)
			t.Cleanup(func() { ln.Close() })
			var cs []echoClient
			if s.ws {
				cs, err = dialRawAll(ln.Addr().String(), 2)
			} else {
				cs, err = dialClients(ln.Addr().String(), s.ws, 2, 2)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeClients(cs)
			rtts := make([][]time.Duration, len(cs))
			for _, size := range []int{16, 1 << 10} {
				if err := clientsPhase(cs, echoConfig{size: size, depth: 64}, 500, rtts); err != nil {
					t.Fatalf("%d-byte messages: %v", size, err)
				}
			}
			if len(rtts[0]) != 1000 {
				t.Fatalf("%d round trips recorded, want 1000", len(rtts[0]))
			}
		})
	}
}

// TestTCPFloorEcho checks the bare TCP server echoes bytes.
func TestTCPFloorEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serveTCP(ln)
	defer ln.Close()
	conns, err := dialTCPAll(ln.Addr().String(), 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {50, 5}, {99, 9}, {100, 10}}
	for _, tt := range tests {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestLabelsAndRatios(t *testing.T) {
	tests := []struct{ got, want string }{
		{sizeLabel(16), "16 B"},
		{sizeLabel(1024), "1 KiB"},
		{sizeLabel(65536), "64 KiB"},
		{sizeLabel(1500), "1500 B"},
		{ratio(1, 2), " (0.50)"},
		{ratio(3, 2), " (1.50)"},
		{ratio(1, 0), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestParseInts(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"16,1024, 65536", []int{16, 1024, 65536}, false},
		{"1", []int{1}, false},
		{"0", nil, true},
		{"x", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := parseInts(tt.in, 1, 1<<20)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !equalInts(got, tt.want)) {
			t.Errorf("parseInts(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReportTables checks the report's shape on made-up results: a
// column per library in order, ratios ours/peer, and errors shown as such.
func TestReportTables(t *testing.T) {
	cfg := echoConfig{size: 16, conns: 1, perConn: 2}
	rep := &report{
		opts:    options{libs: []string{"ours", "gorilla", "tcp"}, idle: 10, hsPar: 1},
		machine: "test machine",
		echo: map[string][]echoResult{
			"ours":    {{config: cfg, msgs: 2, wall: time.Second, cpu: 2 * time.Microsecond, rtts: []time.Duration{time.Microsecond, 2 * time.Microsecond}}},
			"gorilla": {{config: cfg, msgs: 2, wall: time.Second, cpu: 4 * time.Microsecond, rtts: []time.Duration{time.Microsecond, 2 * time.Microsecond}}},
		},
		hs: map[string]handshakeResult{
			"ours":    {n: 10, wall: time.Second, cpu: 10 * time.Microsecond},
			"gorilla": {err: bytes.ErrTooLarge},
		},
		idle: map[string]idleResult{
			"ours": {n: 10, before: usage{rss: 1 << 20}, after: usage{rss: 1<<20 + 10*2048}, beforeTrim: usage{rss: 1 << 20}, afterTrim: usage{rss: 1<<20 + 10*1536}},
			"tcp":  {n: 10, before: usage{rss: 1 << 20}, after: usage{rss: 1<<20 + 10*1024}, beforeTrim: usage{rss: 1 << 20}, afterTrim: usage{rss: 1<<20 + 10*512}},
		},
	}
	var b strings.Builder
	rep.write(&b)
	out := b.String()
	for _, want := range []string{
		"Machine: test machine",
		"| message × connections | ws6455 (ours) | gorilla v1.5.3 |",
		"| 16 B × 1 | 1.00 | 2.00 (0.50) |",
		"| handshakes per second (higher is better) | 10 | error |",
		"| bare TCP echo | 1.0 | 1.0 | 1.00 | 0.00 | 0.00 | 0.50 | 0 | 2.00 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestCompressionServers checks the compression cell's servers: each
// negotiates permessage-deflate in the mode asked for (no context
// takeover answers with server_no_context_takeover; context takeover
// without it, except gorilla, which has no such mode) and echoes the
// JSON-like messages byte for byte.
func TestCompressionServers(t *testing.T) {
	for i := range 50 {
		if n := len(jsonMessage(i)); n != 1024 {
			t.Fatalf("message %d is %d bytes, want 1024", i, n)
		}
	}
	for _, lib := range []string{"ours", "gorilla", "coder", "gws"} {
		for _, mode := range compModes {
			s, ok := findCompServer(lib + "+" + mode)
			if !ok {
				if compSupports(lib, mode) {
					t.Fatalf("%s+%s: no server", lib, mode)
				}
				continue
			}
			t.Run(s.name, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go s.serve(ln)
				t.Cleanup(func() { ln.Close() })
				cm := conn.CompressionNoContextTakeover
				if mode == "ct" {
					cm = conn.CompressionContextTakeover
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, resp, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/", &conn.DialOptions{Proxy: noProxy, Compression: cm})
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				ext := resp.Header.Get("Sec-WebSocket-Extensions")
				if !strings.Contains(ext, "permessage-deflate") {
					t.Fatalf("negotiated %q, want permessage-deflate", ext)
				}
				if got := strings.Contains(ext, "server_no_context_takeover"); got != (mode == "nct") {
					t.Fatalf("negotiated %q for mode %s", ext, mode)
				}
				if err := jsonPhase([]*conn.Conn{c}, 0, 5); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
