// Package chatserver is the logic of the chat example: one chat room over
// WebSocket, with JSON messages.
//
// A client connects to "ws" below the handler's root with its nickname and
// the room's token:
//
//	ws://host/ws?nick=ada&token=SECRET
//
// (non-browser clients may send the token as "Authorization: Bearer
// SECRET" instead). The token and the nickname are checked before the
// upgrade: a refused client gets a plain HTTP error — 401 for a missing or
// wrong token, 400 for a bad nickname, 409 for a nickname in use — and no
// WebSocket traffic at all.
//
// Once in, the client gets a "welcome" event with the members and the
// recent history, then the events of the room: "join", "leave" and
// "message". It sends {"type":"say","text":"..."}; anything else earns an
// "error" event, and too many of those a close with 1008.
//
// Every client has a bounded send queue drained by its own writer
// goroutine, so a slow client never holds the room back: when its queue
// overflows it is dropped with 1008 (policy violation).
package chatserver

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// Defaults for the zero Config, and limits.
const (
	// DefaultHistorySize is how many past events a newcomer receives.
	DefaultHistorySize = 50
	// DefaultQueueSize is how many events may wait for one client before
	// it is dropped as too slow: a burst of this many messages is fine.
	DefaultQueueSize = 64
	// DefaultReadLimit is the largest message accepted from a client: a
	// "say" command with the longest text, and room for JSON escapes.
	DefaultReadLimit = 4 << 10
	// DefaultWriteTimeout bounds one write, so that a client that stopped
	// reading cannot hold its writer goroutine forever.
	DefaultWriteTimeout = 10 * time.Second
	// MaxNickLen is the longest nickname, in bytes.
	MaxNickLen = 32
	// MaxTextLen is the longest chat message, in bytes.
	MaxTextLen = 2000
	// MaxErrors is how many bad messages a client may send before it is
	// closed with 1008.
	MaxErrors = 10
)

// Config configures a Server.
type Config struct {
	// Token is the shared secret a client must present to join. It must
	// not be empty: New panics otherwise, since an open room is a
	// configuration mistake here, not a choice.
	Token string
	// HistorySize is how many past events a newcomer receives (0:
	// default; negative: none).
	HistorySize int
	// QueueSize bounds the events waiting to be sent to one client
	// (0: default). A client whose queue overflows is dropped with 1008.
	QueueSize int
	// ReadLimit is the largest message accepted from a client, in bytes
	// (0: default). A larger one closes the connection with 1009.
	ReadLimit int64
	// WriteTimeout bounds each write to a client (0: default).
	WriteTimeout time.Duration
	// OriginPatterns lists the hosts of other origins whose pages may
	// connect (see conn.AcceptOptions). Same-origin pages and non-browser
	// clients are always allowed.
	OriginPatterns []string
	// CloseTimeout bounds each wait of a close handshake (0: the conn
	// default).
	CloseTimeout time.Duration
}

// Event is a message from the server to a client, in JSON.
type Event struct {
	// Type is "welcome", "join", "leave", "message" or "error".
	Type string `json:"type"`
	// Nick is the member the event is about: the author of a message,
	// who joined or left, or, in "welcome", the client's own nickname.
	Nick string `json:"nick,omitempty"`
	// Text is the text of a message, the reason of a leave, or the
	// description of an error.
	Text string `json:"text,omitempty"`
	// Time is when the server saw the event (omitted in "error").
	Time time.Time `json:"time,omitzero"`
	// Members lists the nicknames in the room, in "welcome".
	Members []string `json:"members,omitempty"`
	// History holds the room's recent events, oldest first, in "welcome".
	History []Event `json:"history,omitempty"`
}

// Command is a message from a client to the server, in JSON. The only type
// is "say", with the message in Text.
type Command struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Server is the chat room, an http.Handler. Create it with New.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	group conn.Group
	// running counts the goroutines serving connections (handlers and
	// writers), so that Shutdown can wait for them.
	running tracker

	mu      sync.Mutex
	members map[string]*member // by nickname; nil entries are reserved
	history []Event            // at most cfg.HistorySize, oldest first

	// testHookWrite, when set (by tests), runs in a member's writer
	// goroutine before each event is written.
	testHookWrite func(nick string)
}

// member is one connected client.
type member struct {
	nick  string
	c     *conn.Conn
	queue chan *conn.PreparedMessage
	gone  chan struct{} // closed when the member leaves the room
}

//go:embed page.html
var pageHTML []byte

