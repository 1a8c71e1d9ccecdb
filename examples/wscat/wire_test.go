package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// frame is one frame as a raw server read it off the wire: its header and
// its payload, unmasked.
type frame struct {
	h wsframe.Header
	p []byte
}

// rawServer is a WebSocket server written against the wire, not the
// library's Conn: it answers the opening handshake by hand and records
// every frame the client sends exactly as it arrives, so that tests check
// what wscat put on the wire.
type rawServer struct {
	url    string
	frames chan frame         // every frame received, in order
	reqs   chan *http.Request // the upgrade requests
}

// rawOptions says how a rawServer behaves after the handshake.
type rawOptions struct {
	greet []frame // sent (unmasked) right after the handshake
	echo  bool    // send data frames back as they came
	// closeCode, when not zero, is sent as the server's close after the
	// first data frame (and the connection closed once the client answers).
	closeCode wsframe.CloseCode
	// drop closes TCP after the first data frame, without a close frame.
	drop bool
	// stall reads nothing after the handshake, until the test ends.
	stall bool
}

func newRawServer(t *testing.T, o rawOptions) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{url: "ws://" + ln.Addr().String() + "/raw", frames: make(chan frame, 1000), reqs: make(chan *http.Request, 10)}
	done, quit := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(quit); ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.serve(nc, o, quit)
		}
	}()
	return s
}

// serve runs one connection to its end (one at a time: wscat opens one).
func (s *rawServer) serve(nc net.Conn, o rawOptions, quit <-chan struct{}) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	s.reqs <- req
	accept := handshake.AcceptKey(req.Header.Get("Sec-WebSocket-Key"))
	if _, err := io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n\r\n"); err != nil {
		return
	}
	fw := wsframe.NewWriter(nc)
	for _, f := range o.greet {
		f.h.Length = int64(len(f.p))
		if fw.WriteFrame(f.h, f.p) != nil {
			return
		}
	}
	if o.stall {
		<-quit
		return
	}
	fr := wsframe.NewReader(br)
	closeSent := false
	for {
		h, err := fr.Next()
		if err != nil {
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(fr, p); err != nil {
			return
		}
		s.frames <- frame{h, p}
		reply := wsframe.Header{Fin: true, Length: int64(len(p))}
		switch {
		case h.Opcode == wsframe.OpPing:
			reply.Opcode = wsframe.OpPong
		case h.Opcode == wsframe.OpClose:
			if !closeSent { // answer the client's close
				reply.Opcode = wsframe.OpClose
				fw.WriteFrame(reply, p)
			}
			return
		case o.drop:
			return
		case o.closeCode != 0:
			cp, _ := wsframe.AppendClosePayload(nil, o.closeCode, "bye")
			reply = wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Length: int64(len(cp))}
			p, closeSent = cp, true
		case o.echo:
			reply.Opcode = h.Opcode
		default:
			continue
		}
		if fw.WriteFrame(reply, p) != nil {
			return
		}
	}
}

// next returns the next frame wscat sent.
func (s *rawServer) next(t *testing.T) frame {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-time.After(testTimeout):
		t.Fatal("no frame")
		return frame{}
	}
}

// expect checks the next frame: FIN set, no RSV bits, masked (a client's
// frames must be, RFC 6455 §5.3), the opcode and the exact payload.
func (s *rawServer) expect(t *testing.T, op wsframe.Opcode, payload []byte) {
	t.Helper()
	f := s.next(t)
	assert.True(t, f.h.Fin, "FIN")
	assert.Zero(t, f.h.Rsv, "RSV bits")
	assert.True(t, f.h.Masked, "a client frame is masked")
	assert.Equal(t, op, f.h.Opcode)
	assert.Equal(t, payload, f.p)
}

// closePayload is the payload of a close frame with code and reason.
func closePayload(t *testing.T, code wsframe.CloseCode, reason string) []byte {
	t.Helper()
	p, err := wsframe.AppendClosePayload(nil, code, reason)
	require.NoError(t, err)
	return p
}

