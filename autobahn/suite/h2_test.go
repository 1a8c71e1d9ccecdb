package suite_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/suite"
	"github.com/ws6455/ws6455/autobahn/testee"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
)

// h2Cases is a sample of the catalogue for the HTTP/2 tests: framing,
// pings, fragmentation, UTF-8, close codes, limits and compression
// (make test runs the whole catalogue over HTTP/2: autobahn/run.sh
// builtin-h2).
const h2Cases = "1.1.1,1.2.8,2.*,3.2,4.1.1,5.1,5.6,5.19,6.4.1,7.1.*,7.3.*,7.7.1,7.9.1,9.1.1,12.1.3,13.2.1"

// inXConnectChild reports whether this process runs with
// GODEBUG=http2xconnect=1; if not, it runs the test t in a child process
// that does (net/http reads it at start only) and relays the outcome.
func inXConnectChild(t *testing.T) bool {
	t.Helper()
	if strings.Contains(","+os.Getenv("GODEBUG")+",", ",http2xconnect=1,") {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	gd := "http2xconnect=1"
	if v := os.Getenv("GODEBUG"); v != "" {
		gd = v + "," + gd
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+gd)
	out, err := cmd.CombinedOutput()
	t.Logf("child with GODEBUG=%s:\n%s", gd, out)
	if err != nil {
		t.Fatalf("the child failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("the child did not pass %s", t.Name())
	}
	return false
}

// testeeHandler is the testee server's handler: echo, over HTTP/1.1 and
// HTTP/2 alike.
func testeeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{
			InsecureSkipOriginCheck: true, ReadLimit: testee.ReadLimit, Compression: conn.CompressionContextTakeover,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		testee.Echo(context.Background(), c)
	})
}

// h2cServer serves h on 127.0.0.1 over HTTP/1.1 and h2c.
func h2cServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func verdicts(rs []*suite.Result) map[string]string {
	m := map[string]string{}
	for _, r := range rs {
		m[r.ID] = r.Behavior + "/" + r.BehaviorClose
	}
	return m
}

// TestFuzzingClientOverH2: the suite tests our server over HTTP/2, each
// case a stream of one h2c connection, with the same verdicts as over
// HTTP/1.1; the report shows the extended CONNECT and the 200.
func TestFuzzingClientOverH2(t *testing.T) {
	if !inXConnectChild(t) {
		return
	}
	srv := h2cServer(t, testeeHandler())
	cases, err := suite.Select(h2Cases, "")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	h1, err := suite.FuzzingClient(ctx, url, cases, &suite.Options{Agent: "ws6455", Parallel: 2})
	require.NoError(t, err)
	h2r, err := suite.FuzzingClient(ctx, url, cases, &suite.Options{Agent: "ws6455", Parallel: 2, HTTP2: true})
	require.NoError(t, err)
	require.Len(t, h2r, len(cases))
	assert.Equal(t, verdicts(h1), verdicts(h2r), "the same verdicts over HTTP/1.1 and HTTP/2")
	for _, r := range h2r {
		assert.Contains(t, []string{"OK", "NON-STRICT", "INFORMATIONAL"}, r.Behavior, "case %s: %s", r.ID, r.Result)
		assert.True(t, strings.HasPrefix(r.HTTPRequest, "CONNECT "), "case %s request: %q", r.ID, r.HTTPRequest)
		assert.Contains(t, r.HTTPRequest, ":protocol: websocket\r\n")
		assert.True(t, strings.HasPrefix(r.HTTPResponse, "HTTP/2 200 OK\r\n:status: 200\r\n"), "case %s response: %q", r.ID, r.HTTPResponse)
		assert.NotContains(t, r.HTTPRequest, "sec-websocket-key", "RFC 8441 §5: no key")
	}
	for _, r := range h1 {
		assert.True(t, strings.HasPrefix(r.HTTPRequest, "GET "), "over HTTP/1.1 the request is an upgrade")
	}

	// wss://: TLS with ALPN h2, the same verdicts.
	ts := httptest.NewUnstartedServer(testeeHandler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tlsRes, err := suite.FuzzingClient(ctx, "wss"+strings.TrimPrefix(ts.URL, "https"), cases, &suite.Options{Agent: "ws6455", Parallel: 2, HTTP2: true})
	require.NoError(t, err)
	assert.Equal(t, verdicts(h1), verdicts(tlsRes), "the same verdicts over HTTP/2 with TLS")
	for _, r := range tlsRes {
		assert.Contains(t, r.HTTPRequest, ":scheme: https\r\n", "case %s", r.ID)
	}
}

// TestFuzzingServerOverH2: our client (package h2) against the suite's
// fuzzing server, over h2c: every case is an extended CONNECT the suite
// answers with 200, and the verdicts match those over HTTP/1.1.
func TestFuzzingServerOverH2(t *testing.T) {
	if !inXConnectChild(t) {
		return
	}
	cases, err := suite.Select(h2Cases, "")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(wantProto int, dial func(context.Context, string, *conn.DialOptions) (*conn.Conn, *http.Response, error)) []*suite.Result {
		fs := suite.NewServer(cases, t.TempDir(), nil)
		defer fs.Close()
		srv := h2cServer(t, fs)
		base := "ws" + strings.TrimPrefix(srv.URL, "http")
		for i := range cases {
			c, resp, err := dial(ctx, base+"/runCase?case="+strconv.Itoa(i+1)+"&agent=ws6455", &conn.DialOptions{
				ReadLimit: testee.ReadLimit, Compression: conn.CompressionContextTakeover,
			})
			require.NoError(t, err, "case %s", cases[i].ID)
			assert.Equal(t, wantProto, resp.ProtoMajor, "case %s", cases[i].ID)
			testee.Echo(ctx, c)
			c.CloseNow()
		}
		// The last case's result may still be on its way.
		require.Eventually(t, func() bool { return len(fs.Results("ws6455")) == len(cases) }, time.Minute, 10*time.Millisecond)
		return fs.Results("ws6455")
	}
	var d h2.Dialer
	defer d.CloseIdleConnections()
	h1 := run(1, conn.Dial)
	h2r := run(2, d.Dial)
	assert.Equal(t, verdicts(h1), verdicts(h2r), "the same verdicts over HTTP/1.1 and HTTP/2")
	for _, r := range h2r {
		assert.Contains(t, []string{"OK", "NON-STRICT", "INFORMATIONAL"}, r.Behavior, "case %s: %s", r.ID, r.Result)
		assert.True(t, strings.HasPrefix(r.HTTPRequest, "CONNECT "), "case %s request: %q", r.ID, r.HTTPRequest)
		assert.Contains(t, r.HTTPRequest, ":protocol: websocket\r\n")
		assert.True(t, strings.HasPrefix(r.HTTPResponse, "HTTP/2 200 OK\r\n"), "case %s response: %q", r.ID, r.HTTPResponse)
	}
}