// New returns a Server configured by cfg. It panics if cfg.Token is empty.
func New(cfg Config) *Server {
	if cfg.Token == "" {
		panic("chatserver: Config.Token is empty")
	}
	if cfg.HistorySize == 0 {
		cfg.HistorySize = DefaultHistorySize
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), members: make(map[string]*member)}
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc("GET /ws", s.serveWebSocket)
	return s
}

// ServeHTTP serves the page at "/" and the WebSocket endpoint at "/ws".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Shutdown closes every connection with 1001 (going away) and waits, until
// ctx is done, for the close handshakes and then for the goroutines that
// served the connections; new connections are refused with 503 from then
// on. It returns ctx.Err() if that did not finish in time (connections
// still open are then dropped).
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.group.Shutdown(ctx); err != nil {
		return err
	}
	// Every connection has ended; their goroutines finish at once.
	select {
	case <-s.running.idle():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Members returns the nicknames of the connected members, sorted.
func (s *Server) Members() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.membersLocked()
}

func (s *Server) membersLocked() []string {
	names := make([]string, 0, len(s.members))
	for nick, m := range s.members {
		if m != nil {
			names = append(names, nick)
		}
	}
	slices.Sort(names)
	return names
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(pageHTML)
}

// authorize checks the token of r in constant time. The error says what
// is wrong, for the 401 answer.
func (s *Server) authorize(r *http.Request) error {
	token := r.URL.Query().Get("token")
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, value, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return errors.New("the Authorization header must be: Bearer <token>")
		}
		token = strings.TrimSpace(value)
	}
	if token == "" {
		return errors.New("missing token: add ?token=... or an Authorization: Bearer header")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) != 1 {
		return errors.New("invalid token")
	}
	return nil
}

