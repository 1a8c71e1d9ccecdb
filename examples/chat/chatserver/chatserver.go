// Package chatserver is the logic of the chat example: one chat room over
// WebSocket, with JSON messages, served by one process or by many.
//
// A client connects to "ws" below the handler's root with its nickname and
// the room's token:
//
//	ws://host/ws?nick=ada&token=SECRET
//
// (non-browser clients may send the token as "Authorization: Bearer
// SECRET" instead). The token and the nickname are checked before the
// upgrade: a refused client gets a plain HTTP error — 401 for a missing or
// wrong token, 400 for a bad nickname, 409 for a nickname in use, 503 while
// the server shuts down or its backplane is unreachable — and no WebSocket
// traffic at all.
//
// Once in, the client gets a "welcome" event with the members, its session
// and the recent history, then the events of the room: "join", "leave" and
// "message", each with an "id". It sends {"type":"say","text":"..."};
// anything else earns an "error" event, and too many of those a close with
// 1008.
//
// Resuming: a client that lost its connection reconnects, to this process
// or any other serving the room, with two more parameters:
//
//	ws://host/ws?nick=ada&token=SECRET&session=S&last=ID
//
// where S is the session of its first welcome and ID the id of the last
// event it saw. It keeps its nickname (nobody else can take it meanwhile),
// and its welcome carries, in History, every event after ID (Gap is set if
// the room no longer has them all); live events follow, with no gap and no
// duplicate.
//
// Draining: Shutdown sends every client a "reconnect" event (come back,
// another process will serve you) and then closes it with 1001.
//
// Every client has a bounded send queue drained by its own writer
// goroutine, so a slow client never holds the room back: when its queue
// overflows it is dropped with 1008 (policy violation).
//
// The room itself — the ordered log of events and who is in it — is a
// Backplane: in-process by default, Redis Streams across processes (see the
// module examples/chat/redis).
package chatserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/internal/site"
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
	// MaxSessionLen is the longest session token a client may present.
	MaxSessionLen = 64
	// CloseReplaced is the close code of a connection whose client has
	// resumed its session on another connection.
	CloseReplaced wsframe.CloseCode = 4000
)

// backendTimeout bounds one call to the backplane made for a client.
const backendTimeout = 10 * time.Second

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
	// Backplane holds the room (nil: an in-process one, for a room served
	// by this process alone). Servers in several processes that share a
	// backplane serve one room.
	Backplane Backplane
	// Logf, if set, receives the server's problems with its backplane.
	Logf func(format string, args ...any)
	// AcceptHook, when set, is called before each WebSocket handshake with
	// the request and the options it will be accepted with (it may add to
	// them: a frame observer, say); the function it returns, if not nil,
	// is called with the connection once accepted. The demo logs
	// connections with it (site.ConnLog.Hook has this shape).
	AcceptHook func(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn)
}

// Event is a message from the server to a client, in JSON.
type Event struct {
	// ID is the event's place in the room, for "join", "leave" and
	// "message": a client that resumes sends the last one it saw.
	ID string `json:"id,omitempty"`
	// Type is "welcome", "join", "leave", "message", "error" or
	// "reconnect" (the server is going away: reconnect, resuming).
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
	// History holds, in "welcome", the room's recent events, or when the
	// client resumes, the events it missed; oldest first.
	History []Event `json:"history,omitempty"`
	// Session is, in "welcome", the token that lets this client resume
	// with its nickname.
	Session string `json:"session,omitempty"`
	// Resumed is set in "welcome" when the client took back its
	// nickname.
	Resumed bool `json:"resumed,omitempty"`
	// Gap is set in "welcome" when the client asked for the events after
	// an id the room no longer has: some events are missing.
	Gap bool `json:"gap,omitempty"`
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
	bp    Backplane
	mux   *http.ServeMux
	group conn.Group
	// running counts the goroutines serving connections (handlers and
	// writers), so that Shutdown can wait for them.
	running site.Tracker
	stop    context.CancelFunc // stops relay
	ready   chan struct{}      // closed once relay knows where the log ends
	relayed chan struct{}      // closed when relay has returned

	mu       sync.Mutex
	members  map[string]*member // by nickname: the local clients
	last     string             // ID of the last event relayed
	draining bool

	// testHookWrite, when set (by tests), runs in a member's writer
	// goroutine before each event is written.
	testHookWrite func(nick string)
}

