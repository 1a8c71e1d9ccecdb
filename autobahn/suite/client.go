package suite

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/ws6455/ws6455/autobahn/report"
)

// Options configure a run in either role. The zero value is usable.
type Options struct {
	// Agent names the implementation under test in the reports
	// (fuzzing-client mode; a fuzzing server takes it from the client).
	Agent string
	// Parallel is how many cases run at once (fuzzing-client mode);
	// 0 means the number of CPUs, 1 runs them one by one.
	Parallel int
	// Timeouts are the protocol engine's waits.
	Timeouts Timeouts
	// Progress, when set, is called after each case (from any goroutine,
	// one call at a time) with the number of cases done and the total.
	Progress func(done, total int, res *Result)
	// Dial, when set, replaces the TCP dialer (tests, proxies).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Origin, when set, is sent as the Origin header (fuzzing-client mode).
	Origin string
	// Protocols are the subprotocols the suite offers in fuzzing-client
	// mode, or accepts in fuzzing-server mode (the first one the client
	// offers that is in this list is chosen).
	Protocols []string
	// HTTP2 runs each case as a stream of an HTTP/2 connection, opened
	// with an extended CONNECT (RFC 8441), in fuzzing-client mode: ws://
	// URLs use cleartext HTTP/2 with prior knowledge (h2c), wss:// URLs
	// TLS with ALPN h2. The server must advertise
	// SETTINGS_ENABLE_CONNECT_PROTOCOL. A fuzzing server (NewServer)
	// needs no option: it serves extended CONNECTs that reach it over
	// HTTP/2.
	HTTP2 bool
	// Skip, when set, is asked for every case a client requests in
	// fuzzing-server mode: when it returns true the suite closes the
	// connection at once and records nothing for that case (the real
	// suite's exclude-agent-cases).
	Skip func(agent, caseID string) bool
}

func (o *Options) orDefault() *Options {
	if o == nil {
		return &Options{}
	}
	return o
}

// RunCase runs one case against the WebSocket server at wsURL (ws://...)
// with the suite as the client, and returns its result; index is the
// case's position in the run, for the report. Failures to connect or to
// complete the opening handshake are results too (FAILED), not errors.
func RunCase(ctx context.Context, wsURL string, c *Case, index int, opts *Options) *Result {
	opts = opts.orDefault()
	if opts.HTTP2 {
		return runCaseH2(ctx, wsURL, c, index, opts, nil)
	}
	addr, host, target, err := parseWSURL(wsURL)
	if err != nil {
		return failedResult(c, index, opts.Agent, err)
	}
	to := opts.Timeouts.withDefaults()
	dctx, cancel := context.WithTimeout(ctx, to.Open)
	dial := opts.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(dctx, "tcp", addr)
	if err == nil && isWSS(wsURL) {
		// Like the real suite, the suite does not check the server's
		// certificate: it tests the WebSocket layer, not the PKI.
		tc := tls.Client(nc, &tls.Config{ServerName: hostOnly(host), InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err = tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			err = fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	cancel()
	if err != nil {
		return failedResult(c, index, opts.Agent, fmt.Errorf("connecting to %s: %w", addr, err))
	}
	r := newRun(ctx, c, nc, false, opts.Timeouts)
	r.origin, r.protocols = opts.Origin, opts.Protocols
	var offers []deflateOffer
	if c.deflate != nil {
		offers = c.deflate.offers
	}
	rest, params, err := clientHandshake(ctx, nc, host, target, offers, r)
	if err != nil {
		r.finish()
		res := r.toResult(index, opts.Agent)
		res.Behavior, res.BehaviorClose = report.Failed, report.CloseFailed
		res.Result = "The opening handshake failed: " + err.Error()
		res.ResultClose = res.Result
		return res
	}
	if params != nil {
		r.pmd = newPMD(*params, false)
	}
	r.loop(rest)
	r.finish()
	return r.toResult(index, opts.Agent)
}

// isWSS reports whether a URL that parseWSURL accepted is wss://.
func isWSS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "wss"
}

// hostOnly strips the port from a Host header value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

func failedResult(c *Case, index int, agent string, err error) *Result {
	return &Result{
		Case: index, ID: c.ID, Description: c.Description, Expectation: c.Expectation, Agent: agent,
		Started:  time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		Behavior: report.Failed, BehaviorClose: report.CloseFailed,
		Result: err.Error(), ResultClose: err.Error(),
		Expected: map[string][][]any{}, Received: [][]any{}, Wirelog: []any{},
		ExpectedClose: map[string]any{}, RxFrameStats: map[string]int{}, TxFrameStats: map[string]int{},
	}
}

// FuzzingClient runs cases against the server at wsURL, like the real
// suite's fuzzingclient mode, with up to opts.Parallel cases at once, and
// returns the results in case order. It stops early, with ctx's error,
// when ctx is cancelled.
func FuzzingClient(ctx context.Context, wsURL string, cases []*Case, opts *Options) ([]*Result, error) {
	opts = opts.orDefault()
	if _, _, _, err := parseWSURL(wsURL); err != nil {
		return nil, err
	}
	par := opts.Parallel
	if par <= 0 {
		par = runtime.NumCPU()
	}
	var h2c *h2Client
	if opts.HTTP2 {
		// One HTTP/2 connection carries every case, each on a stream.
		h2c = newH2Client(wsURL, opts.Dial)
		defer h2c.close()
	}
	results := make([]*Result, len(cases))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range min(par, max(len(cases), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var res *Result
				if h2c != nil {
					res = runCaseH2(ctx, wsURL, cases[i], i+1, opts, h2c)
				} else {
					res = RunCase(ctx, wsURL, cases[i], i+1, opts)
				}
				results[i] = res
				if opts.Progress != nil {
					mu.Lock()
					done++
					opts.Progress(done, len(cases), res)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range cases {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}
