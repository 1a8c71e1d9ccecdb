package suite

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/wsframe"
)

// testTimeouts give a slow but correct peer five times the real suite's
// deadlines: the tests run on shared, loaded machines (and under -race).
var testTimeouts = Timeouts{Scale: 5}

// runGroups runs cases against an echo server and returns the verdicts by
// case id.
func runGroups(t *testing.T, url, include string) map[string]*Result {
	t.Helper()
	cases, err := Select(include, "")
	require.NoError(t, err)
	results, err := FuzzingClient(context.Background(), url, cases, &Options{Agent: "echo", Parallel: 8, Timeouts: testTimeouts})
	require.NoError(t, err)
	out := map[string]*Result{}
	for _, r := range results {
		out[r.ID] = r
	}
	return out
}

// expectedVerdicts is what a server earns case by case: OK/OK unless
// listed.
func checkVerdicts(t *testing.T, got map[string]*Result, special map[string][2]string) {
	t.Helper()
	for id, r := range got {
		want := [2]string{report.OK, report.CloseOK}
		if s, ok := special[id]; ok {
			want = s
		}
		require.Equal(t, want, [2]string{r.Behavior, r.BehaviorClose}, "case %s: %s | %s", id, r.Result, r.ResultClose)
	}
}

var informational = map[string][2]string{
	"7.1.6":  {report.Informational, report.CloseInformational},
	"7.13.1": {report.Informational, report.CloseInformational},
	"7.13.2": {report.Informational, report.CloseInformational},
}

func with(base map[string][2]string, extra map[string][2]string) map[string][2]string {
	out := map[string][2]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// TestFuzzingClientVerdicts runs groups 1-7 and 10 against three echo
// servers that differ only in how they check UTF-8, and checks that the
// suite tells them apart the way the real suite does: the strict one
// passes everything, the one that checks whole messages is NON-STRICT on
// 6.4.x, and the one that never checks fails every invalid-UTF-8 case.
func TestFuzzingClientVerdicts(t *testing.T) {
	nonStrict64 := map[string][2]string{}
	for _, id := range []string{"6.4.1", "6.4.2", "6.4.3", "6.4.4"} {
		nonStrict64[id] = [2]string{report.NonStrict, report.CloseOK}
	}
	t.Run("fail-fast", func(t *testing.T) {
		s := startEcho(t, utf8FailFast, false)
		// Inside one frame this echo server only checks once the frame is
		// complete, so 6.4.3 and 6.4.4 are NON-STRICT even for it.
		checkVerdicts(t, runGroups(t, s.url(), "1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*"), with(informational, map[string][2]string{
			"6.4.3": {report.NonStrict, report.CloseOK}, "6.4.4": {report.NonStrict, report.CloseOK},
		}))
	})
	t.Run("whole-message", func(t *testing.T) {
		s := startEcho(t, utf8AtEnd, false)
		checkVerdicts(t, runGroups(t, s.url(), "6.*"), nonStrict64)
	})
	t.Run("never", func(t *testing.T) {
		s := startEcho(t, utf8Never, false)
		got := runGroups(t, s.url(), "6.3.*,6.6.*,6.12.*,7.5.1")
		failed := 0
		for id, r := range got {
			c := caseByID(id)
			if strings.Contains(c.Description, "not valid UTF-8") || strings.HasPrefix(id, "6.3.") {
				require.Equal(t, report.Failed, r.Behavior, id)
				failed++
			} else if id != "7.5.1" {
				require.Equal(t, report.OK, r.Behavior, id)
			}
		}
		require.Equal(t, report.Failed, got["7.5.1"].Behavior, "a server that accepts any close reason gets WRONG CODE and FAILED")
		require.Equal(t, report.CloseWrongCode, got["7.5.1"].BehaviorClose)
		require.Greater(t, failed, 10)
	})
}

// TestFuzzingClientUnreachable: a server that is not there is a FAILED
// result for every case, not an error or a hang.
func TestFuzzingClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cases, err := Select("1.1.1,2.1", "")
	require.NoError(t, err)
	res, err := FuzzingClient(context.Background(), "ws://"+addr+"/", cases, nil)
	require.NoError(t, err)
	require.Len(t, res, 2)
	for _, r := range res {
		require.Equal(t, report.Failed, r.Behavior)
		require.Contains(t, r.Result, "connecting")
	}
	_, err = FuzzingClient(context.Background(), "http://"+addr, cases, nil)
	require.Error(t, err)
}