// TestWireLines: each input line is one frame of the right type, with the
// line's bytes (no line ending) as its payload; end of input is a close
// with 1000.
func TestWireLines(t *testing.T) {
	s := newRawServer(t, rawOptions{})
	in := "hello\r\n\nwörld\n\xff\xfe not utf-8\n"
	code, _, stderr := runOnce(t, in, s.url)
	assert.Equal(t, exitOK, code, stderr)
	s.expect(t, wsframe.OpText, []byte("hello"))
	s.expect(t, wsframe.OpText, []byte{})
	s.expect(t, wsframe.OpText, []byte("wörld"))
	s.expect(t, wsframe.OpBinary, []byte("\xff\xfe not utf-8"))
	s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
	assert.Contains(t, stderr, "wscat: not valid UTF-8: sent as a binary message\n")
}

func TestWireBinaryFlag(t *testing.T) {
	s := newRawServer(t, rawOptions{})
	code, _, stderr := runOnce(t, "ab\nc\td\n", "-binary", s.url)
	assert.Equal(t, exitOK, code, stderr)
	s.expect(t, wsframe.OpBinary, []byte("ab"))
	s.expect(t, wsframe.OpBinary, []byte("c\td"))
	s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
}

// TestWireOneShot: -x and -file send exactly one message, whose bytes are
// the text or the file's; binary content goes as a binary frame; -count 0
// closes right after.
func TestWireOneShot(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	dir := t.TempDir()
	binFile := dir + "/all.bin"
	textFile := dir + "/lines.txt"
	require.NoError(t, writeFile(binFile, all))
	require.NoError(t, writeFile(textFile, []byte("one\ntwo\n")))

	tests := []struct {
		name  string
		stdin string
		args  []string
		op    wsframe.Opcode
		want  []byte
	}{
		{"x", "ignored\n", []string{"-x", "hi there"}, wsframe.OpText, []byte("hi there")},
		{"x empty", "", []string{"-x", ""}, wsframe.OpText, []byte{}},
		{"x binary", "", []string{"-binary", "-x", "hi"}, wsframe.OpBinary, []byte("hi")},
		{"x slash not a command", "", []string{"-slash", "-x", "/close 4000"}, wsframe.OpText, []byte("/close 4000")},
		{"binary file", "", []string{"-file", binFile}, wsframe.OpBinary, all},
		{"text file, lines kept", "", []string{"-file", textFile}, wsframe.OpText, []byte("one\ntwo\n")},
		{"stdin as one message", "a\nb\r\nc", []string{"-file", "-"}, wsframe.OpText, []byte("a\nb\r\nc")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, rawOptions{})
			code, _, stderr := runOnce(t, tt.stdin, append(tt.args, "-count", "0", s.url)...)
			assert.Equal(t, exitOK, code, stderr)
			s.expect(t, tt.op, tt.want)
			s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
		})
	}
}

// TestWireSlashCommands: /ping is a ping frame (and its pong is
// reported), /binary and /text switch the frame type, "//" escapes, a bad
// command sends nothing, /close sends exactly the code and reason.
func TestWireSlashCommands(t *testing.T) {
	s := newRawServer(t, rawOptions{})
	w := start(t, context.Background(), "-slash", s.url)
	assert.Equal(t, "connected to "+s.url, w.stderr.next(t))

	w.send(t, "/ping")
	f := s.next(t)
	assert.Equal(t, wsframe.OpPing, f.h.Opcode)
	assert.True(t, f.h.Masked && f.h.Fin)
	assert.Len(t, f.p, 4, "the library's ping payload is a 4-byte counter")
	assert.Regexp(t, `^pong after [0-9.]+[µnm]?s$`, w.stderr.next(t))

	w.send(t, "/binary")
	assert.Equal(t, "sending binary messages", w.stderr.next(t))
	w.send(t, "bin")
	s.expect(t, wsframe.OpBinary, []byte("bin"))
	w.send(t, "/text")
	assert.Equal(t, "sending text messages", w.stderr.next(t))
	w.send(t, "//slash")
	s.expect(t, wsframe.OpText, []byte("/slash"))
	w.send(t, "/close 1005")
	assert.Contains(t, w.stderr.next(t), "code 1005 may not be sent")
	w.send(t, "/nope")
	assert.Contains(t, w.stderr.next(t), `unknown command "/nope"`)
	w.send(t, "/help")
	assert.Equal(t, "commands:", w.stderr.next(t))

	w.send(t, "/close 4001 bye now")
	s.expect(t, wsframe.OpClose, []byte{0x0f, 0xa1, 'b', 'y', 'e', ' ', 'n', 'o', 'w'})
	assert.Equal(t, exitOK, w.wait(t))
	assert.Contains(t, w.stderr.String(), "closed with 4001 \"bye now\": the peer answered\n")
	assert.Empty(t, w.stdout.String())
}

