package suite

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/autobahn/report"
)

// Server is the suite in fuzzing-server mode: an http.Handler that tests
// WebSocket clients which speak the real suite's control protocol:
//
//   - /getCaseCount: the suite sends one text message with the number of
//     cases and closes.
//   - /runCase?case=N&agent=A: the suite runs case N (1-based, in catalogue
//     order of the selected cases) against the connecting client, playing
//     the server (unmasked frames out, masked frames expected in); the
//     client is meant to echo every message.
//   - /updateReports?agent=A: the suite writes the reports of agent A.
//
// A client written for the real suite works unchanged.
type Server struct {
	cases  []*Case
	outDir string
	opts   *Options
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts hijacked connections; running counts /runCase
	// connections whose result is not recorded yet.
	wg      sync.WaitGroup
	running sync.WaitGroup

	// reportMu serialises report writing (two agents may ask at once).
	reportMu sync.Mutex

	mu      sync.Mutex
	results map[string]map[string]*Result
	done    int
}

// NewServer returns a fuzzing server for cases (nil: the whole catalogue)
// that writes reports under outDir.
func NewServer(cases []*Case, outDir string, opts *Options) *Server {
	if cases == nil {
		cases = Cases()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cases: cases, outDir: outDir, opts: opts.orDefault(), ctx: ctx, cancel: cancel,
		results: map[string]map[string]*Result{}}
}

// Close stops the cases that are running and waits for them.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

// Results returns the results recorded so far for agent, in case order.
func (s *Server) Results(agent string) []*Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Result
	for _, r := range s.results[agent] {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Result) int { return report.CompareCaseIDs(a.ID, b.ID) })
	return out
}

// control is the pseudo-case the suite runs on /getCaseCount and
// /updateReports: send an optional message, then close.
func control(msg string) *Case {
	return &Case{ID: "control", open: func(r *run) {
		r.expClose = expectedClose{ClosedByMe: true, CloseCodes: []int{1000}}
		if msg != "" {
			r.sendMessage([]byte(msg), false, 0)
		}
		r.sendCloseFrame(nil, nil, false)
	}}
}

// waitRunning waits, at most d, until every case under way has recorded
// its result.
func (s *Server) waitRunning(d time.Duration) {
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// ServeHTTP implements the control protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// Over HTTP/2 a client opens the WebSocket with an extended CONNECT
	// (RFC 8441); the stream then carries the frames (see h2.go).
	h2 := req.ProtoMajor == 2
	var key string
	var err error
	if h2 {
		err = checkExtendedConnect(req)
	} else {
		key, err = checkUpgrade(req)
	}
	if err != nil {
		he := err.(*serverHandshakeError)
		if he.status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, he.msg, he.status)
		return
	}
	q := req.URL.Query()
	agent := q.Get("agent")
	var c *Case
	var index int
	switch req.URL.Path {
	case "/getCaseCount":
		c = control(strconv.Itoa(len(s.cases)))
	case "/updateReports":
		if agent == "" {
			http.Error(w, "updateReports needs an agent", http.StatusBadRequest)
			return
		}
		// A client calls this right after its last case; that case's
		// result may still be on its way.
		s.waitRunning(30 * time.Second)
		s.reportMu.Lock()
		err := WriteReports(s.outDir, agent, s.Results(agent))
		s.reportMu.Unlock()
		if err != nil {
			http.Error(w, "writing reports: "+err.Error(), http.StatusInternalServerError)
			return
		}
		c = control("")
	case "/runCase":
		n, err := strconv.Atoi(q.Get("case"))
		if err != nil || n < 1 || n > len(s.cases) {
			http.Error(w, fmt.Sprintf("case must be a number from 1 to %d", len(s.cases)), http.StatusBadRequest)
			return
		}
		if agent == "" {
			http.Error(w, "runCase needs an agent", http.StatusBadRequest)
			return
		}
		c, index = s.cases[n-1], n
		if s.opts.Skip != nil && s.opts.Skip(agent, c.ID) {
			// Excluded for this agent: accept and close at once,
			// recording nothing, as the real suite does.
			c, index = control(""), 0
			break
		}
		s.running.Add(1)
		defer s.running.Done()
	default:
		http.Error(w, "unknown path; use /getCaseCount, /runCase or /updateReports", http.StatusNotFound)
		return
	}

	var params *deflateParams
	if c.deflate != nil && c.deflate.accept != nil {
		offers, err := parseClientOffers(strings.Join(req.Header.Values("Sec-WebSocket-Extensions"), ","))
		if err == nil {
			for _, o := range offers {
				if p, ok := c.deflate.accept(o); ok {
					params = &p
					break
				}
			}
		}
	}
	if h2 {
		s.serveH2(w, req, c, index, agent, params)
		return
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nServer: " + userAgent + "\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	if params != nil {
		resp += "Sec-WebSocket-Extensions: " + params.header() + "\r\n"
	}
	if p := chooseProtocol(req.Header.Values("Sec-WebSocket-Protocol"), s.opts.Protocols); p != "" {
		resp += "Sec-WebSocket-Protocol: " + p + "\r\n"
	}
	resp += "\r\n"

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take over the connection", http.StatusInternalServerError)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	nc.SetDeadline(time.Time{})
	var leftover []byte
	if n := brw.Reader.Buffered(); n > 0 {
		leftover, _ = brw.Reader.Peek(n)
		leftover = append([]byte(nil), leftover...)
	}
	r := newRun(s.ctx, c, nc, true, s.opts.Timeouts)
	var raw strings.Builder
	req.Write(&raw)
	r.httpRequest = raw.String()
	r.httpResponse = resp
	r.log("RO", hexData([]byte(r.httpRequest)))
	r.log("TO", hexData([]byte(resp)), false)
	if _, err := nc.Write([]byte(resp)); err != nil {
		r.finish()
		return
	}
	if params != nil {
		r.pmd = newPMD(*params, true)
	}
	r.loop(leftover)
	r.finish()
	s.record(r, index, agent)
}

// record keeps the result of a finished case (index 0: a control
// connection, nothing to keep).
func (s *Server) record(r *run, index int, agent string) {
	if index == 0 {
		return
	}
	res := r.toResult(index, agent)
	s.mu.Lock()
	if s.results[agent] == nil {
		s.results[agent] = map[string]*Result{}
	}
	s.results[agent][r.c.ID] = res
	s.done++
	done := s.done
	if s.opts.Progress != nil {
		s.opts.Progress(done, len(s.cases), res)
	}
	s.mu.Unlock()
}

// chooseProtocol returns the first subprotocol the client offers (in
// header order) that accepted holds, or "".
func chooseProtocol(offered, accepted []string) string {
	for _, v := range offered {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" && slices.Contains(accepted, p) {
				return p
			}
		}
	}
	return ""
}
