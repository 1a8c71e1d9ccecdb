package h2_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// net/http's HTTP/2 server enables extended CONNECT (RFC 8441) only when
// GODEBUG has http2xconnect=1 at process start (Go 1.26/1.27). TestMain
// runs the package's tests in a child process that has it, unless the
// environment already says something about it (TestUnsupportedServer runs
// a child with http2xconnect=0).
func TestMain(m *testing.M) {
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=") {
		gd := "http2xconnect=1"
		if v := os.Getenv("GODEBUG"); v != "" {
			gd = v + "," + gd
		}
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), "GODEBUG="+gd)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintln(os.Stderr, "re-running the tests with GODEBUG=http2xconnect=1:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func xconnect() bool { return strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") }

// server is a test server on 127.0.0.1 that speaks HTTP/1.1 and HTTP/2
// (h2c with prior knowledge, or TLS with ALPN h2) and counts the TCP
// connections it accepted.
type server struct {
	*httptest.Server
	conns atomic.Int32
}

func newServer(t *testing.T, h http.Handler, useTLS bool, cfg *http.HTTP2Config) *server {
	t.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.HTTP2 = cfg
	if useTLS {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetHTTP1(true)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

// echo serves an echo WebSocket, over HTTP/1.1 or HTTP/2 alike. It stays
// in the handler until the Conn is closed, as HTTP/2 requires.
func echo(opts *conn.AcceptOptions, errs chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			if errs != nil {
				errs <- err
			}
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				if errs != nil {
					errs <- err
				}
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var sizes = []int{0, 1, 125, 126, 127, 4096, 16384, 65535, 65536, 65537, 1 << 20}

// echoAll sends a text and a binary message of every size and checks the
// echoes byte for byte.
func echoAll(t *testing.T, ctx context.Context, c *conn.Conn) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range sizes {
		text := make([]byte, 0, n)
		for len(text) < n {
			text = append(text, byte('a'+rng.IntN(26)))
		}
		bin := make([]byte, n)
		for i := range bin {
			bin[i] = byte(rng.Uint32())
		}
		for _, m := range []struct {
			typ conn.MessageType
			p   []byte
		}{{conn.MessageText, text}, {conn.MessageBinary, bin}} {
			require.NoError(t, c.Write(ctx, m.typ, m.p))
			typ, got, err := c.Read(ctx)
			require.NoError(t, err, "size %d", n)
			require.Equal(t, m.typ, typ)
			require.True(t, bytes.Equal(m.p, got), "%s message of %d bytes came back different", m.typ, n)
		}
	}
}

var bigLimit = &conn.AcceptOptions{ReadLimit: 2 << 20}

// TestEchoH2C: our client and server over HTTP/2 without TLS (h2c, prior
// knowledge): text and binary messages of the sizes around every frame
// length boundary, up to 1 MiB, come back byte-exact; the request really
// went over HTTP/2; a ping is answered; the client's close handshake with
// a code reaches the server, which ends the stream.
func TestEchoH2C(t *testing.T) {
	errs := make(chan error, 1)
	s := newServer(t, echo(bigLimit, errs), false, nil)
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	c, resp, err := d.Dial(ctx, s.wsURL("/echo"), &conn.DialOptions{ReadLimit: 2 << 20})
	require.NoError(t, err)
	require.Equal(t, 2, resp.ProtoMajor)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, s.Listener.Addr().String(), c.RemoteAddr().String())

	echoAll(t, ctx, c)

	// Ping: a reader sees the pong.
	got := make(chan []byte, 1)
	go func() {
		_, p, _ := c.Read(ctx)
		got <- p
	}()
	require.NoError(t, c.Ping(ctx))
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte("after the ping")))
	require.Equal(t, "after the ping", string(<-got))

	require.NoError(t, c.Close(4000, "bye"))
	err = <-errs
	var ce conn.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, wsframe.CloseCode(4000), ce.Code)
	require.Equal(t, "bye", ce.Reason)
	require.Equal(t, int32(1), s.conns.Load())
}