// member is one connected client.
type member struct {
	nick    string
	owner   string // unique to this connection
	c       *conn.Conn
	queue   chan *conn.PreparedMessage
	gone    chan struct{} // closed when the member leaves the room
	cursor  string        // relay sends only events after this ID
	drained chan struct{} // closed once the "reconnect" event is written
	bye     *conn.PreparedMessage
}

//go:embed page.html
var pageSrc string

var pageTmpl = template.Must(template.New("page").Parse(pageSrc))

// New returns a Server configured by cfg, and starts relaying the room's
// events; Shutdown stops it. New panics if cfg.Token is empty.
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
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Server{cfg: cfg, bp: cfg.Backplane, mux: http.NewServeMux(), members: make(map[string]*member),
		ready: make(chan struct{}), relayed: make(chan struct{})}
	if s.bp == nil {
		s.bp = NewMemoryBackplane(0)
	}
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc("GET /ws", s.serveWebSocket)
	site.Register(s.mux)
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.relay(ctx)
	return s
}

// ServeHTTP serves the page at "/", the WebSocket endpoint at "/ws", and
// the shared stylesheet and icon.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Shutdown drains the server: every client gets a "reconnect" event, then
// a close with 1001 (going away); Shutdown waits, until ctx is done, for
// the close handshakes and then for the goroutines that served the
// connections. New connections are refused with 503 from then on. The
// clients keep their nicknames in the backplane, so that they can resume on
// another process. It returns ctx.Err() if that did not finish in time
// (connections still open are then dropped).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	var waits []chan struct{}
	if !s.draining { // once: a member's "reconnect" is sent once
		s.draining = true
		for _, m := range s.members {
			if s.enqueueLocked(m, m.bye) {
				waits = append(waits, m.drained)
			}
		}
	}
	s.mu.Unlock()
	// Give the writers a moment to send "reconnect" before the close
	// frames; a client too slow for that still gets 1001.
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	for _, w := range waits {
		select {
		case <-w:
		case <-wctx.Done():
		}
	}
	cancel()
	err := s.group.Shutdown(ctx)
	s.stop()
	if err != nil {
		return err
	}
	// Every connection has ended; their goroutines finish at once.
	select {
	case <-s.running.Idle():
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-s.relayed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Members returns the nicknames in the room, sorted (nil if the backplane
// cannot be reached).
func (s *Server) Members() []string {
	ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
	defer cancel()
	names, _ := s.bp.Members(ctx)
	return names
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	// Under a prefix (the demo's /chat/), the page links the other
	// examples.
	path, _, _ := strings.Cut(r.RequestURI, "?")
	pageTmpl.Execute(w, struct{ Mounted bool }{path != "" && path != r.URL.Path})
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

// checkSession reports what is wrong with a session token, if anything.
func checkSession(session string) error {
	if len(session) > MaxSessionLen {
		return errors.New("session too long")
	}
	for _, r := range session {
		if r <= ' ' || r > '~' {
			return errors.New("session has characters other than printable ASCII")
		}
	}
	return nil
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.running.Add()
	defer s.running.Done()
	// Everything that can refuse the client is checked before the
	// upgrade, so a refusal is a plain HTTP answer.
	if err := s.authorize(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chat"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	nick, session, last := q.Get("nick"), q.Get("session"), q.Get("last")
	if err := checkNick(nick); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := checkSession(session); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, _, err := ParseID(last); err != nil {
		http.Error(w, "last: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		http.Error(w, "server shutting down: connect again", http.StatusServiceUnavailable)
		return
	}
	select {
	case <-s.ready:
	case <-r.Context().Done():
		return
	case <-time.After(backendTimeout):
		http.Error(w, "chat backend unavailable: try again", http.StatusServiceUnavailable)
		return
	}
	if session == "" {
		session = rand.Text()
	}
	owner := rand.Text()
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	resumed, err := s.bp.Claim(ctx, nick, session, owner)
	if errors.Is(err, ErrNickTaken) {
		http.Error(w, "nickname in use: choose another", http.StatusConflict)
		return
	}
	if err != nil {
		s.cfg.Logf("chat: claim %q: %v", nick, err)
		http.Error(w, "chat backend unavailable: try again", http.StatusServiceUnavailable)
		return
	}
	opts := &conn.AcceptOptions{
		OriginPatterns: s.cfg.OriginPatterns,
		ReadLimit:      s.cfg.ReadLimit,
		CloseTimeout:   s.cfg.CloseTimeout,
	}
	var accepted func(*conn.Conn)
	if s.cfg.AcceptHook != nil {
		accepted = s.cfg.AcceptHook(r, opts)
	}
	c, err := s.group.Accept(w, r, opts)
	if err != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), backendTimeout)
		s.bp.Release(rctx, nick, owner)
		rcancel()
		return // Accept has answered with the HTTP error
	}
	if accepted != nil {
		accepted(c)
	}
	bye, _ := prepare(Event{Type: "reconnect", Text: "server shutting down: reconnect to resume"})
	m := &member{nick: nick, owner: owner, c: c, queue: make(chan *conn.PreparedMessage, s.cfg.QueueSize),
		gone: make(chan struct{}), drained: make(chan struct{}), bye: bye}
	if err := s.join(ctx, m, session, last, resumed); err != nil {
		s.cfg.Logf("chat: join %q: %v", nick, err)
		rctx, rcancel := context.WithTimeout(context.Background(), backendTimeout)
		s.bp.Release(rctx, nick, owner)
		rcancel()
		c.Close(wsframe.CloseTryAgainLater, "chat backend unavailable")
		return
	}
	cancel()
	s.running.Add()
	go func() {
		defer s.running.Done()
		s.writeLoop(m)
	}()
	code, reason := s.readLoop(m)
	if s.leave(m) {
		if code != 0 {
			c.Close(code, reason)
		}
		s.depart(m, "left")
	}
}

// join publishes m's arrival (unless it resumes from an event id) and
// puts m in the room:
// its welcome carries the history (or what it missed since last), and the
// relay sends it every later event, exactly once.
func (s *Server) join(ctx context.Context, m *member, session, last string, resumed bool) error {
	welcome := Event{Type: "welcome", Nick: m.nick, Session: session, Resumed: resumed}
	var err error
	// cursor: m has or will have in its welcome every event up to it.
	var cursor, joined string
	if last == "" || !resumed {
		// A newcomer, or a client the room saw leave (or never saw
		// welcomed): the room is told.
		joined, err = s.bp.Publish(ctx, Event{Type: "join", Nick: m.nick, Time: time.Now()})
		if err != nil {
			return err
		}
	}
	if last != "" {
		// Resuming: what the client missed, its own join included.
		var complete bool
		welcome.History, complete, err = s.bp.Read(ctx, last, -1)
		welcome.Gap = !complete
		cursor = last
	} else {
		if s.cfg.HistorySize > 0 {
			welcome.History, err = s.bp.Tail(ctx, joined, s.cfg.HistorySize)
		}
		cursor = prevID(joined) // the join itself follows the welcome
	}
	if err != nil {
		return err
	}
	if n := len(welcome.History); n > 0 && CompareIDs(welcome.History[n-1].ID, cursor) > 0 {
		cursor = welcome.History[n-1].ID
	}
	if welcome.Members, err = s.bp.Members(ctx); err != nil {
		return err
	}

	// The relay has sent everything up to s.last to the members; m gets
	// what lies between its cursor and that point from here, the rest
	// from the relay. One ordered source, read from the cursor on: no gap,
	// no duplicate. The stretch is read without the lock (the relay goes
	// on meanwhile), until the relay has nothing m lacks.
	var catchUp []Event
	for {
		s.mu.Lock()
		target := s.last
		if CompareIDs(target, cursor) <= 0 {
			break // registered below, under this lock
		}
		s.mu.Unlock()
		for CompareIDs(cursor, target) < 0 {
			evs, _, err := s.bp.Read(ctx, cursor, 256)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if CompareIDs(ev.ID, target) > 0 {
					break
				}
				catchUp = append(catchUp, ev)
				cursor = ev.ID
			}
			if len(evs) == 0 || CompareIDs(evs[len(evs)-1].ID, target) >= 0 {
				cursor = target // reached, or lost (Redis restarted)
			}
		}
	}
	defer s.mu.Unlock()
	if last != "" {
		// Resuming: all of it is history.
		welcome.History = append(welcome.History, catchUp...)
		catchUp = nil
	}
	m.cursor = cursor
	if old := s.members[m.nick]; old != nil {
		// The same session, reconnected before its old connection was
		// noticed gone: the new one replaces it, without a leave.
		delete(s.members, old.nick)
		close(old.gone)
		go old.c.Close(CloseReplaced, "session resumed on another connection")
	}
	s.members[m.nick] = m
	s.sendLocked(m, welcome)
	for _, ev := range catchUp {
		s.sendLocked(m, ev)
	}
	return nil
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
			ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
			_, err := s.bp.Publish(ctx, Event{Type: "message", Nick: m.nick, Text: cmd.Text, Time: time.Now()})
			cancel()
			if err != nil {
				s.cfg.Logf("chat: publish: %v", err)
				s.send(m, Event{Type: "error", Text: "message not sent: the chat backend is unavailable, try again"})
			}
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

// leave takes m out of the local room, once, and reports whether this
// call did it and the departure is to be published (not while draining:
// the client is coming back, elsewhere).
func (s *Server) leave(m *member) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaveLocked(m) && !s.draining
}

func (s *Server) leaveLocked(m *member) bool {
	if s.members[m.nick] != m {
		return false
	}
	delete(s.members, m.nick)
	close(m.gone)
	return true
}

// depart frees m's nickname and tells the room, if m still held it (a
// client that resumed elsewhere does not leave).
func (s *Server) depart(m *member, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
	defer cancel()
	released, err := s.bp.Release(ctx, m.nick, m.owner)
	if err == nil && released {
		_, err = s.bp.Publish(ctx, Event{Type: "leave", Nick: m.nick, Text: why, Time: time.Now()})
	}
	if err != nil {
		s.cfg.Logf("chat: leave %q: %v", m.nick, err)
	}
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

// relay reads the room's log in order and hands every event to the local
// members, until ctx is done. A backplane error is retried, with a
// growing pause: the relay resumes where it stopped.
func (s *Server) relay(ctx context.Context) {
	defer close(s.relayed)
	pause := func(n int) bool {
		t := time.NewTimer(min(50*time.Millisecond<<min(n, 6), 2*time.Second))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var last string
	for n := 0; ; n++ {
		var err error
		if last, err = s.bp.Last(ctx); err == nil {
			break
		}
		s.cfg.Logf("chat: backplane: %v", err)
		if !pause(n) {
			return
		}
	}
	s.mu.Lock()
	s.last = last
	s.mu.Unlock()
	close(s.ready)
	failures := 0
	for {
		evs, err := s.bp.Wait(ctx, last)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if failures == 0 {
				s.cfg.Logf("chat: backplane: %v (retrying)", err)
			}
			if !pause(failures) {
				return
			}
			failures++
			continue
		}
		if failures > 0 {
			s.cfg.Logf("chat: backplane is back")
			failures = 0
		}
		if len(evs) == 0 {
			continue
		}
		s.deliver(evs)
		last = evs[len(evs)-1].ID
	}
}

// deliver hands events to every member that has not had them.
func (s *Server) deliver(evs []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var slow []*member
	for _, ev := range evs {
		pm, err := prepare(ev)
		if err == nil {
			for _, m := range s.members {
				if CompareIDs(ev.ID, m.cursor) > 0 && !s.enqueueLocked(m, pm) {
					slow = append(slow, m)
				}
			}
		}
		s.last = ev.ID
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

// dropLocked removes members that cannot keep up, closes them with 1008
// and tells the room.
func (s *Server) dropLocked(slow []*member) {
	for _, m := range slow {
		if s.leaveLocked(m) {
			s.running.Add()
			go func() {
				defer s.running.Done()
				// The room first: the close handshake may take its
				// whole timeout with a client that does not read.
				s.depart(m, "dropped: too slow")
				m.c.Close(wsframe.ClosePolicyViolation, "too slow: send queue overflow")
			}()
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
			if pm == m.bye {
				close(m.drained)
			}
		}
	}
}
