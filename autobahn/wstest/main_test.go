package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/autobahn/testee"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// miniEcho is the smallest server that passes 1.1.1 and 2.1: it echoes
// one text frame, answers pings and completes the closing handshake.
func miniEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveMiniEcho(t, ln, nil)
	return "ws://" + ln.Addr().String()
}

// serveMiniEcho runs the mini echo server on ln; each upgrade request's
// headers go to reqs when it is not nil.
func serveMiniEcho(t *testing.T, ln net.Listener, reqs chan<- http.Header) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if reqs != nil {
					select {
					case reqs <- req.Header:
					default:
					}
				}
				h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
					base64.StdEncoding.EncodeToString(h[:])+"\r\n\r\n")
				for {
					fh, err := wsframe.ReadHeader(br)
					if err != nil || fh.Length > 1<<20 {
						return
					}
					p := make([]byte, fh.Length)
					if _, err := io.ReadFull(br, p); err != nil {
						return
					}
					wsframe.Mask(fh.Mask, 0, p)
					op := fh.Opcode
					if op == wsframe.OpPing {
						op = wsframe.OpPong
					}
					out := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: op, Length: int64(len(p))})
					nc.Write(append(out, p...))
					if op == wsframe.OpClose {
						return
					}
				}
			}()
		}
	}()
}

func TestFuzzingClientMode(t *testing.T) {
	url := miniEcho(t)
	dir := t.TempDir()
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", url, "-agent", "mini", "-cases", "1.1.1,2.1", "-parallel", "1", "-out", dir}, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stderr.String(), "2/2 cases")
	idx, err := report.ReadIndex(filepath.Join(dir, "index.json"))
	require.NoError(t, err)
	require.Equal(t, report.OK, idx["mini"]["1.1.1"].Behavior)
	require.Equal(t, report.OK, idx["mini"]["2.1"].Behavior)
	_, err = os.Stat(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
}

func TestFuzzingServerMode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	go func() {
		done <- run(ctx, []string{"-mode", "fuzzingserver", "-addr", addr, "-cases", "1.1.*", "-out", t.TempDir()}, &stderr)
	}()
	// Wait until it listens (bounded), then stop it.
	var ok bool
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			ok = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.True(t, ok, "server did not start")
	resp, err := http.Get("http://" + addr + "/getCaseCount")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	cancel()
	require.NoError(t, <-done)
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "nonsense"},
		{"-cases", "8.*"},
		{"-url", "http://127.0.0.1:1"},
		{"-bogus"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, &stderr)
		require.Error(t, err, strings.Join(args, " "))
	}
}

// TestSpecClientRun runs a fuzzingclient spec with two servers, one over
// TLS, with options and an agent exclusion, through the real suite's
// command line, and checks the reports.
func TestSpecClientRun(t *testing.T) {
	plain := miniEcho(t)
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	cfg := ts.TLS.Clone()
	ts.Close()
	tln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	headers := make(chan http.Header, 4)
	serveMiniEcho(t, tln, headers)

	out := filepath.Join(t.TempDir(), "reports")
	require.NoError(t, os.MkdirAll(out, 0o755))
	// A stale index from an earlier run must not survive: the real suite
	// writes this run's agents only.
	require.NoError(t, os.WriteFile(filepath.Join(out, "index.json"), []byte(`{"old": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1000, "reportfile": "old_case_1_1_1.json"}}}`), 0o644))
	path := writeSpec(t, `{
   "options": {"failByDrop": false, "closeHandshakeTimeout": 2},
   "outdir": "`+out+`",
   "servers": [
      {"agent": "plain", "url": "`+plain+`", "options": {"version": 18}},
      {"agent": "secure", "url": "wss://`+tln.Addr().String()+`/connect", "origin": "http://origin.test",
       "protocols": ["p1", "p2"], "options": {"version": 18}}
   ],
   "cases": ["1.1.1", "2.1*"],
   "exclude-cases": ["2.10", "2.11"],
   "exclude-agent-cases": {"sec*": ["2.*"]}
}`)
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"-m", "fuzzingclient", "-s", path, "-parallel", "1"}, &stderr)
	require.NoError(t, err, stderr.String())
	idx, err := report.ReadIndex(filepath.Join(out, "index.json"))
	require.NoError(t, err)
	require.Len(t, idx, 2, "agents: %v", report.SortedAgents(idx))
	require.Equal(t, []string{"1.1.1", "2.1"}, report.SortedCaseIDs(idx["plain"]))
	require.Equal(t, []string{"1.1.1"}, report.SortedCaseIDs(idx["secure"]))
	for agent, cases := range idx {
		for id, cr := range cases {
			require.Equal(t, report.OK, cr.Behavior, "%s %s", agent, id)
			_, err := os.Stat(filepath.Join(out, cr.ReportFile))
			require.NoError(t, err)
		}
	}
	h := <-headers
	require.Equal(t, "http://origin.test", h.Get("Origin"))
	require.Equal(t, "p1, p2", h.Get("Sec-WebSocket-Protocol"))
	require.Contains(t, stderr.String(), "agent secure: 1 cases left out by exclude-agent-cases")
}