// TestServerCloses: the server's close handshake (code and reason) reaches
// the client's read, which answers it; the server's Close returns nil.
func TestServerCloses(t *testing.T) {
	closed := make(chan error, 1)
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			closed <- err
			return
		}
		defer c.CloseNow()
		if err := c.Write(r.Context(), conn.MessageText, []byte("going")); err != nil {
			closed <- err
			return
		}
		closed <- c.Close(4001, "server done")
	}), false, nil)
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	c, _, err := d.Dial(ctx, s.wsURL("/"), nil)
	require.NoError(t, err)
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "going", string(msg))
	_, _, err = c.Read(ctx)
	require.Equal(t, wsframe.CloseCode(4001), conn.CloseCode(err))
	var ce conn.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "server done", ce.Reason)
	require.NoError(t, <-closed)
	<-c.Done()
}

// TestSameHandlerHTTP1: the handler that serves HTTP/2 serves an HTTP/1.1
// upgrade (conn.Dial) on the same server too.
func TestSameHandlerHTTP1(t *testing.T) {
	s := newServer(t, echo(nil, nil), false, nil)
	ctx := ctxT(t)
	c, resp, err := conn.Dial(ctx, s.wsURL("/"), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte("h1")))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "h1", string(msg))
	require.NoError(t, c.Close(wsframe.CloseNormal, ""))
}

// TestDeflateAndSubprotocol: permessage-deflate (with context takeover)
// and the subprotocol are negotiated with the usual headers over HTTP/2;
// compressed messages of every size echo byte-exact.
func TestDeflateAndSubprotocol(t *testing.T) {
	for _, mode := range []conn.CompressionMode{conn.CompressionContextTakeover, conn.CompressionNoContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			s := newServer(t, echo(&conn.AcceptOptions{
				ReadLimit:    2 << 20,
				Compression:  mode,
				Subprotocols: []string{"chat.v2", "chat.v1"},
			}, nil), false, nil)
			ctx := ctxT(t)
			var d h2.Dialer
			defer d.CloseIdleConnections()
			c, resp, err := d.Dial(ctx, s.wsURL("/"), &conn.DialOptions{
				ReadLimit:    2 << 20,
				Compression:  mode,
				Subprotocols: []string{"chat.v1", "chat.v2"},
			})
			require.NoError(t, err)
			require.Contains(t, resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
			require.Equal(t, "chat.v2", c.Subprotocol())
			echoAll(t, ctx, c)
			require.NoError(t, c.Close(wsframe.CloseNormal, ""))
		})
	}
}

// TestRefusals: the Origin policy answers 403 and a wrong version 400 with
// "Sec-WebSocket-Version: 13", over HTTP/2; an unsupported :protocol gets
// 501; each time Accept returns a *handshake.RequestError and the client a
// *handshake.ResponseError with the status and the reason in the body.
func TestRefusals(t *testing.T) {
	errs := make(chan error, 1)
	s := newServer(t, echo(nil, errs), false, nil)
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()

	_, resp, err := d.Dial(ctx, s.wsURL("/"), &conn.DialOptions{
		HTTPHeader: http.Header{"Origin": {"https://evil.example"}},
	})
	var re *handshake.ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor)
	require.Contains(t, string(re.Body), "cross-origin")
	var qe *handshake.RequestError
	require.ErrorAs(t, <-errs, &qe)
	require.Equal(t, http.StatusForbidden, qe.Status)

	// Requests our Dialer would not send: through x/net's Transport directly.
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	send := func(protocol, version string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, http.MethodConnect, s.URL+"/", nil)
		require.NoError(t, err)
		req.Header[":protocol"] = []string{protocol}
		if version != "" {
			req.Header.Set("Sec-WebSocket-Version", version)
		}
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp = send("websocket", "8")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "13", resp.Header.Get("Sec-WebSocket-Version"))
	require.ErrorAs(t, <-errs, &qe)
	require.Equal(t, http.StatusBadRequest, qe.Status)

	resp = send("websocket", "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	<-errs

	resp = send("not-websocket", "13")
	require.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	require.ErrorAs(t, <-errs, &qe)
	require.Equal(t, http.StatusNotImplemented, qe.Status)
	require.Contains(t, qe.Reason, ":protocol")
}