// TestSlashOffForPipes: without a terminal (and without -slash), a line
// starting with "/" is a message like any other.
func TestSlashOffForPipes(t *testing.T) {
	s := newRawServer(t, rawOptions{})
	code, _, stderr := runOnce(t, "/close 4000\n", s.url)
	assert.Equal(t, exitOK, code, stderr)
	s.expect(t, wsframe.OpText, []byte("/close 4000"))
	s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
}

// TestOutputFormats: what the server sends, as each output format prints
// it on standard output, byte for byte.
func TestOutputFormats(t *testing.T) {
	bin := []byte{0x00, 0x01, 0xff, '\n'}
	greet := []frame{
		{wsframe.Header{Fin: true, Opcode: wsframe.OpText}, []byte("héllo")},
		{wsframe.Header{Fin: true, Opcode: wsframe.OpBinary}, bin},
		{wsframe.Header{Fin: true, Opcode: wsframe.OpText}, []byte("x")},
	}
	tests := []struct {
		name string
		tty  bool
		args []string
		want string
	}{
		{"raw is the default in a pipe", false, nil, "héllo\n\x00\x01\xff\nx\n"},
		{"hex", false, []string{"-binfmt", "hex"}, "héllo\n0001ff0a\nx\n"},
		{"base64", false, []string{"-binfmt", "base64"}, "héllo\n" + base64.StdEncoding.EncodeToString(bin) + "\nx\n"},
		{"pretty is the default on a terminal", true, nil, "< héllo\n< binary 4 bytes: hex:0001ff0a\n< x\n"},
		{"raw on a terminal", true, []string{"-output", "raw", "-binfmt", "hex"}, "héllo\n0001ff0a\nx\n"},
		{"pretty in a pipe", false, []string{"-output", "pretty"}, "< héllo\n< binary 4 bytes: hex:0001ff0a\n< x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, rawOptions{greet: greet})
			w := startTTY(t, context.Background(), tt.tty, append(tt.args, "-count", "3", s.url)...)
			assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
			assert.Equal(t, tt.want, w.stdout.String())
			s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
		})
	}
}

