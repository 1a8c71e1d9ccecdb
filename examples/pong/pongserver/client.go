package pongserver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// Server message types.
const (
	typeCreated    = "created"
	typeJoined     = "joined"
	typeRejoined   = "rejoined"
	typeSpectating = "spectating"
	typeState      = "state"
	typeOpponent   = "opponent"
	typeOver       = "over"
	typeError      = "error"
	typeLeft       = "left"
	typeRematched  = "rematched"
)

// sendQueue is how many messages may wait for a client's writer: at 60
// ticks per second, about a second of states. A client that falls further
// behind is closed rather than allowed to hold memory or slow the game.
const sendQueue = 64

// writeTimeout bounds the write of one message to a client.
const writeTimeout = 10 * time.Second

// client is one WebSocket connection: a player, a spectator, or someone in
// the lobby. Its reader is the HTTP handler's goroutine; its writer is a
// goroutine fed by a queue, so the game loop never waits for a network.
type client struct {
	srv *Server
	c   *conn.Conn
	out chan *conn.PreparedMessage

	closeOnce   sync.Once
	quit        chan struct{} // closed to make the writer close the conn
	closeCode   wsframe.CloseCode
	closeReason string

	// Owned by the reader goroutine.
	game    *game
	side    int // 0 or 1 for a player, -1 for a spectator
	strikes int
	tokens  float64
	last    time.Time
}

func newClient(s *Server, c *conn.Conn) *client {
	return &client{
		srv:    s,
		c:      c,
		out:    make(chan *conn.PreparedMessage, sendQueue),
		quit:   make(chan struct{}),
		tokens: float64(s.cfg.Burst),
		last:   s.cfg.Clock.Now(),
	}
}

// send queues a message for the client. It never blocks.
func (cl *client) send(typ string, data any) {
	pm, err := conn.NewPreparedMessage(conn.MessageText, encode(typ, data))
	if err == nil {
		cl.sendPrepared(pm)
	}
}

// sendPrepared queues pm for the client, or closes a client whose queue
// is full (it does not read fast enough). It never blocks.
func (cl *client) sendPrepared(pm *conn.PreparedMessage) {
	select {
	case <-cl.quit:
	case cl.out <- pm:
	default:
		cl.closeWith(wsframe.ClosePolicyViolation, "too slow: messages are piling up")
	}
}

// closeWith makes the writer send what is queued, then close the
// connection with code and reason. Only the first call counts.
func (cl *client) closeWith(code wsframe.CloseCode, reason string) {
	cl.closeOnce.Do(func() {
		cl.closeCode, cl.closeReason = code, reason
		close(cl.quit)
	})
}

// writeLoop writes queued messages until the connection ends or closeWith
// is called.
func (cl *client) writeLoop() {
	write := func(pm *conn.PreparedMessage) bool {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		return cl.c.WritePrepared(ctx, pm) == nil
	}
	for {
		select {
		case <-cl.c.Done():
			return
		case pm := <-cl.out:
			if !write(pm) {
				cl.c.CloseNow()
				return
			}
		case <-cl.quit:
			for {
				select {
				case pm := <-cl.out:
					if !write(pm) {
						cl.c.CloseNow()
						return
					}
					continue
				default:
				}
				break
			}
			cl.c.Close(cl.closeCode, cl.closeReason)
			return
		}
	}
}

// readLoop reads and handles the client's messages until the connection
// ends, then takes the client out of its game.
func (cl *client) readLoop() {
	// When a read fails, the connection is already ending (conn echoes
	// the peer's close, or sends its own for a protocol error, such as
	// 1009 for a message over the read limit) and the writer stops on
	// c.Done(): closing here too would race with conn's close frame.
	defer func() {
		if g := cl.current(); g != nil {
			g.detach(cl, cl.side, false)
		} else {
			cl.drop()
		}
	}()
	max := cl.srv.cfg.MaxMessage
	var buf []byte
	for {
		// The whole message is read (ReadLimit, 4 KiB by default, bounds
		// it: over that, conn closes with 1009), then judged against the
		// softer MaxMessage. (ReadInto rather than a streaming Reader: it
		// holds the connection's read lock for the whole message, which
		// matters when the writer closes the connection meanwhile.)
		typ, msg, err := cl.c.ReadInto(context.Background(), buf[:0])
		if err != nil {
			return
		}
		buf = msg
		n := len(msg)
		select {
		case <-cl.quit:
			continue // closing: drain until the close handshake ends
		default:
		}
		if !cl.allow() {
			cl.strike(&protoError{Code: CodeRateLimited, Msg: "too many messages: slow down"})
			continue
		}
		if n > max {
			cl.strike(&protoError{Code: CodeTooBig, Msg: "the message is too long"})
			continue
		}
		if typ != conn.MessageText {
			cl.strike(&protoError{Code: CodeBadJSON, Msg: "messages are JSON text, not binary"})
			continue
		}
		req, err := parseRequest(msg)
		if err != nil {
			cl.strike(err)
			continue
		}
		if err := cl.handle(req); err != nil {
			cl.refuse(err)
		}
	}
}

