package labserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// Bounds of a measurement run.
const (
	maxMessages = 2000
	maxEvery    = time.Second
	// maxRunTime bounds how long a run's schedule lasts (n × every).
	maxRunTime = time.Minute
	// longPollWait is how long a long poll waits for a message before it
	// answers with none (the client asks again at once).
	longPollWait = 20 * time.Second
	// sseLinger is how long an event stream stays open after its last
	// message for the client to close it (else EventSource reconnects).
	sseLinger = 10 * time.Second
)

// transports are the ways a run can deliver its messages.
var transports = map[string]bool{"ws": true, "sse": true, "poll": true, "longpoll": true}

// run is one measurement: n messages, one every `every`, over one
// transport, and what their delivery cost.
type run struct {
	id        string
	transport string
	n         int
	every     time.Duration

	mu       sync.Mutex
	started  time.Time // when the client first asked for messages
	requests int
	up, down int64 // bytes client→server and server→client
	counted  string
	payload  int64 // bytes of messages delivered (each counted once)
	sent     int   // messages handed to the client's connection
	conns    map[*countConn]struct{}
}

// messageLen is the length of message i: 30 to 60 bytes.
func messageLen(i int) int { return 30 + i*37%31 }

// message returns message i, stamped with ts: "i ts_µs pad".
func message(i int, ts time.Time) []byte {
	b := fmt.Appendf(nil, "%d %d ", i, ts.UnixMicro())
	for len(b) < messageLen(i) {
		b = append(b, byte('a'+len(b)%26))
	}
	return b
}

func (rn *run) addBytes(up, down int64, how string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.up += up
	rn.down += down
	if rn.counted == "" || how == "estimate" {
		rn.counted = how
	}
}

func (rn *run) addConn(c *countConn) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.conns[c] = struct{}{}
}

// start marks the run as started (its schedule begins), once; it reports
// whether this call did.
func (rn *run) start() bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if !rn.started.IsZero() {
		return false
	}
	rn.started = time.Now()
	return true
}

// due returns when message i is produced.
func (rn *run) due(i int) time.Time {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.started.Add(time.Duration(i) * rn.every)
}

// available returns how many messages have been produced by now.
func (rn *run) available(now time.Time) int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.every == 0 {
		return rn.n
	}
	return min(rn.n, int(now.Sub(rn.started)/rn.every)+1)
}

// delivered notes that messages [from, to) went out.
func (rn *run) delivered(from, to int) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	for i := max(from, rn.sent); i < to; i++ {
		rn.payload += int64(messageLen(i))
	}
	rn.sent = max(rn.sent, to)
}

// runOf returns the run that a measurement request belongs to, or nil.
func (s *Server) runOf(r *http.Request) *run {
	switch r.URL.Path {
	case "/measure/ws", "/measure/sse", "/measure/poll", "/measure/longpoll":
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[r.URL.Query().Get("run")]
}

// lookupRun returns the run named by the request, or answers 404.
func (s *Server) lookupRun(w http.ResponseWriter, r *http.Request, transport string) *run {
	s.mu.Lock()
	rn := s.runs[r.URL.Query().Get("run")]
	s.mu.Unlock()
	if rn == nil || transport != "" && rn.transport != transport {
		http.Error(w, "unknown run: start one with POST measure/start", http.StatusNotFound)
		return nil
	}
	if cc := countingConnFrom(r.Context()); cc == nil || r.ProtoMajor != 1 {
		// Not counted on the socket: estimate, from what net/http shows.
		rn.addBytes(requestHeadSize(r), 0, "estimate")
	}
	rn.mu.Lock()
	rn.requests++
	rn.mu.Unlock()
	return rn
}

// estimating wraps w to estimate the response's size when the connection
// is not counted; finish must be called when the handler is done.
func estimating(w http.ResponseWriter, r *http.Request, rn *run) (http.ResponseWriter, func()) {
	if cc := countingConnFrom(r.Context()); cc != nil && r.ProtoMajor == 1 {
		return w, func() {}
	}
	e := &estimateWriter{ResponseWriter: w, rn: rn}
	return e, e.finish
}

// serveClock answers the server's clock in Unix microseconds, for the
// page to estimate the offset between its clock and the server's.
func (s *Server) serveClock(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, time.Now().UnixMicro())
}

// serveStart creates a run: POST measure/start?transport=ws&n=200&every=20
// (every in milliseconds). It answers {"run": id}.
func (s *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	transport := q.Get("transport")
	if !transports[transport] {
		http.Error(w, "transport must be ws, sse, poll or longpoll", http.StatusBadRequest)
		return
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 1 || n > maxMessages {
		http.Error(w, fmt.Sprintf("n must be a number of messages from 1 to %d", maxMessages), http.StatusBadRequest)
		return
	}
	every, err := strconv.Atoi(q.Get("every"))
	if err != nil || every < 0 || time.Duration(every)*time.Millisecond > maxEvery {
		http.Error(w, fmt.Sprintf("every must be a number of milliseconds from 0 to %d", maxEvery.Milliseconds()), http.StatusBadRequest)
		return
	}
	if time.Duration(n*every)*time.Millisecond > maxRunTime {
		http.Error(w, fmt.Sprintf("n × every must be at most %d ms", maxRunTime.Milliseconds()), http.StatusBadRequest)
		return
	}
	rn := &run{id: newID(), transport: transport, n: n, every: time.Duration(every) * time.Millisecond, conns: make(map[*countConn]struct{})}
	s.mu.Lock()
	s.runs[rn.id] = rn
	s.order = append(s.order, rn.id)
	for len(s.order) > s.cfg.MaxRuns {
		delete(s.runs, s.order[0])
		s.order = s.order[1:]
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"run": rn.id})
}

