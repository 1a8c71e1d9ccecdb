// Package pongserver is an online two-player Pong game over WebSocket: the
// server runs every game (it is authoritative: players only say which way
// their paddle should move) and serves a browser client that renders it.
//
// A Server is an http.Handler. At its root it serves the page and its
// assets; at "ws" relative to the root it accepts WebSocket connections.
// It can therefore be mounted under a prefix:
//
//	mux.Handle("/pong/", http.StripPrefix("/pong", pongserver.New(pongserver.Config{})))
//
// # Protocol
//
// Every message, both ways, is a JSON text message {"type":...,"data":...}.
// A client sends:
//
//	create   {"game":"name"}                  start a game and wait for an opponent
//	join     {"game":"name"}                  join a waiting game as its second player
//	spectate {"game":"name"}                  watch a game
//	rejoin   {"game":"name","token":"..."}    come back after a disconnect
//	move     {"dir":"up|down|none","seq":n}   steer one's own paddle
//	leave                                     give up the game (or, once it is over, the rematch)
//	rematch                                   once the game is over: play it again
//
// The server answers created/joined/rejoined {game, side, token, tick,
// grace, field}, spectating {game}, and sends state (see State) at every
// tick of a game in play, opponent {event} when the other player joins,
// disconnects, rejoins, asks for a rematch (rematch) or, after the end,
// goes away (left), over {winner, reason, score} when the game ends, and
// error {code, message} (see the Code constants) when a message is
// refused. When both players of a finished game have asked for a rematch,
// each gets rematched {game, side, token, ...} (new tokens, same sides) and
// the new game starts. The first serve of a game comes CountdownTicks
// after it starts (the page counts down). Bad messages count as strikes:
// after Config.MaxStrikes the connection is closed with 1008 (policy
// violation).
//
// # Pages
//
// GET "games" lists the games not over, as JSON:
// {"games":[{"name":"friday","status":"waiting","players":1,"spectators":0}]},
// the waiting ones first. The page at the root links the shared stylesheet
// and favicon (package site), served next to it.
package pongserver

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/internal/site"
)

//go:embed static
var static embed.FS

// indexTmpl is the page; it links the other examples when it is served
// under a prefix (by the demo).
var indexTmpl = template.Must(template.ParseFS(static, "static/index.html"))

// maxListed bounds the list of games served at "games".
const maxListed = 50

// Clock is the time source of a Server. Games are stepped by a Ticker and
// grace periods are measured with Now, so a test can replace the clock and
// step games tick by tick without waiting for real time.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on C, like time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// realClock is the Clock of the time package.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTicker(d time.Duration) Ticker {
	return realTicker{time.NewTicker(d)}
}

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// Config configures a Server. The zero value gives a server fit for the
// internet: 60 ticks per second, a 30 s grace period, heartbeats every
// 15 s, and conservative limits.
type Config struct {
	// Tick is the game loop's period (default 1/60 s). Each tick advances
	// the physics by exactly Tick, whatever the clock says, so the game
	// is the same at any speed of the clock.
	Tick time.Duration
	// Grace is how long a disconnected player has to rejoin before the game
	// ends (default 30 s).
	Grace time.Duration
	// PingInterval is the heartbeat: a connection idle for this long is
	// pinged, and dropped if it does not answer (default 15 s; negative
	// disables).
	PingInterval time.Duration
	// MaxMessage is the longest message a client may send (default 256
	// bytes); a longer one is refused with too_big and counts as a strike.
	// ReadLimit is the hard limit (default 4 KiB): a message over it
	// closes the connection with 1009 before it is read.
	MaxMessage int
	ReadLimit  int64
	// Rate and Burst are each client's token bucket: Burst messages at
	// once, refilled at Rate per second (defaults 30 and 60). Messages
	// beyond it are refused with rate_limited and count as strikes.
	Rate  float64
	Burst int
	// MaxStrikes is the number of refused messages after which a client is
	// closed with 1008 (default 5).
	MaxStrikes int
	// MaxGames bounds the games running at once (default 1000), and
	// MaxSpectators the spectators of one game (default 64).
	MaxGames      int
	MaxSpectators int
	// OriginPatterns lists further hosts whose pages may connect (see
	// conn.AcceptOptions); the page served by this server always may.
	OriginPatterns []string
	// Clock is the time source; nil means the real clock.
	Clock Clock
	// Logf, when set, receives a line for each game event and each client
	// closed for abuse.
	Logf func(format string, args ...any)
	// AcceptHook, when set, is called before each WebSocket handshake with
	// the request and the options it will be accepted with (it may add to
	// them: a frame observer, say); the function it returns, if not nil,
	// is called with the connection once accepted. The demo logs
	// connections with it.
	AcceptHook func(r *http.Request, opts *conn.AcceptOptions) func(*conn.Conn)
}