// allow takes a token from the client's bucket.
func (cl *client) allow() bool {
	now := cl.srv.cfg.Clock.Now()
	if el := now.Sub(cl.last).Seconds(); el > 0 {
		cl.tokens = min(cl.tokens+el*cl.srv.cfg.Rate, float64(cl.srv.cfg.Burst))
	}
	cl.last = now
	if cl.tokens < 1 {
		return false
	}
	cl.tokens--
	return true
}

// refuse answers a request with an error message.
func (cl *client) refuse(err error) {
	var pe *protoError
	if !errors.As(err, &pe) {
		pe = &protoError{Code: "internal", Msg: "internal error"}
	}
	cl.send(typeError, errorData{Code: pe.Code, Message: pe.Msg})
}

// strike refuses a bad message and closes the client with 1008 once it
// has sent too many.
func (cl *client) strike(err error) {
	cl.refuse(err)
	cl.strikes++
	if cl.strikes >= cl.srv.cfg.MaxStrikes {
		cl.srv.cfg.Logf("pong: closing %v: too many bad messages", cl.c.RemoteAddr())
		cl.closeWith(wsframe.ClosePolicyViolation, "too many bad messages")
	}
}

// current returns the client's game while it is not over (following a
// rematch into the game that replaced it), or nil. cl.game keeps a game
// that is over, so that its player can ask for a rematch and its opponent
// be told when the player goes.
func (cl *client) current() *game {
	for cl.game != nil {
		g := cl.game
		g.mu.Lock()
		over, next := g.status == StatusOver, g.next
		g.mu.Unlock()
		if !over {
			return g
		}
		if next == nil || !next.holds(cl, cl.side) {
			return nil
		}
		cl.game = next
	}
	return nil
}

// drop takes the client out of the game that is over and that it still
// belongs to, if any.
func (cl *client) drop() {
	if cl.game != nil {
		cl.game.detach(cl, cl.side, false)
		cl.game = nil
	}
}

var errInGame = &protoError{Code: CodeNotAllowed, Msg: "already in a game: leave it first"}

// handle carries out a valid request.
func (cl *client) handle(req request) error {
	g := cl.current()
	switch req.Type {
	case typeCreate:
		if g != nil {
			return errInGame
		}
		cl.drop()
		ng, err := cl.srv.createGame(req.Game, cl)
		if err != nil {
			return err
		}
		cl.game, cl.side = ng, 0
	case typeJoin, typeRejoin, typeSpectate:
		if g != nil {
			return errInGame
		}
		ng, err := cl.srv.lookup(req.Game)
		if err != nil {
			return err
		}
		side := -1
		switch req.Type {
		case typeJoin:
			side, err = 1, ng.join(cl)
		case typeRejoin:
			side, err = ng.rejoin(cl, req.Token)
		default:
			err = ng.spectate(cl)
		}
		if err != nil {
			return err
		}
		if cl.game != nil && cl.game != ng {
			cl.drop()
		}
		cl.game, cl.side = ng, side
	case typeMove:
		if g == nil || cl.side < 0 || !g.move(cl, cl.side, req.Dir, req.Seq) {
			return &protoError{Code: CodeNotAllowed, Msg: "only a player in a game can move"}
		}
	case typeLeave:
		if g == nil && cl.game == nil {
			return &protoError{Code: CodeNotAllowed, Msg: "not in a game"}
		}
		if g != nil {
			g.detach(cl, cl.side, true)
			cl.game = nil
		} else {
			cl.drop() // a game that is over: no rematch
		}
		cl.send(typeLeft, nil)
	case typeRematch:
		if g != nil {
			return &protoError{Code: CodeNotAllowed, Msg: "the game is not over"}
		}
		if cl.game == nil || cl.side < 0 {
			return &protoError{Code: CodeNotAllowed, Msg: "there is no finished game to play again"}
		}
		return cl.game.askRematch(cl, cl.side)
	}
	return nil
}