// TestFuzzingClientBadHandshake: a server that answers the opening
// handshake wrongly fails each case with a clear reason.
func TestFuzzingClientBadHandshake(t *testing.T) {
	for name, resp := range map[string]string{
		"not 101":     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"bad accept":  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xxx\r\n\r\n",
		"garbage":     "\x00\x01\x02\r\n\r\n",
		"no upgrade":  "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xxx\r\n\r\n",
		"unknown ext": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: x-foo\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				r := resp
				if strings.Contains(r, "%s") {
					r = fmt.Sprintf(r, acceptKey(req.Header.Get("Sec-WebSocket-Key")))
				}
				io.WriteString(nc, r)
			}()
			res := RunCase(context.Background(), "ws://"+ln.Addr().String()+"/", caseByID("1.1.1"), 1, nil)
			require.Equal(t, report.Failed, res.Behavior)
			require.Contains(t, res.Result, "opening handshake")
		})
	}
}

// echoClient is a tiny client for the suite's server mode, built on
// wsframe only: it speaks the control protocol and echoes messages,
// checking text for UTF-8 at the end of each message.
type echoClient struct {
	base    string
	deflate bool
}

func (c *echoClient) dial(t *testing.T, path string) (net.Conn, *bufio.Reader, *pmdConn) {
	nc, err := net.Dial("tcp", strings.TrimPrefix(c.base, "ws://"))
	require.NoError(t, err)
	nc.SetDeadline(time.Now().Add(time.Minute))
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if c.deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; client_no_context_takeover\r\n"
	}
	_, err = io.WriteString(nc, req+"\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, 101, resp.StatusCode)
	require.Equal(t, acceptKey(key), resp.Header.Get("Sec-WebSocket-Accept"))
	var pmd *pmdConn
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		p, err := parseDeflateResponse(ext)
		require.NoError(t, err)
		pmd = newPMD(*p, false)
	}
	return nc, br, pmd
}

func writeMasked(nc net.Conn, op byte, rsv byte, p []byte) error {
	h := wsframe.Header{Fin: true, Rsv: rsv, Opcode: wsframe.Opcode(op), Masked: true, Length: int64(len(p))}
	rand.Read(h.Mask[:])
	b := wsframe.AppendHeader(nil, h)
	start := len(b)
	b = append(b, p...)
	wsframe.Mask(h.Mask, 0, b[start:])
	_, err := nc.Write(b)
	return err
}

// session echoes until the connection ends; it returns the first text
// message it got.
func (c *echoClient) session(t *testing.T, path string) string {
	nc, br, pmd := c.dial(t, path)
	defer nc.Close()
	var first string
	var msg []byte
	var op byte
	var compressed bool
	for {
		h, err := wsframe.ReadHeader(br)
		if err != nil || h.Masked || h.Length > 64<<20 {
			return first
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return first
		}
		bad := h.Rsv != 0 && !(pmd != nil && h.Rsv == 4 && h.Opcode != 0 && h.Opcode < 8)
		bad = bad || (h.Opcode > 2 && h.Opcode < 8) || h.Opcode > 10 || (h.Opcode >= 8 && (!h.Fin || h.Length > 125))
		bad = bad || (h.Opcode == 0 && msg == nil) || ((h.Opcode == 1 || h.Opcode == 2) && msg != nil)
		if bad {
			if h.Opcode == 8 {
				writeMasked(nc, 8, 0, closePayload(1002, nil))
				return first
			}
			c.failAndDrain(nc, br, 1002)
			return first
		}
		switch h.Opcode {
		case 8:
			switch {
			case len(p) == 1 || (len(p) >= 2 && !closeCodeAllowed(int(binary.BigEndian.Uint16(p)))):
				writeMasked(nc, 8, 0, closePayload(1002, nil))
			case len(p) >= 2 && !utf8.Valid(p[2:]):
				writeMasked(nc, 8, 0, closePayload(1007, nil))
			default:
				writeMasked(nc, 8, 0, p[:min(len(p), 2)])
			}
			// Wait for the server to close TCP, as a client should.
			io.Copy(io.Discard, br)
			return first
		case 9:
			writeMasked(nc, 10, 0, p)
			continue
		case 10:
			continue
		case 1, 2:
			op, msg, compressed = byte(h.Opcode), []byte{}, h.Rsv == 4
		}
		msg = append(msg, p...)
		if !h.Fin {
			continue
		}
		out, rsv := msg, byte(0)
		if compressed {
			pmd.startMessage()
			pmd.inflate(msg, maxMessage)
			if out, err = pmd.endMessage(maxMessage); err != nil {
				c.failAndDrain(nc, br, 1007)
				return first
			}
		}
		if op == 1 && !utf8.Valid(out) {
			c.failAndDrain(nc, br, 1007)
			return first
		}
		if op == 1 && first == "" {
			first = string(out)
		}
		if pmd != nil {
			out, rsv = pmd.compress(out), 4
		}
		if writeMasked(nc, op, rsv, out) != nil {
			return first
		}
		msg = nil
	}
}