func (c Config) withDefaults() Config {
	if c.Tick <= 0 {
		c.Tick = time.Second / 60
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 15 * time.Second
	} else if c.PingInterval < 0 {
		c.PingInterval = 0
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 256
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4096
	}
	if c.ReadLimit < int64(c.MaxMessage) {
		c.ReadLimit = int64(c.MaxMessage)
	}
	if c.Rate <= 0 {
		c.Rate = 30
	}
	if c.Burst <= 0 {
		c.Burst = 60
	}
	if c.MaxStrikes <= 0 {
		c.MaxStrikes = 5
	}
	if c.MaxGames <= 0 {
		c.MaxGames = 1000
	}
	if c.MaxSpectators <= 0 {
		c.MaxSpectators = 64
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Server runs Pong games and serves their browser client. Create it with
// New; it is an http.Handler.
type Server struct {
	cfg   Config
	group conn.Group

	mu     sync.Mutex
	games  map[string]*game
	closed bool
	wg     sync.WaitGroup // game loops and connections
}

// New returns a Server configured by cfg (see Config for the defaults).
func New(cfg Config) *Server {
	return &Server{cfg: cfg.withDefaults(), games: make(map[string]*game)}
}

// ServeHTTP serves the browser client at the handler's root ("/" or "",
// and its assets next to it) and the game's WebSocket endpoint at "ws".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "ws" {
		s.serveWS(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if site.Handler(w, r) {
		return
	}
	var ctype string
	switch name {
	case "", "index.html":
		setPageHeaders(w.Header(), "text/html; charset=utf-8")
		path, _, _ := strings.Cut(r.RequestURI, "?")
		indexTmpl.Execute(w, struct{ Mounted bool }{path != "" && path != r.URL.Path})
		return
	case "games":
		s.serveGames(w, r)
		return
	case "pong.js":
		ctype = "text/javascript; charset=utf-8"
	case "pong.css":
		ctype = "text/css; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	body, err := static.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	setPageHeaders(w.Header(), ctype)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func setPageHeaders(h http.Header, ctype string) {
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:")
}

// serveGames lists the games not over: waiting ones first, then by name.
func (s *Server) serveGames(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	games := make([]*game, 0, len(s.games))
	for _, g := range s.games {
		games = append(games, g)
	}
	s.mu.Unlock()
	list := make([]gameInfo, 0, len(games))
	for _, g := range games {
		if gi, ok := g.info(); ok {
			list = append(list, gi)
		}
	}
	slices.SortFunc(list, func(a, b gameInfo) int {
		aw, bw := a.Status == StatusWaiting, b.Status == StatusWaiting
		if aw != bw {
			if aw {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if len(list) > maxListed {
		list = list[:maxListed]
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		json.NewEncoder(w).Encode(struct {
			Games []gameInfo `json:"games"`
		}{list})
	}
}

// serveWS accepts a WebSocket connection and serves it until it ends. The
// handler's goroutine is the connection's reader.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	opts := &conn.AcceptOptions{
		OriginPatterns: s.cfg.OriginPatterns,
		ReadLimit:      s.cfg.ReadLimit,
		PingInterval:   s.cfg.PingInterval,
	}
	var accepted func(*conn.Conn)
	if s.cfg.AcceptHook != nil {
		accepted = s.cfg.AcceptHook(r, opts)
	}
	c, err := s.group.Accept(w, r, opts)
	if err != nil {
		return
	}
	if accepted != nil {
		accepted(c)
	}
	cl := newClient(s, c)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		cl.writeLoop()
	}()
	cl.readLoop()
}

// Shutdown stops every game and closes every connection with 1001 (going
// away), waiting for the close handshakes and for the server's goroutines
// until ctx ends. New connections are refused from the start. It does not
// stop an http.Server serving s: shut that down too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	games := make([]*game, 0, len(s.games))
	for _, g := range s.games {
		games = append(games, g)
	}
	s.mu.Unlock()
	for _, g := range games {
		g.halt()
	}
	err := s.group.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
}

// createGame registers a new game named name with cl as its left player.
// It sends cl created before the game's loop starts.
func (s *Server) createGame(name string, cl *client) (*game, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &protoError{Code: CodeServerFull, Msg: "the server is shutting down"}
	}
	if _, ok := s.games[name]; ok {
		return nil, &protoError{Code: CodeNameTaken, Msg: "a game named " + quote(name) + " exists: pick another name or join it"}
	}
	if len(s.games) >= s.cfg.MaxGames {
		return nil, &protoError{Code: CodeServerFull, Msg: "too many games are running: try again later"}
	}
	g := newGame(s, name)
	g.seat(0, cl)
	cl.send(typeCreated, g.welcome(0))
	s.games[name] = g
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		g.run()
	}()
	s.cfg.Logf("pong: game %q created", name)
	return g, nil
}

// startRematch starts a new game named like old, which is over, with its
// players in the same seats (new tokens) and its spectators, and sends each
// what it needs: rematched to the players, spectating to the spectators.
// old.mu is held.
func (s *Server) startRematch(old *game) (*game, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &protoError{Code: CodeServerFull, Msg: "the server is shutting down"}
	}
	if g, ok := s.games[old.name]; ok && g != old {
		return nil, &protoError{Code: CodeNameTaken, Msg: "a new game named " + quote(old.name) + " has started meanwhile: pick another name"}
	}
	running := len(s.games)
	if _, ok := s.games[old.name]; ok {
		running-- // replaced
	}
	if running >= s.cfg.MaxGames {
		return nil, &protoError{Code: CodeServerFull, Msg: "too many games are running: try again later"}
	}
	g := newGame(s, old.name)
	for side, p := range old.players {
		g.seat(side, p)
		p.send(typeRematched, g.welcome(side))
	}
	for sp := range old.spectators {
		g.spectators[sp] = struct{}{}
		sp.send(typeSpectating, spectating{Game: g.name, Tick: s.cfg.Tick.Seconds(), Field: theField})
	}
	g.status = StatusPlaying
	s.games[g.name] = g
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		g.run()
	}()
	s.cfg.Logf("pong: game %q: rematch", g.name)
	return g, nil
}

// lookup returns the game named name.
func (s *Server) lookup(name string) (*game, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.games[name]
	if !ok {
		return nil, &protoError{Code: CodeNoSuchGame, Msg: "there is no game named " + quote(name)}
	}
	return g, nil
}

// remove forgets g once it is over.
func (s *Server) remove(g *game) {
	s.mu.Lock()
	if s.games[g.name] == g {
		delete(s.games, g.name)
	}
	s.mu.Unlock()
}

func quote(s string) string { return "\"" + s + "\"" }
