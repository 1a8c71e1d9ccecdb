package labserver

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// Limits of the frame reports.
const (
	// shownBytes is how many payload bytes a frame report carries; the
	// page says how many more there were.
	shownBytes = 96
	// eventQueue bounds the reports waiting for a slow observer page;
	// beyond it reports are dropped (and the page told how many).
	eventQueue = 512
	// fragmentedSize is the size of the message the server sends in
	// fragments on request: conn's Writer sends a fragment each time its
	// 16 KiB buffer fills, so 40 000 bytes go out as three frames.
	fragmentedSize = 40000
	// observerTimeout bounds each write to the observer page.
	observerTimeout = 10 * time.Second
)

// websocketGUID is the constant of RFC 6455 §1.3 that the accept key hashes.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// session is one page: its observer socket and its current lab socket.
type session struct {
	id     string
	obs    *conn.Conn
	events chan []byte
	start  time.Time

	mu      sync.Mutex
	dropped int        // reports dropped since the last one sent
	lab     *conn.Conn // the current lab socket, or nil
	labGen  int        // bumped for each lab socket request, in arrival order
	labCur  int        // labGen of the request whose socket is lab

	// wmu serialises the messages the server writes on the lab socket, so
	// that the out counters below belong to one message.
	wmu       sync.Mutex
	outFrames int
	outWire   int64
	outRSV1   bool
}

// report queues an event for the observer page; it never blocks (the
// frame observer must not).
func (ss *session) report(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	select {
	case ss.events <- b:
	default:
		ss.mu.Lock()
		ss.dropped++
		ss.mu.Unlock()
	}
}

// ms is the time since the session began, in milliseconds.
func (ss *session) ms() float64 {
	return float64(time.Since(ss.start).Microseconds()) / 1000
}

// newID returns a random id of 16 hex digits.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveObserver serves the observer socket: it tells the page its session
// id, sends it the reports, and takes its commands.
func (s *Server) serveObserver(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	s.mu.Lock()
	full := len(s.sessions) >= s.cfg.MaxSessions
	s.mu.Unlock()
	if full {
		http.Error(w, "too many lab pages open at once; try again later", http.StatusServiceUnavailable)
		return
	}
	c, err := s.accept(w, r, &conn.AcceptOptions{ReadLimit: 4096, CloseTimeout: s.cfg.CloseTimeout})
	if err != nil {
		return
	}
	ss := &session{id: newID(), obs: c, events: make(chan []byte, eventQueue), start: time.Now()}
	s.mu.Lock()
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss.id)
		s.mu.Unlock()
		ss.mu.Lock()
		lab := ss.lab
		ss.mu.Unlock()
		if lab != nil {
			lab.Close(wsframe.CloseGoingAway, "observer gone")
		}
	}()
	ss.report(map[string]any{"type": "hello", "session": ss.id})

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeReports(ss)
	}()
	defer func() { <-writerDone }()

	for {
		_, msg, err := c.Read(context.Background())
		if err != nil {
			return
		}
		var cmd command
		if err := json.Unmarshal(msg, &cmd); err != nil {
			ss.report(info("bad command: " + err.Error()))
			continue
		}
		s.run(ss, cmd)
	}
}

