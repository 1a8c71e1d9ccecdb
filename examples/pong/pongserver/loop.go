package pongserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
)

// tokenLen is the length of a rejoin token: 16 random bytes in hex.
const tokenLen = 32

func newToken() string {
	var b [tokenLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// game is one match: two seats, spectators, the physics, and the loop that
// steps it. Everything in it is guarded by mu; the loop is the only writer
// of the physics, and clients only set their paddle's direction.
type game struct {
	srv  *Server
	name string
	stop chan struct{}
	once sync.Once

	mu         sync.Mutex
	phys       physics
	status     string
	seq        uint64
	players    [2]*client
	tokens     [2]string
	seated     [2]bool      // the seat has had a player
	lostAt     [2]time.Time // when the seat's player disconnected
	spectators map[*client]struct{}
	dirty      bool // a waiting or paused game has news to broadcast
	// Once the game is over: which players asked for a rematch, and the
	// game that replaced this one when both did.
	rematch [2]bool
	next    *game
}

func newGame(s *Server, name string) *game {
	var seed [8]byte
	rand.Read(seed[:])
	return &game{
		srv:        s,
		name:       name,
		stop:       make(chan struct{}),
		phys:       newPhysics(binary.LittleEndian.Uint64(seed[:])),
		status:     StatusWaiting,
		spectators: make(map[*client]struct{}),
		dirty:      true,
	}
}

// halt stops the loop (at shutdown).
func (g *game) halt() { g.once.Do(func() { close(g.stop) }) }

// seat puts cl in seat side, with a new token. g.mu must be
// held, or g not yet shared.
func (g *game) seat(side int, cl *client) {
	g.players[side] = cl
	g.seated[side] = true
	g.tokens[side] = newToken()
	g.lostAt[side] = time.Time{}
}

func (g *game) welcome(side int) welcome {
	return welcome{
		Game: g.name, Side: sideName(side), Token: g.tokens[side],
		Tick: g.srv.cfg.Tick.Seconds(), Grace: g.srv.cfg.Grace.Seconds(), Field: theField,
	}
}

// join seats cl as the right player and sends it joined. (Replies are
// queued under g.mu so that they precede every state of the game.)
func (g *game) join(cl *client) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == StatusOver {
		return &protoError{Code: CodeNoSuchGame, Msg: "the game " + quote(g.name) + " is over"}
	}
	if g.seated[1] {
		return &protoError{Code: CodeGameFull, Msg: "the game " + quote(g.name) + " has two players: spectate it instead"}
	}
	g.seat(1, cl)
	cl.send(typeJoined, g.welcome(1))
	if g.players[0] != nil {
		g.status = StatusPlaying
		g.players[0].send(typeOpponent, opponentData{Event: "joined"})
	} else {
		g.status = StatusPaused
		g.players[1].send(typeOpponent, opponentData{Event: "disconnected", Grace: g.remaining(0)})
	}
	g.dirty = true
	g.srv.cfg.Logf("pong: game %q: two players", g.name)
	return nil
}

// remaining returns the seconds left to side's player to rejoin.
func (g *game) remaining(side int) float64 {
	left := g.srv.cfg.Grace - g.srv.cfg.Clock.Now().Sub(g.lostAt[side])
	return max(left, 0).Seconds()
}

// reasonReplaced is the close reason of a player's connection whose seat
// another connection took with the seat's token (the page matches it, so
// that two tabs do not fight for the seat).
const reasonReplaced = "replaced by a newer connection"

// rejoin seats cl again in the seat whose token it presents, sends it
// rejoined and returns the side. A connection still in the seat (one the
// player lost without the server noticing yet) is closed.
func (g *game) rejoin(cl *client, token string) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == StatusOver {
		return 0, &protoError{Code: CodeNoSuchGame, Msg: "the game " + quote(g.name) + " is over"}
	}
	side := -1
	for i := range g.tokens {
		if g.seated[i] && subtle.ConstantTimeCompare([]byte(token), []byte(g.tokens[i])) == 1 {
			side = i
		}
	}
	if side < 0 {
		return 0, &protoError{Code: CodeBadToken, Msg: "this token does not belong to a player of " + quote(g.name)}
	}
	if old := g.players[side]; old != nil {
		old.closeWith(1000, reasonReplaced)
	}
	g.players[side] = cl
	g.lostAt[side] = time.Time{}
	g.phys.Paddles[side].Dir = DirNone
	cl.send(typeRejoined, g.welcome(side))
	other := 1 - side
	if g.players[other] != nil {
		g.players[other].send(typeOpponent, opponentData{Event: "rejoined"})
		if g.status == StatusPaused {
			g.status = StatusPlaying
		}
	}
	g.dirty = true
	g.srv.cfg.Logf("pong: game %q: %s player rejoined", g.name, sideName(side))
	return side, nil
}

// spectate adds cl to the spectators.
func (g *game) spectate(cl *client) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == StatusOver {
		return &protoError{Code: CodeNoSuchGame, Msg: "the game " + quote(g.name) + " is over"}
	}
	if len(g.spectators) >= g.srv.cfg.MaxSpectators {
		return &protoError{Code: CodeGameFull, Msg: "the game " + quote(g.name) + " has too many spectators"}
	}
	g.spectators[cl] = struct{}{}
	cl.send(typeSpectating, spectating{Game: g.name, Tick: g.srv.cfg.Tick.Seconds(), Field: theField})
	g.dirty = true
	return nil
}

// move sets the direction of side's paddle, if cl still holds that seat.
// seq is the client's input number, echoed in the state as the paddle's
// Ack so that the client can reconcile its prediction.
func (g *game) move(cl *client, side int, dir Dir, seq uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.players[side] != cl || g.status == StatusOver {
		return false
	}
	pd := &g.phys.Paddles[side]
	pd.Dir = dir
	pd.Ack = max(pd.Ack, seq)
	return true
}