// TestMultiplex: 100 WebSockets dialled at once share one HTTP/2
// connection (the server accepts one TCP connection) and all echo
// correctly, concurrently.
func TestMultiplex(t *testing.T) {
	const n = 100
	s := newServer(t, echo(nil, nil), false, nil)
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	// The first WebSocket opens the connection; the rest share it.
	first, _, err := d.Dial(ctx, s.wsURL("/"), nil)
	require.NoError(t, err)
	defer first.CloseNow()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				c, _, err := d.Dial(ctx, s.wsURL(fmt.Sprintf("/%d", i)), nil)
				if err != nil {
					return err
				}
				defer c.CloseNow()
				for j := range 20 {
					want := fmt.Sprintf("ws %d message %d %s", i, j, strings.Repeat("x", i*j))
					if err := c.Write(ctx, conn.MessageText, []byte(want)); err != nil {
						return err
					}
					_, got, err := c.Read(ctx)
					if err != nil {
						return err
					}
					if string(got) != want {
						return fmt.Errorf("ws %d: got %q, want %q", i, got, want)
					}
				}
				return c.Close(wsframe.CloseNormal, "")
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), s.conns.Load(), "the WebSockets did not share one HTTP/2 connection")
}

// TestSlowReader: a client that does not read a stream the server pushes
// into (more than the flow-control windows and buffers can hold) stalls
// only that stream: other WebSockets on the same HTTP/2 connection echo
// meanwhile, the server's pusher is held back by flow control, and once
// the slow client reads, every pushed message arrives intact.
func TestSlowReader(t *testing.T) {
	const total, size = 256, 64 << 10 // 16 MiB: more than the 4 MiB stream window
	var pushed atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("/echo", echo(nil, nil))
	mux.HandleFunc("/push", func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for i := range total {
			msg := bytes.Repeat([]byte{byte(i)}, size)
			if c.Write(context.Background(), conn.MessageBinary, msg) != nil {
				return
			}
			pushed.Add(1)
		}
		c.Read(context.Background()) // until the client closes
	})
	s := newServer(t, mux, false, nil)
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	slow, _, err := d.Dial(ctx, s.wsURL("/push"), nil)
	require.NoError(t, err)
	defer slow.CloseNow()

	for i := range 10 {
		c, _, err := d.Dial(ctx, s.wsURL("/echo"), nil)
		require.NoError(t, err)
		for j := range 10 {
			want := bytes.Repeat([]byte{byte(i), byte(j)}, 20000)
			require.NoError(t, c.Write(ctx, conn.MessageBinary, want))
			_, got, err := c.Read(ctx)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got))
		}
		require.NoError(t, c.Close(wsframe.CloseNormal, ""))
	}
	require.Less(t, pushed.Load(), int32(total), "the pusher was not held back by flow control")

	for i := range total {
		_, got, err := slow.Read(ctx)
		require.NoError(t, err)
		require.True(t, bytes.Equal(bytes.Repeat([]byte{byte(i)}, size), got), "pushed message %d", i)
	}
	require.NoError(t, slow.Close(wsframe.CloseNormal, ""))
	require.Equal(t, int32(1), s.conns.Load())
}

