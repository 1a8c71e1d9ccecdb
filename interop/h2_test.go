package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
	"github.com/ws6455/ws6455/wsframe"
)

// The tests of WebSockets over HTTP/2 (RFC 8441) against real peers need
// net/http's HTTP/2 server to accept extended CONNECT, which Go 1.26/1.27
// enable only when GODEBUG has http2xconnect=1 at process start (package
// init reads it; a //go:debug line or os.Setenv does not reach it).
// inXConnectProcess makes that so for one test: it re-runs the test in a
// child process with that setting (unless this process has it already)
// and relays its outcome.

// xconnectEnabled reports whether this process started with
// GODEBUG=http2xconnect=1.
func xconnectEnabled() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "http2xconnect=1" {
			return true
		}
	}
	return false
}

// inXConnectProcess returns true when the calling (top-level) test is to
// run here, in a process with GODEBUG=http2xconnect=1. Otherwise it runs
// the test in such a child process, reports the child's output, passes,
// fails or skips as the child did, and returns false.
func inXConnectProcess(t *testing.T) bool {
	t.Helper()
	if xconnectEnabled() {
		return true
	}
	gd := "http2xconnect=1"
	if v := os.Getenv("GODEBUG"); v != "" {
		gd = v + "," + gd
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GODEBUG="+gd)
	out, err := cmd.CombinedOutput()
	t.Logf("in a child process with GODEBUG=%s:\n%s", gd, out)
	switch {
	case err != nil:
		t.Fatalf("the test failed in the child process: %v", err)
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name()+" ")):
		t.Skip("skipped in the child process (see above)")
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")):
		t.Fatalf("the child process did not run %s", t.Name())
	}
	return false
}

// startH2 serves h over TLS with HTTP/2 (ALPN h2, and http/1.1) on
// 127.0.0.1, with httptest's certificate.
func startH2(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	require.True(t, xconnectEnabled(), "only in a process with GODEBUG=http2xconnect=1")
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// protoLog records the protocol of every request a handler serves, as
// "HTTP/2.0 GET /", and the client address (TCP connection) of each path.
type protoLog struct {
	h    http.Handler
	reqs chan string
	mu   sync.Mutex
	from map[string]string // path -> RemoteAddr of its last request
}

func newProtoLog(h http.Handler) *protoLog {
	return &protoLog{h: h, reqs: make(chan string, 64), from: map[string]string{}}
}

func (l *protoLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case l.reqs <- fmt.Sprintf("%s %s %s", r.Proto, r.Method, r.URL.Path):
	default:
	}
	l.mu.Lock()
	l.from[r.URL.Path] = r.RemoteAddr
	l.mu.Unlock()
	l.h.ServeHTTP(w, r)
}

// remote returns the client address of the last request for path.
func (l *protoLog) remote(path string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.from[path]
}

// seen returns the requests logged so far.
func (l *protoLog) seen() []string {
	var out []string
	for {
		select {
		case s := <-l.reqs:
			out = append(out, s)
		default:
			return out
		}
	}
}

// missingH2Peer skips the test, or fails it when CI=true (where .ci/run
// has installed the peers).
func missingH2Peer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skip(msg)
}

// TestXConnectNeedsGODEBUG: with Go 1.26/1.27 and no http2xconnect in
// GODEBUG, net/http's HTTP/2 server does not advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL, so our HTTP/2 client is refused with
// conn.ErrExtendedConnectUnsupported while HTTP/1.1 WebSockets work on
// the same server. It runs in a child process whose GODEBUG has no
// http2xconnect. If it fails, Go's default changed: the README and the
// conn package documentation must say so.
func TestXConnectNeedsGODEBUG(t *testing.T) {
	if !inDefaultXConnectProcess(t) {
		return
	}
	srv := newEchoServer(t, conn.AcceptOptions{})
	ts := httptest.NewUnstartedServer(srv.Config.Handler)
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/echo"
	var d h2.Dialer
	defer d.CloseIdleConnections()
	_, _, err := d.Dial(ctx, u, nil)
	require.ErrorIs(t, err, conn.ErrExtendedConnectUnsupported, "net/http's default in %s", runtime.Version())
	c, _, err := conn.Dial(ctx, u, nil)
	require.NoError(t, err, "HTTP/1.1 on the same server")
	require.NoError(t, c.Close(wsframe.CloseNormal, ""))
}

// inDefaultXConnectProcess returns true when the calling (top-level) test
// is to run here, in a process whose GODEBUG says nothing about
// http2xconnect (Go's default). Otherwise it runs the test in such a child
// process, relays its outcome and returns false.
func inDefaultXConnectProcess(t *testing.T) bool {
	t.Helper()
	const marker = "WS6455_XCONNECT_DEFAULT_CHILD"
	if os.Getenv(marker) != "" {
		require.NotContains(t, os.Getenv("GODEBUG"), "http2xconnect")
		return true
	}
	var kept []string
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if kv != "" && !strings.HasPrefix(strings.TrimSpace(kv), "http2xconnect=") {
			kept = append(kept, kv)
		}
	}
	env := []string{marker + "=1", "GODEBUG=" + strings.Join(kept, ",")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("in a child process without http2xconnect in GODEBUG:\n%s", out)
	switch {
	case err != nil:
		t.Fatalf("the test failed in the child process: %v", err)
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name()+" ")):
		t.Skip("skipped in the child process (see above)")
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")):
		t.Fatalf("the child process did not run %s", t.Name())
	}
	return false
}