// pace waits until message i is due; it reports false if the wait was
// cut short by ctx or by Shutdown.
func (s *Server) pace(ctx context.Context, rn *run, i int) bool {
	d := time.Until(rn.due(i))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.quit:
		return false
	}
}

// serveStreamWS delivers a run over a WebSocket: one text message each,
// then a close with 1000.
func (s *Server) serveStreamWS(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	rn := s.lookupRun(w, r, "ws")
	if rn == nil {
		return
	}
	w, finish := estimating(w, r, rn)
	defer finish()
	if !rn.start() {
		http.Error(w, "this run has started already", http.StatusConflict)
		return
	}
	c, err := s.accept(w, r, &conn.AcceptOptions{ReadLimit: 1024, CloseTimeout: s.cfg.CloseTimeout})
	if err != nil {
		return
	}
	defer c.CloseNow()
	// The schedule starts once the socket is open: the handshake is the
	// connection's setup, as the TCP handshake is for the others.
	rn.mu.Lock()
	rn.started = time.Now()
	rn.mu.Unlock()
	// Somebody must read for the close handshake (and pings) to work.
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rn.n)*rn.every+time.Minute)
	defer cancel()
	for i := range rn.n {
		if !s.pace(ctx, rn, i) {
			return
		}
		// Noted first: the client may ask for the result as soon as it
		// has the message.
		rn.delivered(i, i+1)
		if err := c.Write(ctx, conn.MessageText, message(i, rn.due(i))); err != nil {
			return
		}
	}
	c.Close(wsframe.CloseNormal, "run complete")
}

// serveSSE delivers a run as Server-Sent Events: one event each.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	rn := s.lookupRun(w, r, "sse")
	if rn == nil {
		return
	}
	w, finish := estimating(w, r, rn)
	defer finish()
	if !rn.start() {
		// EventSource reconnects by itself when a stream ends: 204 tells
		// it to stop.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	ctx := r.Context()
	for i := range rn.n {
		if !s.pace(ctx, rn, i) {
			return
		}
		rn.delivered(i, i+1) // first: see serveStreamWS
		fmt.Fprintf(w, "data: %s\n\n", message(i, rn.due(i)))
		if rc.Flush() != nil {
			return
		}
	}
	t := time.NewTimer(sseLinger)
	defer t.Stop()
	select { // the client closes the stream when it has everything
	case <-ctx.Done():
	case <-t.C:
	case <-s.quit:
	}
}

// servePoll answers a short poll at once: the messages produced since
// "after", one per line (none: an empty body).
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	s.answerPoll(w, r, "poll", 0)
}

// serveLongPoll answers a long poll: it waits until a message after
// "after" is produced (or longPollWait passed), then answers as a short
// poll does.
func (s *Server) serveLongPoll(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	s.answerPoll(w, r, "longpoll", longPollWait)
}

func (s *Server) answerPoll(w http.ResponseWriter, r *http.Request, transport string, wait time.Duration) {
	rn := s.lookupRun(w, r, transport)
	if rn == nil {
		return
	}
	w, finish := estimating(w, r, rn)
	defer finish()
	after, err := strconv.Atoi(r.URL.Query().Get("after"))
	if err != nil || after < 0 {
		http.Error(w, "after must be the number of messages received so far", http.StatusBadRequest)
		return
	}
	rn.start()
	if wait > 0 && after < rn.n && rn.available(time.Now()) <= after {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		s.pace(ctx, rn, after)
		cancel()
	}
	now := time.Now()
	k := rn.available(now)
	var b strings.Builder
	for i := after; i < k; i++ {
		// Every message is stamped with when it was produced (due): the
		// time it waited for a poll is part of its latency.
		b.Write(message(i, rn.due(i)))
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	if k > after {
		rn.delivered(after, k) // first: see serveStreamWS
	}
	io.WriteString(w, b.String())
}

// Result is what a run cost, as measure/result answers it.
type Result struct {
	Transport string `json:"transport"` // ws, sse, poll or longpoll
	Messages  int    `json:"messages"`  // messages in the run
	Delivered int    `json:"delivered"` // messages sent to the client so far
	Requests  int    `json:"requests"`  // HTTP requests of the run (a WebSocket handshake is one)
	// Up and Down are bytes client→server and server→client, headers,
	// handshakes and framing included.
	Up      int64 `json:"up"`
	Down    int64 `json:"down"`
	Payload int64 `json:"payload"` // message bytes delivered
	// Counted is "socket" (TCP payload bytes counted on the connection)
	// or "estimate" (from the requests and responses as net/http shows
	// them).
	Counted string `json:"counted"`
}

// serveResult answers a run's Result.
func (s *Server) serveResult(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rn := s.runs[r.URL.Query().Get("run")]
	s.mu.Unlock()
	if rn == nil {
		http.Error(w, "unknown run", http.StatusNotFound)
		return
	}
	rn.mu.Lock()
	conns := make([]*countConn, 0, len(rn.conns))
	for c := range rn.conns {
		conns = append(conns, c)
	}
	rn.mu.Unlock()
	for _, c := range conns {
		c.settle(rn) // the last responses' bytes
	}
	rn.mu.Lock()
	res := Result{Transport: rn.transport, Messages: rn.n, Delivered: rn.sent, Requests: rn.requests,
		Up: rn.up, Down: rn.down, Payload: rn.payload, Counted: rn.counted}
	rn.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(res)
}