// TestTLS: wss over TLS with ALPN h2 and an in-test certificate; two
// WebSockets share the connection.
func TestTLS(t *testing.T) {
	s := newServer(t, echo(bigLimit, nil), true, nil)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	d := h2.Dialer{TLSConfig: &tls.Config{RootCAs: pool}}
	defer d.CloseIdleConnections()
	ctx := ctxT(t)
	url := "wss" + strings.TrimPrefix(s.URL, "https") + "/"
	for range 2 {
		c, resp, err := d.Dial(ctx, url, &conn.DialOptions{ReadLimit: 2 << 20})
		require.NoError(t, err)
		require.Equal(t, 2, resp.ProtoMajor)
		require.NotNil(t, resp.TLS)
		require.Equal(t, "h2", resp.TLS.NegotiatedProtocol)
		echoAll(t, ctx, c)
		require.NoError(t, c.Close(wsframe.CloseNormal, ""))
	}
	require.Equal(t, int32(1), s.conns.Load())
}

// TestWriteTimeoutFails: over HTTP/2 a write cut short by its context
// (here, blocked by a client that does not read) cannot be resumed: the
// stream is reset and the Conn fails with 1011, as over TLS.
func TestWriteTimeoutFails(t *testing.T) {
	result := make(chan error, 1)
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			result <- err
			return
		}
		defer c.CloseNow()
		msg := make([]byte, 1<<20)
		for range 1000 { // the client's 4 MiB window fills within a few
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := c.Write(ctx, conn.MessageBinary, msg)
			cancel()
			if err != nil && conn.CloseCode(err) == 0 && errors.Is(err, context.DeadlineExceeded) {
				continue // ended before the write began: no trace, try again
			}
			if err != nil {
				result <- err
				<-c.Done()
				return
			}
		}
		result <- errors.New("1000 MiB written to a client that does not read")
	}), false, nil)
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	c, _, err := d.Dial(ctx, s.wsURL("/"), nil)
	require.NoError(t, err)
	defer c.CloseNow()
	err = <-result
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, wsframe.CloseInternalError, conn.CloseCode(err))
}

// TestUnsupportedServer: against a server without extended CONNECT (no
// GODEBUG=http2xconnect=1), Dial fails with ErrExtendedConnectUnsupported.
// It runs in a child process with http2xconnect=0.
func TestUnsupportedServer(t *testing.T) {
	if xconnect() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnsupportedServer$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=0")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		require.NoError(t, err)
		require.Contains(t, string(out), "--- PASS: TestUnsupportedServer")
		return
	}
	s := newServer(t, echo(nil, nil), false, nil)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	_, _, err := d.Dial(ctxT(t), s.wsURL("/"), nil)
	require.ErrorIs(t, err, conn.ErrExtendedConnectUnsupported)
	t.Log(err)

	// With FallbackHTTP1 the same server serves it over HTTP/1.1.
	fb := h2.Dialer{FallbackHTTP1: true}
	defer fb.CloseIdleConnections()
	c, resp, err := fb.Dial(ctxT(t), s.wsURL("/"), nil)
	require.NoError(t, err)
	require.Equal(t, 1, resp.ProtoMajor)
	echoAll(t, ctxT(t), c)
	require.NoError(t, c.Close(wsframe.CloseNormal, ""))
}

// TestFallbackNoH2: a TLS server that does not choose h2 in ALPN (an
// HTTP/1.1-only server) does not offer WebSockets over HTTP/2: Dial says
// so, or falls back to HTTP/1.1 when asked to.
func TestFallbackNoH2(t *testing.T) {
	ts := httptest.NewUnstartedServer(echo(nil, nil))
	ts.EnableHTTP2 = false
	ts.StartTLS() // ALPN: http/1.1 only
	t.Cleanup(ts.Close)
	u := "wss" + strings.TrimPrefix(ts.URL, "https") + "/"
	cfg := &tls.Config{RootCAs: x509.NewCertPool()}
	cfg.RootCAs.AddCert(ts.Certificate())

	d := h2.Dialer{TLSConfig: cfg}
	defer d.CloseIdleConnections()
	_, _, err := d.Dial(ctxT(t), u, nil)
	require.ErrorIs(t, err, conn.ErrExtendedConnectUnsupported)
	require.Contains(t, err.Error(), `"http/1.1"`)

	fb := h2.Dialer{TLSConfig: cfg, FallbackHTTP1: true}
	defer fb.CloseIdleConnections()
	c, resp, err := fb.Dial(ctxT(t), u, nil)
	require.NoError(t, err)
	require.Equal(t, 1, resp.ProtoMajor)
	echoAll(t, ctxT(t), c)
	require.NoError(t, c.Close(wsframe.CloseNormal, ""))
}