// writeReports sends the session's reports until its observer socket ends.
func (s *Server) writeReports(ss *session) {
	for {
		select {
		case <-ss.obs.Done():
			return
		case b := <-ss.events:
			ss.mu.Lock()
			dropped := ss.dropped
			ss.dropped = 0
			ss.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), observerTimeout)
			if dropped > 0 {
				d, _ := json.Marshal(info(fmt.Sprintf("%d reports dropped: the page did not keep up", dropped)))
				ss.obs.Write(ctx, conn.MessageText, d)
			}
			err := ss.obs.Write(ctx, conn.MessageText, b)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// command is what the page asks of the server on the observer socket.
type command struct {
	// Cmd is "ping", "fragmented" or "close".
	Cmd    string `json:"cmd"`
	Text   string `json:"text"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func info(text string) map[string]any { return map[string]any{"type": "info", "text": text} }

// run carries out a command on the session's lab socket.
func (s *Server) run(ss *session, cmd command) {
	ss.mu.Lock()
	lab := ss.lab
	ss.mu.Unlock()
	if lab == nil {
		ss.report(info("no lab socket is open: connect first"))
		return
	}
	switch cmd.Cmd {
	case "ping":
		// Ping waits for the pong, which the lab socket's reader sees;
		// do not hold up the observer socket meanwhile.
		s.running.Add()
		go func() {
			defer s.running.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			t0 := time.Now()
			if err := lab.Ping(ctx); err != nil {
				ss.report(info("ping: " + err.Error()))
				return
			}
			ss.report(info(fmt.Sprintf("the browser answered the ping with a pong after %.2f ms (browsers answer pings themselves: page scripts can neither send nor see them)", float64(time.Since(t0).Microseconds())/1000)))
		}()
	case "fragmented":
		text := cmd.Text
		if text == "" {
			text = "fragment"
		}
		msg := []byte(strings.Repeat(text+" ", fragmentedSize/(len(text)+1)+1)[:fragmentedSize])
		if err := s.writeMessage(ss, lab, conn.MessageText, msg, true); err != nil {
			ss.report(info("fragmented message: " + err.Error()))
		}
	case "close":
		code := wsframe.CloseCode(cmd.Code)
		if cmd.Code == 0 {
			code = wsframe.CloseNormal
		}
		if !code.ValidOnWire() || len(cmd.Reason) > wsframe.MaxCloseReason {
			ss.report(info(fmt.Sprintf("close: code %d or reason (%d bytes, at most %d) cannot be sent", cmd.Code, len(cmd.Reason), wsframe.MaxCloseReason)))
			return
		}
		s.running.Add()
		go func() {
			defer s.running.Done()
			err := lab.Close(code, cmd.Reason)
			ss.report(info(fmt.Sprintf("server-initiated close finished: %v", errText(err))))
		}()
	default:
		ss.report(info(fmt.Sprintf("unknown command %q", cmd.Cmd)))
	}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// writeMessage sends msg on the lab socket and reports it as a message.
// fragmented sends it through conn's Writer, which cuts it into frames.
func (s *Server) writeMessage(ss *session, lab *conn.Conn, typ conn.MessageType, msg []byte, fragmented bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	ss.outFrames, ss.outWire, ss.outRSV1 = 0, 0, false
	var err error
	if fragmented {
		var mw interface {
			Write([]byte) (int, error)
			Close() error
		}
		mw, err = lab.Writer(ctx, typ)
		if err == nil {
			_, err = mw.Write(msg)
			if cerr := mw.Close(); err == nil {
				err = cerr
			}
		}
	} else {
		err = lab.Write(ctx, typ, msg)
	}
	if err != nil {
		return err
	}
	ss.report(messageReport("out", typ, msg, ss.outFrames, ss.outWire, ss.outRSV1))
	return nil
}

// messageReport describes a whole message.
func messageReport(dir string, typ conn.MessageType, msg []byte, frames int, wire int64, compressed bool) map[string]any {
	shown := msg[:min(len(msg), shownBytes)]
	return map[string]any{
		"type": "message", "dir": dir, "kind": typ.String(), "len": len(msg),
		"frames": frames, "wire": wire, "compressed": compressed,
		"hex": hex.EncodeToString(shown), "shown": len(shown),
	}
}

// serveLab serves the lab socket of a session: it reports the handshake
// and every frame, and echoes every message.
func (s *Server) serveLab(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	s.mu.Lock()
	ss := s.sessions[r.URL.Query().Get("session")]
	s.mu.Unlock()
	if ss == nil {
		http.Error(w, "unknown session: open the observer socket first (the lab page does)", http.StatusBadRequest)
		return
	}
	deflate := r.URL.Query().Get("deflate") == "1"
	tp := newTap(ss)
	opts := &conn.AcceptOptions{
		ReadLimit:    s.cfg.ReadLimit,
		CloseTimeout: s.cfg.CloseTimeout,
		OnFrame:      tp.onFrame,
	}
	if deflate {
		opts.Compression = conn.CompressionNoContextTakeover
		opts.CompressionThreshold = 1 // compress every message, however small
	}
	request := requestText(r)
	h2 := handshake.IsExtendedConnect(r)
	if h2 {
		// A WebSocket over HTTP/2 (RFC 8441) is a stream of DATA frames:
		// no hijacked connection to read the raw bytes from.
		tp.broken = true
	}
	// Sockets of one page replace each other in the order their requests
	// arrived (a page reconnecting fast may have two handshakes in flight).
	ss.mu.Lock()
	ss.labGen++
	gen := ss.labGen
	ss.mu.Unlock()
	c, err := s.accept(&tapWriter{ResponseWriter: w, tap: tp}, r, opts)
	if err != nil {
		ss.report(info("lab socket refused: " + err.Error()))
		return
	}
	ss.mu.Lock()
	old := ss.lab
	if gen > ss.labCur {
		ss.lab, ss.labCur = c, gen
	} else {
		old = c // a later request has taken over already
	}
	ss.mu.Unlock()
	if old != nil {
		// Its own handler reads the answer; do not wait for it here.
		s.running.Add()
		go func() {
			defer s.running.Done()
			old.Close(wsframe.CloseGoingAway, "replaced by a new lab socket")
		}()
	}
	defer func() {
		ss.mu.Lock()
		if ss.labCur == gen {
			ss.lab = nil
		}
		ss.mu.Unlock()
	}()
	response := tp.response()
	if h2 {
		response = "(HTTP/2: the answer is a 200 HEADERS frame, and the frames' raw bytes travel in DATA frames, so only the decoded headers are shown)"
	}
	ss.report(handshakeReport(r, request, response))

	var buf []byte
	for {
		typ, msg, err := c.ReadInto(context.Background(), buf)
		if err != nil {
			ss.report(map[string]any{"type": "closed", "code": int(conn.CloseCode(err)), "error": err.Error()})
			return
		}
		buf = msg
		frames, wire, rsv1 := tp.takeMessage()
		ss.report(messageReport("in", typ, msg, frames, wire, rsv1))
		if s.writeMessage(ss, c, typ, msg, false) != nil {
			return
		}
	}
}

// requestText returns the request's head as the server received it: the
// request line, then the header fields. net/http keeps neither their order
// nor their spelling, so they are listed sorted, in canonical form.
func requestText(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", r.Method, r.RequestURI, r.Proto, r.Host)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// handshakeReport describes the opening handshake, with the accept key
// computed step by step.
func handshakeReport(r *http.Request, request, response string) map[string]any {
	key := r.Header.Get("Sec-WebSocket-Key")
	sum := sha1.Sum([]byte(key + websocketGUID))
	return map[string]any{
		"type": "handshake", "request": request, "response": response,
		"key": key, "guid": websocketGUID, "concat": key + websocketGUID,
		"sha1": hex.EncodeToString(sum[:]), "accept": base64.StdEncoding.EncodeToString(sum[:]),
	}
}

// frameReport describes one frame: h as the frame observer gave it, hdr
// and payload as they crossed the wire (payload possibly masked and cut to
// shownBytes).
func frameReport(dir string, t float64, h wsframe.Header, hdr, wirePayload []byte) map[string]any {
	unmasked := append([]byte(nil), wirePayload...)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, unmasked)
	}
	form := "7-bit"
	switch {
	case h.Length > 0xFFFF:
		form = "64-bit"
	case h.Length > 125:
		form = "16-bit"
	}
	rep := map[string]any{
		"type": "frame", "dir": dir, "t": t,
		"fin": h.Fin, "rsv1": h.Rsv&wsframe.RSV1 != 0, "rsv2": h.Rsv&wsframe.RSV2 != 0, "rsv3": h.Rsv&wsframe.RSV3 != 0,
		"opcode": int(h.Opcode), "op": h.Opcode.String(), "masked": h.Masked,
		"len": h.Length, "lenForm": form, "header": hex.EncodeToString(hdr),
		"payload": hex.EncodeToString(wirePayload), "unmasked": hex.EncodeToString(unmasked),
		"shown": len(wirePayload),
	}
	if h.Masked {
		rep["key"] = hex.EncodeToString(h.Mask[:])
	}
	return rep
}