// TestCountAndWait: one-shot use waits for -count replies; exit 4 when
// they do not all come before -wait or before the peer closes.
func TestCountAndWait(t *testing.T) {
	t.Run("reply", func(t *testing.T) {
		s := newRawServer(t, rawOptions{echo: true})
		code, stdout, stderr := runOnce(t, "", "-x", "ping?", s.url)
		assert.Equal(t, exitOK, code, stderr)
		assert.Equal(t, "ping?\n", stdout)
		s.expect(t, wsframe.OpText, []byte("ping?"))
		s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
	})
	t.Run("end of input waits for the replies", func(t *testing.T) {
		s := newRawServer(t, rawOptions{echo: true})
		code, stdout, stderr := runOnce(t, "a\nb\n", "-count", "2", s.url)
		assert.Equal(t, exitOK, code, stderr)
		assert.Equal(t, "a\nb\n", stdout)
	})
	t.Run("no reply before -wait", func(t *testing.T) {
		s := newRawServer(t, rawOptions{}) // never answers
		code, stdout, stderr := runOnce(t, "", "-x", "anyone?", "-wait", "10ms", s.url)
		assert.Equal(t, exitTimeout, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "wscat: no more replies after 10ms: 0 of 1\n")
		s.expect(t, wsframe.OpText, []byte("anyone?"))
		s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
	})
	t.Run("peer closes first", func(t *testing.T) {
		s := newRawServer(t, rawOptions{closeCode: wsframe.CloseNormal})
		code, _, stderr := runOnce(t, "", "-x", "q", "-count", "2", s.url)
		assert.Equal(t, exitTimeout, code)
		assert.Contains(t, stderr, "wscat: the peer closed after 0 of 2 replies\n")
	})
	t.Run("-wait without -count ends normally", func(t *testing.T) {
		s := newRawServer(t, rawOptions{})
		w := startTTY(t, context.Background(), false, "-wait", "10ms", s.url)
		assert.Equal(t, exitOK, w.wait(t))
		s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8})
	})
}

// TestExitStatus: each way of ending has its documented status.
func TestExitStatus(t *testing.T) {
	t.Run("connect refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		u := "ws://" + ln.Addr().String() + "/"
		ln.Close()
		code, _, stderr := runOnce(t, "", u)
		assert.Equal(t, exitConnect, code)
		assert.Contains(t, stderr, "wscat: handshake: dialing")
	})
	t.Run("line too long", func(t *testing.T) {
		s := newRawServer(t, rawOptions{})
		in := "before\n" + strings.Repeat("z", maxLine+1) + "\nafter\n"
		code, _, stderr := runOnce(t, in, s.url)
		assert.Equal(t, exitSend, code)
		assert.Contains(t, stderr, "wscat: input line 2 is longer than 1048576 bytes: not sent\n")
		s.expect(t, wsframe.OpText, []byte("before"))
		s.expect(t, wsframe.OpClose, []byte{0x03, 0xe8}) // nothing of the long line, nor after it
	})
	t.Run("write fails", func(t *testing.T) {
		// The server reads nothing: once the socket buffers are full, a
		// write cannot finish within -timeout.
		s := newRawServer(t, rawOptions{stall: true})
		w := startTTY(t, context.Background(), false, "-timeout", "500ms", s.url)
		line := strings.Repeat("w", maxLine-1) + "\n"
		go func() {
			for range 256 { // 256 MiB at most; the buffers hold far less
				if _, err := io.WriteString(w.stdin, line); err != nil {
					return // wscat stopped reading
				}
			}
		}()
		assert.Equal(t, exitSend, w.wait(t))
		assert.Contains(t, w.stderr.String(), "wscat: write: ")
		w.stdin.Close()
	})
	t.Run("peer error code", func(t *testing.T) {
		s := newRawServer(t, rawOptions{closeCode: wsframe.ClosePolicyViolation})
		w := startTTY(t, context.Background(), false, s.url)
		w.send(t, "go")
		assert.Equal(t, exitPeerClose, w.wait(t))
		assert.Contains(t, w.stderr.String(), "closed by peer: 1008 (policy violation) \"bye\"\n")
		s.expect(t, wsframe.OpText, []byte("go"))
		s.expect(t, wsframe.OpClose, closePayload(t, wsframe.ClosePolicyViolation, "")) // the library echoes the code
	})
	t.Run("connection dropped", func(t *testing.T) {
		s := newRawServer(t, rawOptions{drop: true})
		w := startTTY(t, context.Background(), false, s.url)
		w.send(t, "go")
		assert.Equal(t, exitFailed, w.wait(t))
		assert.Contains(t, w.stderr.String(), "connection failed: 1006")
	})
}