// TestSpecServerRun runs a fuzzingserver spec and drives it with a client
// the way the real suite's clients do; one case is excluded for the agent.
func TestSpecServerRun(t *testing.T) {
	addr := freeAddr(t)
	web := freeAddr(t)
	_, webPort, _ := net.SplitHostPort(web)
	out := filepath.Join(t.TempDir(), "clients")
	require.NoError(t, os.MkdirAll(out, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "index.json"), []byte(`{"stale": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1000, "reportfile": "stale_case_1_1_1.json"}}}`), 0o644))
	path := writeSpec(t, `{
   "url": "ws://`+addr+`",
   "options": {"failByDrop": false},
   "outdir": "`+out+`",
   "webport": `+webPort+`,
   "protocols": ["echo"],
   "cases": ["1.1.1", "1.1.2", "2.1"],
   "exclude-cases": [],
   "exclude-agent-cases": {"skip*": ["1.1.2"]}
}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() { done <- run(ctx, []string{"--mode", "fuzzingserver", "--spec", path}, &stderr) }()
	waitListen(t, addr)
	waitListen(t, web)

	base := "ws://" + addr
	c, _, err := conn.Dial(ctx, base+"/getCaseCount", nil)
	require.NoError(t, err)
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "3", string(msg))
	c.CloseNow()
	for i := 1; i <= 3; i++ {
		c, _, err := conn.Dial(ctx, fmt.Sprintf("%s/runCase?case=%d&agent=skipper", base, i), &conn.DialOptions{Subprotocols: []string{"x", "echo"}})
		require.NoError(t, err)
		require.Equal(t, "echo", c.Subprotocol())
		testee.Echo(ctx, c)
		c.CloseNow()
	}
	c, _, err = conn.Dial(ctx, base+"/updateReports?agent=skipper", nil)
	require.NoError(t, err)
	_, _, err = c.Read(ctx)
	require.Error(t, err)
	c.CloseNow()

	idx, err := report.ReadIndex(filepath.Join(out, "index.json"))
	require.NoError(t, err)
	require.Equal(t, []string{"skipper"}, report.SortedAgents(idx), "an earlier run's agents are gone")
	require.Equal(t, []string{"1.1.1", "2.1"}, report.SortedCaseIDs(idx["skipper"]))
	resp, err := http.Get("http://" + web + "/index.json")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"skipper"`)
	cancel()
	require.NoError(t, <-done)
}

func TestSpecCommandLine(t *testing.T) {
	path := writeSpec(t, `{"servers": [{"agent": "a", "url": "ws://127.0.0.1:1"}], "cases": ["*"]}`)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-m", "fuzzingclient", "-s", path, "-url", "ws://127.0.0.1:2"}, "-url: the spec file says this"},
		{[]string{"-m", "fuzzingclient", "-s", path, "-cases", "1.*", "-out", "x"}, "-cases, -out: the spec file says this"},
		{[]string{"-m", "fuzzingserver", "-s", path}, `key "servers" belongs to fuzzingclient specs`},
		{[]string{"-m", "fuzzingclient", "-s", filepath.Join(t.TempDir(), "missing.json")}, "missing.json"},
		{[]string{"-m", "echoserver"}, `unknown -mode "echoserver"`},
		{[]string{"-m", "fuzzingclient", "extra"}, `unexpected argument "extra"`},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stderr)
		require.ErrorContains(t, err, tc.err, strings.Join(tc.args, " "))
	}
}

// freeAddr returns a 127.0.0.1 address nothing listens on (for a moment).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitListen waits (bounded) until something accepts connections at addr.
func waitListen(t *testing.T, addr string) {
	for range 500 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDefaultSpecFile checks that, as with the real wstest, a spec named
// after the mode in the working directory is read when -s is not given.
func TestDefaultSpecFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	url := miniEcho(t)
	require.NoError(t, os.WriteFile("fuzzingclient.json", []byte(`{"outdir": "./out", "servers": [{"agent": "dflt", "url": "`+url+`"}], "cases": ["1.1.1"]}`), 0o644))
	var stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-m", "fuzzingclient"}, &stderr), stderr.String())
	require.Contains(t, stderr.String(), "using spec fuzzingclient.json")
	idx, err := report.ReadIndex(filepath.Join(dir, "out", "index.json"))
	require.NoError(t, err)
	require.Equal(t, report.OK, idx["dflt"]["1.1.1"].Behavior)
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, stderr.String(), "wstest -m fuzzingclient -s fuzzingclient.json")
}