// detach removes cl, whose connection ended (or who left): a player's seat
// stays open for the grace period, and the game pauses. Once the game is
// over, a player who goes is gone for good: the other is told (opponent
// left), so that it does not wait for a rematch.
func (g *game) detach(cl *client, side int, leaving bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if side < 0 {
		delete(g.spectators, cl)
		return
	}
	if g.players[side] != cl {
		return
	}
	other := 1 - side
	if g.status == StatusOver {
		g.players[side] = nil
		g.rematch = [2]bool{}
		if p := g.players[other]; p != nil && g.next == nil {
			p.send(typeOpponent, opponentData{Event: "left"})
		}
		return
	}
	g.players[side] = nil
	g.phys.Paddles[side].Dir = DirNone
	if leaving {
		if g.seated[other] {
			g.endLocked(sideName(other), "left")
		} else {
			g.endLocked("", "left")
		}
		return
	}
	g.lostAt[side] = g.srv.cfg.Clock.Now()
	if g.status == StatusPlaying {
		g.status = StatusPaused
	}
	if p := g.players[other]; p != nil {
		p.send(typeOpponent, opponentData{Event: "disconnected", Grace: g.srv.cfg.Grace.Seconds()})
	}
	g.dirty = true
	g.srv.cfg.Logf("pong: game %q: %s player disconnected", g.name, sideName(side))
}

// askRematch records that side's player, cl, wants to play the game that
// is over again. The other player is told (opponent rematch); once both
// have asked, a new game of the same name starts with the same sides,
// which both are sent (rematched, with new tokens) and which replaces this
// one for them and for its spectators.
func (g *game) askRematch(cl *client, side int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status != StatusOver || g.players[side] != cl || g.next != nil {
		return &protoError{Code: CodeNotAllowed, Msg: "there is no finished game to play again"}
	}
	other := 1 - side
	p := g.players[other]
	if p == nil {
		return &protoError{Code: CodeNotAllowed, Msg: "your opponent has left: create a new game"}
	}
	if g.rematch[side] {
		return nil // asked twice: nothing new
	}
	g.rematch[side] = true
	if !g.rematch[other] {
		p.send(typeOpponent, opponentData{Event: "rematch"})
		return nil
	}
	ng, err := g.srv.startRematch(g)
	if err != nil {
		g.rematch = [2]bool{}
		return err
	}
	g.next = ng
	return nil
}

// holds reports whether cl is in g, in seat side (or as a spectator when
// side < 0).
func (g *game) holds(cl *client, side int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if side < 0 {
		_, ok := g.spectators[cl]
		return ok
	}
	return g.players[side] == cl
}

// info describes g for the list of games.
func (g *game) info() (gameInfo, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == StatusOver {
		return gameInfo{}, false
	}
	n := 0
	for _, p := range g.players {
		if p != nil {
			n++
		}
	}
	return gameInfo{Name: g.name, Status: g.status, Players: n, Spectators: len(g.spectators)}, true
}

// endLocked ends the game: everyone gets the final state and an over
// message. g.mu must be held.
func (g *game) endLocked(winner, reason string) {
	if g.status == StatusOver {
		return
	}
	g.status = StatusOver
	g.seq++
	g.broadcastLocked(encode(typeState, g.stateLocked()))
	g.broadcastLocked(encode(typeOver, overData{Winner: winner, Reason: reason, Score: g.phys.Score}))
	g.halt()
	g.srv.cfg.Logf("pong: game %q over (%s), winner %q, score %v", g.name, reason, winner, g.phys.Score)
}

func (g *game) stateLocked() State {
	return State{
		Seq: g.seq, Status: g.status, Ball: g.phys.Ball,
		Paddles: g.phys.Paddles, Score: g.phys.Score, Serve: g.phys.serve,
	}
}

// broadcastLocked sends msg, encoded once, to the players and spectators.
func (g *game) broadcastLocked(msg []byte) {
	pm, err := conn.NewPreparedMessage(conn.MessageText, msg)
	if err != nil {
		return
	}
	for _, p := range g.players {
		if p != nil {
			p.sendPrepared(pm)
		}
	}
	for s := range g.spectators {
		s.sendPrepared(pm)
	}
}

// run is the game loop: at each tick it ends the game if a player's grace
// period ran out, steps the physics when both players are there, and
// broadcasts the state.
func (g *game) run() {
	t := g.srv.cfg.Clock.NewTicker(g.srv.cfg.Tick)
	defer t.Stop()
	defer g.srv.remove(g)
	for {
		select {
		case <-g.stop:
			return
		case <-t.C():
			if !g.tick() {
				return
			}
		}
	}
}

// tick runs one tick and reports whether the game goes on.
func (g *game) tick() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == StatusOver {
		return false
	}
	now := g.srv.cfg.Clock.Now()
	for side := range g.players {
		if g.seated[side] && g.players[side] == nil && now.Sub(g.lostAt[side]) >= g.srv.cfg.Grace {
			other := 1 - side
			if g.seated[other] && g.players[other] != nil {
				g.endLocked(sideName(other), "forfeit")
			} else {
				g.endLocked("", "abandoned")
			}
			return false
		}
	}
	g.seq++
	if g.status == StatusPlaying {
		if scorer := g.phys.step(g.srv.cfg.Tick.Seconds()); scorer >= 0 && g.phys.Score[scorer] >= WinScore {
			g.endLocked(sideName(scorer), "score")
			return false
		}
	} else if !g.dirty {
		return true
	}
	g.dirty = false
	g.broadcastLocked(encode(typeState, g.stateLocked()))
	return true
}