// checkNick reports what is wrong with a nickname, if anything.
func checkNick(nick string) error {
	switch {
	case nick == "":
		return errors.New("missing nickname: add ?nick=...")
	case len(nick) > MaxNickLen:
		return errors.New("nickname too long")
	case !utf8.ValidString(nick):
		return errors.New("nickname is not valid UTF-8")
	case strings.TrimSpace(nick) != nick:
		return errors.New("nickname has leading or trailing space")
	}
	for _, r := range nick {
		if !unicode.IsPrint(r) {
			return errors.New("nickname has unprintable characters")
		}
	}
	return nil
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.running.add()
	defer s.running.done()
	// Everything that can refuse the client is checked before the
	// upgrade, so a refusal is a plain HTTP answer.
	if err := s.authorize(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chat"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	nick := r.URL.Query().Get("nick")
	if err := checkNick(nick); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Reserve the nickname across the upgrade, so that two clients
	// racing for it cannot both get it.
	s.mu.Lock()
	if _, taken := s.members[nick]; taken {
		s.mu.Unlock()
		http.Error(w, "nickname in use", http.StatusConflict)
		return
	}
	s.members[nick] = nil
	s.mu.Unlock()

	c, err := s.group.Accept(w, r, &conn.AcceptOptions{
		OriginPatterns: s.cfg.OriginPatterns,
		ReadLimit:      s.cfg.ReadLimit,
		CloseTimeout:   s.cfg.CloseTimeout,
	})
	if err != nil {
		s.mu.Lock()
		delete(s.members, nick)
		s.mu.Unlock()
		return // Accept has answered with the HTTP error
	}
	m := &member{nick: nick, c: c, queue: make(chan *conn.PreparedMessage, s.cfg.QueueSize), gone: make(chan struct{})}
	s.running.add()
	go func() {
		defer s.running.done()
		s.writeLoop(m)
	}()
	s.join(m)
	code, reason := s.readLoop(m)
	if s.leave(m, "left") && code != 0 {
		c.Close(code, reason)
	}
}

// readLoop handles m's commands until the connection ends (code 0) or m
// must be closed with code and reason.
func (s *Server) readLoop(m *member) (wsframe.CloseCode, string) {
	bad := 0
	var buf []byte
	for {
		typ, msg, err := m.c.ReadInto(context.Background(), buf)
		if err != nil {
			return 0, "" // closed or failed: conn has handled it
		}
		buf = msg
		select {
		case <-m.gone:
			return 0, "" // dropped: it is being closed, ignore what it says
		default:
		}
		if typ != conn.MessageText {
			return wsframe.CloseUnsupportedData, "binary messages are not supported"
		}
		cmd, problem := parseCommand(msg)
		if problem == "" {
			s.broadcast(Event{Type: "message", Nick: m.nick, Text: cmd.Text, Time: time.Now()})
			continue
		}
		bad++
		if bad > MaxErrors {
			return wsframe.ClosePolicyViolation, "too many bad messages"
		}
		s.send(m, Event{Type: "error", Text: problem})
	}
}

// parseCommand decodes a client's message. problem, when not empty, says
// what is wrong with it, for an error event.
func parseCommand(msg []byte) (cmd Command, problem string) {
	switch err := json.Unmarshal(msg, &cmd); {
	case err != nil:
		return cmd, "malformed JSON: expected {\"type\":\"say\",\"text\":\"...\"}"
	case cmd.Type != "say":
		return cmd, "unknown message type " + quote(cmd.Type)
	case strings.TrimSpace(cmd.Text) == "":
		return cmd, "empty message"
	case len(cmd.Text) > MaxTextLen:
		return cmd, "message too long"
	}
	return cmd, ""
}

// quote returns s in double quotes, shortened to a sane length.
func quote(s string) string {
	if len(s) > 32 {
		s = strings.ToValidUTF8(s[:32], "") + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// join adds m to the room: m gets the welcome (members and history), then
// everyone, m included, gets the join event. Holding the lock throughout
// keeps every member's view of the order the same.
func (s *Server) join(m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[m.nick] = m
	welcome := Event{Type: "welcome", Nick: m.nick, Time: time.Now(), Members: s.membersLocked(), History: slices.Clone(s.history)}
	s.sendLocked(m, welcome)
	s.broadcastLocked(Event{Type: "join", Nick: m.nick, Time: welcome.Time})
}

// leave takes m out of the room, once, and tells the others. It reports
// whether this call did it.
func (s *Server) leave(m *member, why string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaveLocked(m, why)
}

func (s *Server) leaveLocked(m *member, why string) bool {
	if s.members[m.nick] != m {
		return false
	}
	delete(s.members, m.nick)
	close(m.gone)
	s.broadcastLocked(Event{Type: "leave", Nick: m.nick, Text: why, Time: time.Now()})
	return true
}

// send queues an event for one member.
func (s *Server) send(m *member, ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(m, ev)
}

func (s *Server) sendLocked(m *member, ev Event) {
	if s.members[m.nick] != m {
		return
	}
	pm, err := prepare(ev)
	if err != nil {
		return
	}
	if !s.enqueueLocked(m, pm) {
		s.dropLocked([]*member{m})
	}
}

// broadcast sends an event to every member, and records it in the
// history.
func (s *Server) broadcast(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcastLocked(ev)
}

func (s *Server) broadcastLocked(ev Event) {
	if s.cfg.HistorySize > 0 {
		if len(s.history) == s.cfg.HistorySize {
			s.history = slices.Delete(s.history, 0, 1)
		}
		s.history = append(s.history, ev)
	}
	pm, err := prepare(ev)
	if err != nil {
		return
	}
	var slow []*member
	for _, m := range s.members {
		if m != nil && !s.enqueueLocked(m, pm) {
			slow = append(slow, m)
		}
	}
	s.dropLocked(slow)
}

// enqueueLocked queues pm for m without waiting; false means m's queue is
// full.
func (s *Server) enqueueLocked(m *member, pm *conn.PreparedMessage) bool {
	select {
	case m.queue <- pm:
		return true
	default:
		return false
	}
}

// dropLocked removes members that cannot keep up and closes them with
// 1008. Their leave events may overflow further queues; each round removes
// at least one member, so this ends.
func (s *Server) dropLocked(slow []*member) {
	for _, m := range slow {
		if s.leaveLocked(m, "dropped: too slow") {
			go m.c.Close(wsframe.ClosePolicyViolation, "too slow: send queue overflow")
		}
	}
}

// prepare encodes an event once for all its recipients.
func prepare(ev Event) (*conn.PreparedMessage, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return conn.NewPreparedMessage(conn.MessageText, b)
}

// writeLoop sends m's queued events until m leaves the room or its
// connection ends.
func (s *Server) writeLoop(m *member) {
	for {
		select {
		case <-m.gone:
			return
		case <-m.c.Done():
			return
		case pm := <-m.queue:
			if s.testHookWrite != nil {
				s.testHookWrite(m.nick)
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
			err := m.c.WritePrepared(ctx, pm)
			cancel()
			if err != nil {
				return // the failed write has closed the connection
			}
		}
	}
}

// tracker counts running goroutines; unlike a sync.WaitGroup it may be
// waited for while goroutines are still being added.
type tracker struct {
	mu    sync.Mutex
	n     int
	empty chan struct{} // closed when n drops to 0; nil while nobody waits
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.empty != nil {
		close(t.empty)
		t.empty = nil
	}
}

// idle returns a channel that is closed once no goroutine runs.
func (t *tracker) idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.empty == nil {
		t.empty = make(chan struct{})
	}
	return t.empty
}