func (c *echoClient) failAndDrain(nc net.Conn, br *bufio.Reader, code int) {
	writeMasked(nc, 8, 0, closePayload(code, nil))
	io.Copy(io.Discard, br)
}

// TestFuzzingServerWithEchoClient drives the suite's server mode with a
// client that speaks the real suite's control protocol: case count, every
// case, report update.
func TestFuzzingServerWithEchoClient(t *testing.T) {
	cases, err := Select("1.*,2.*,3.*,4.*,5.*,6.1.*,6.2.*,6.3.*,6.5.*,6.6.*,7.*,10.*,12.1.1,12.2.11,13.1.1,13.2.1", "")
	require.NoError(t, err)
	dir := t.TempDir()
	srv := NewServer(cases, dir, &Options{Timeouts: testTimeouts})
	hs := httptest.NewServer(srv)
	defer func() {
		hs.Close()
		srv.Close()
	}()
	c := &echoClient{base: "ws://" + hs.Listener.Addr().String(), deflate: true}
	count, err := strconv.Atoi(c.session(t, "/getCaseCount"))
	require.NoError(t, err)
	require.Equal(t, len(cases), count)
	for i := 1; i <= count; i++ {
		c.session(t, fmt.Sprintf("/runCase?case=%d&agent=echo-client", i))
	}
	c.session(t, "/updateReports?agent=echo-client")

	idx, err := report.ReadIndex(dir + "/index.json")
	require.NoError(t, err)
	require.Len(t, idx["echo-client"], count)
	special := informational
	got := map[string]*Result{}
	for _, r := range srv.Results("echo-client") {
		got[r.ID] = r
		require.True(t, r.IsServer)
	}
	checkVerdicts(t, got, special)

	// Bad requests get HTTP errors, not a hang.
	for path, code := range map[string]int{
		"/runCase?case=0&agent=a":            400,
		"/runCase?case=x&agent=a":            400,
		"/runCase?case=1":                    400,
		"/updateReports":                     400,
		"/elsewhere":                         404,
		"/runCase?case=99999&agent=echo-cli": 400,
	} {
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(make([]byte, 16)))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, code, resp.StatusCode, path)
	}
	resp, err := http.Get(hs.URL + "/getCaseCount")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode, "plain HTTP is refused")
}

// TestNoGoroutineLeak: every goroutine a run starts (reader, writer,
// timers) is gone once the results are back.
func TestNoGoroutineLeak(t *testing.T) {
	s := startEcho(t, utf8FailFast, false)
	before := runtime.NumGoroutine()
	runGroups(t, s.url(), "1.1.*,2.*,5.19,7.1.*,7.9.1")
	var now int
	for range 300 {
		if now = runtime.NumGoroutine(); now <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines before, %d after:\n%s", before, now, buf[:runtime.Stack(buf, true)])
}