// TestSlowServerReader: a handler that stops reading while its client
// keeps sending holds back only that stream, when the server's
// per-connection receive buffer is larger than its per-stream one (with
// net/http's defaults, 1 MiB each, one such handler would hold back the
// whole connection: see "HTTP/2" in package conn). The client's writer is
// held back by flow control; once the handler reads, everything arrives
// intact.
func TestSlowServerReader(t *testing.T) {
	// 4 MiB, far beyond what can be in flight: the 256 KiB stream buffer,
	// the Transport's frame buffer and the Conn's 16 KiB read-ahead.
	const total, size = 16, 256 << 10
	release := make(chan struct{})
	sunk := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("/echo", echo(nil, nil))
	mux.HandleFunc("/sink", func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			sunk <- err
			return
		}
		defer c.CloseNow()
		<-release
		sunk <- func() error {
			for i := range total {
				_, got, err := c.Read(context.Background())
				if err != nil {
					return err
				}
				if !bytes.Equal(bytes.Repeat([]byte{byte(i)}, size), got) {
					return fmt.Errorf("message %d differs", i)
				}
			}
			return nil
		}()
		c.Read(context.Background()) // the client's close
	})
	s := newServer(t, mux, false, &http.HTTP2Config{
		MaxReceiveBufferPerStream:     256 << 10,
		MaxReceiveBufferPerConnection: 64 << 20,
	})
	ctx := ctxT(t)
	var d h2.Dialer
	defer d.CloseIdleConnections()
	sink, _, err := d.Dial(ctx, s.wsURL("/sink"), nil)
	require.NoError(t, err)
	defer sink.CloseNow()
	var sent atomic.Int32
	writerDone := make(chan error, 1)
	go func() {
		for i := range total {
			if err := sink.Write(ctx, conn.MessageBinary, bytes.Repeat([]byte{byte(i)}, size)); err != nil {
				writerDone <- err
				return
			}
			sent.Add(1)
		}
		writerDone <- nil
	}()

	for i := range 10 {
		c, _, err := d.Dial(ctx, s.wsURL("/echo"), nil)
		require.NoError(t, err)
		for j := range 10 {
			want := bytes.Repeat([]byte{byte(i), byte(j)}, 5000)
			require.NoError(t, c.Write(ctx, conn.MessageBinary, want))
			_, got, err := c.Read(ctx)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got))
		}
		require.NoError(t, c.Close(wsframe.CloseNormal, ""))
	}
	require.Less(t, sent.Load(), int32(total), "the writer was not held back by flow control")
	close(release)
	require.NoError(t, <-writerDone)
	require.NoError(t, <-sunk)
	require.NoError(t, sink.Close(wsframe.CloseNormal, ""))
	require.Equal(t, int32(1), s.conns.Load())
}

// TestStdTransportRefused: net/http's Transport, even speaking HTTP/2,
// refuses the :protocol pseudo-header; DialExtendedConnect says so and
// points to this package.
func TestStdTransportRefused(t *testing.T) {
	s := newServer(t, echo(nil, nil), false, nil)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	_, _, err := conn.DialExtendedConnect(ctxT(t), tr, s.wsURL("/"), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "ws6455/h2")
	t.Log(err)
}