// TestFlagsAfterURL: flags after the URL count, -origin is sent as the
// Origin header, "--" ends the flags.
func TestFlagsAfterURL(t *testing.T) {
	s := newRawServer(t, rawOptions{echo: true})
	code, stdout, stderr := runOnce(t, "", s.url, "-x", "late", "-origin", "https://o.example", "-binfmt", "hex", "-binary")
	assert.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "6c617465\n", stdout)
	req := <-s.reqs
	assert.Equal(t, "https://o.example", req.Header.Get("Origin"))
	s.expect(t, wsframe.OpBinary, []byte("late"))

	code, _, stderr = runOnce(t, "", "-x", "a", "--", s.url, "-count")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "want one URL", "after --, -count is an argument")
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		x    string
	}{
		{[]string{"u"}, []string{"u"}, ""},
		{[]string{"-x", "1", "u"}, []string{"u"}, "1"},
		{[]string{"u", "-x", "1"}, []string{"u"}, "1"},
		{[]string{"a", "-x", "1", "b"}, []string{"a", "b"}, "1"},
		{[]string{"-x", "1", "--", "-x", "u"}, []string{"-x", "u"}, "1"},
		{[]string{"u", "--", "-x"}, []string{"u", "-x"}, ""},
	}
	for _, tt := range tests {
		fs := newTestFlagSet()
		x := fs.String("x", "", "")
		pos, err := parseInterleaved(fs, tt.args)
		require.NoError(t, err, tt.args)
		assert.Equal(t, tt.pos, pos, tt.args)
		assert.Equal(t, tt.x, *x, tt.args)
	}
}

// TestListenDropped: lines read while no client is connected are dropped,
// and the exit status says so.
func TestListenDropped(t *testing.T) {
	w := startTTY(t, context.Background(), false, "-listen", "127.0.0.1:0")
	w.stderr.next(t) // listening
	w.send(t, "nobody hears this")
	assert.Equal(t, "no client connected: line dropped", w.stderr.next(t))
	w.stdin.Close()
	assert.Equal(t, exitSend, w.wait(t))
	assert.Equal(t, "wscat: 1 input line(s) dropped: no client was connected", w.stderr.next(t))
}

func TestRefusalSummary(t *testing.T) {
	resp := func(status int, ctype string) *http.Response {
		r := &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status), Header: http.Header{}}
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		return r
	}
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct {
		name string
		re   *handshake.ResponseError
		want []string
	}{
		{"no response", &handshake.ResponseError{Reason: "bad accept"}, []string{"handshake failed: bad accept"}},
		{"101 but wrong", &handshake.ResponseError{Response: resp(101, ""), Reason: "Sec-WebSocket-Accept mismatch"},
			[]string{"handshake failed: 101 Switching Protocols: Sec-WebSocket-Accept mismatch"}},
		{"empty body", &handshake.ResponseError{Response: resp(404, "text/plain")}, []string{"handshake refused: 404 Not Found"}},
		{"plain reason", &handshake.ResponseError{Response: resp(400, "text/plain; charset=utf-8"), Body: []byte("bad origin\n")},
			[]string{"handshake refused: 400 Bad Request", "bad origin"}},
		{"control characters removed", &handshake.ResponseError{Response: resp(400, "text/plain"), Body: []byte("a\x1b[31mred\x07")},
			[]string{"handshake refused: 400 Bad Request", "a[31mred"}},
		{"long reason cut", &handshake.ResponseError{Response: resp(400, ""), Body: []byte(long)},
			[]string{"handshake refused: 400 Bad Request", strings.Repeat("é", 100) + "…"}},
		{"html without type", &handshake.ResponseError{Response: resp(502, ""), Body: []byte("<html>x</html>")},
			[]string{"handshake refused: 502 Bad Gateway", "(not shown: a body of 14 bytes, no Content-Type)"}},
		{"binary", &handshake.ResponseError{Response: resp(500, "application/octet-stream"), Body: []byte{1, 2}},
			[]string{"handshake refused: 500 Internal Server Error", "(not shown: a body of 2 bytes, application/octet-stream)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, refusal(tt.re))
		})
	}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
