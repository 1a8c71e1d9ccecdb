//go:build unix

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTimeout bounds every wait of a test on a peer: a guard against hangs,
// not an assertion about speed.
const testTimeout = 60 * time.Second

// peerEvent is one line a remote-controlled peer prints on stdout (see
// node/peer.js and python/peer.py). Fields not used by an event stay zero.
type peerEvent struct {
	Ev         string `json:"ev"`
	Version    string `json:"version"`
	Port       int    `json:"port"`
	Protocol   string `json:"protocol"`
	Extensions string `json:"extensions"` // Sec-WebSocket-Extensions of the 101 response
	Offered    string `json:"offered"`    // the request's Sec-WebSocket-Extensions (server role)
	Type       string `json:"type"`
	Len        int    `json:"len"`
	SHA256     string `json:"sha256"`
	Data       []byte `json:"data"` // base64 in JSON
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
}

// peerCaps says what a peer's API can do, so the shared matrix skips what a
// library cannot express rather than failing.
type peerCaps struct {
	// fragmentsSplitUTF8: text fragments may split a UTF-8 sequence (the
	// API takes bytes, not strings).
	fragmentsSplitUTF8 bool
	// emptyClose: the API can send a close frame without a status code.
	emptyClose bool
	// pingEvents: the peer reports pings it receives.
	pingEvents bool
	// emptyFinalFragment: the peer ends a fragmented message with an extra
	// empty frame with FIN set (websockets sends an iterable's items as
	// fragments and only learns it was the last one afterwards).
	emptyFinalFragment bool
}

// peer is a running remote-controlled WebSocket peer process.
type peer struct {
	name    string
	caps    peerCaps
	version string
	stdin   io.WriteCloser
	events  chan peerEvent
	stderr  *syncBuffer
	exited  chan struct{}
	mu      sync.Mutex
	enc     *json.Encoder
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // bounded: keep the start, which says the most
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sourceDir is the directory of this package, where the peer scripts are.
func sourceDir(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Dir(file)
}

// startPeer runs argv as a peer and waits for its "ready" event. Cleanup
// closes its stdin (the peer then exits) and kills its process group if it
// has not exited within a few seconds.
func startPeer(t *testing.T, name string, caps peerCaps, dir string, argv ...string) *peer {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// No proxies: every connection goes to 127.0.0.1.
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*", "PYTHONUNBUFFERED=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &peer{name: name, caps: caps, stdin: stdin, events: make(chan peerEvent, 1024),
		stderr: &syncBuffer{}, exited: make(chan struct{}), enc: json.NewEncoder(stdin)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start(), "starting %s", name)

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev peerEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = peerEvent{Ev: "error", Message: "unparsable event: " + sc.Text()}
			}
			p.events <- ev
		}
	}()
	go func() {
		<-readDone
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ev := p.expect(ctx, t, "ready")
	p.version = ev.Version
	t.Logf("%s %s", name, ev.Version)
	return p
}

// do sends one command to the peer.
func (p *peer) do(t *testing.T, cmd map[string]any) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NoError(t, p.enc.Encode(cmd), "sending %v to %s", cmd["op"], p.name)
}

// next returns the peer's next event.
func (p *peer) next(ctx context.Context, t *testing.T) peerEvent {
	t.Helper()
	select {
	case ev, ok := <-p.events:
		if !ok {
			t.Fatalf("%s exited; stderr:\n%s", p.name, p.stderr.String())
		}
		return ev
	case <-ctx.Done():
		t.Fatalf("waiting for an event from %s: %v", p.name, ctx.Err())
	}
	return peerEvent{}
}

// expect returns the next event named ev. Ping events (reports of pings the
// peer answered) are passed over; any other event, and errors above all,
// fails the test: the sequence of events is part of what is checked.
func (p *peer) expect(ctx context.Context, t *testing.T, ev string) peerEvent {
	t.Helper()
	for {
		e := p.next(ctx, t)
		switch {
		case e.Ev == ev:
			return e
		case e.Ev == "ping":
			continue
		case e.Ev == "error":
			t.Fatalf("%s reported an error while the test waited for %q: %s", p.name, ev, e.Message)
		default:
			t.Fatalf("%s: got event %+v while the test waited for %q", p.name, e, ev)
		}
	}
}

// expectPing returns the next event, which must be a report of a ping.
func (p *peer) expectPing(ctx context.Context, t *testing.T) peerEvent {
	t.Helper()
	e := p.next(ctx, t)
	require.Equal(t, "ping", e.Ev, "%s: event %+v", p.name, e)
	return e
}

// findNode returns the node binary and the directory holding peer.js with
// ws installed, or skips the test saying what is missing.
func findNode(t *testing.T) (string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Node ws interop tests")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found (Debian: apt-get install nodejs npm): skipping the Node ws interop tests")
	}
	dir := filepath.Join(sourceDir(t), "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		t.Skip("the ws package is not installed (run: npm ci --prefix interop/node): skipping the Node ws interop tests")
	}
	return node, dir
}

// startNode starts node/peer.js.
func startNode(t *testing.T) *peer {
	node, dir := findNode(t)
	return startPeer(t, "node-ws", peerCaps{fragmentsSplitUTF8: true, emptyClose: true, pingEvents: true},
		dir, node, "peer.js")
}

var (
	pythonOnce sync.Once
	pythonBin  string
	pythonWhy  string
)

// findPython returns a Python 3 interpreter that can import websockets,
// or skips the test. Debian's python3-websockets installs for /usr/bin/python3,
// which need not be the python3 first on PATH.
func findPython(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Python websockets interop tests")
	}
	pythonOnce.Do(func() {
		cands := []string{"/usr/bin/python3"}
		if p, err := exec.LookPath("python3"); err == nil {
			cands = append(cands, p)
		}
		var tried []string
		for _, c := range cands {
			out, err := exec.Command(c, "-c", "import websockets, sys; sys.exit(0 if int(websockets.__version__.split('.')[0]) >= 10 else 3)").CombinedOutput()
			if err == nil {
				pythonBin = c
				return
			}
			tried = append(tried, fmt.Sprintf("%s: %v %s", c, err, strings.TrimSpace(lastLine(string(out)))))
		}
		pythonWhy = strings.Join(tried, "; ")
	})
	if pythonBin == "" {
		t.Skipf("no python3 with websockets >= 10 (Debian: apt-get install python3-websockets): skipping the Python interop tests (%s)", pythonWhy)
	}
	return pythonBin
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// startPython starts python/peer.py.
func startPython(t *testing.T) *peer {
	py := findPython(t)
	dir := filepath.Join(sourceDir(t), "python")
	return startPeer(t, "python-websockets", peerCaps{emptyFinalFragment: true}, dir, py, "-u", "peer.py")
}
