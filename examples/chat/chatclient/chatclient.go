// Package chatclient is a Go client for the chat example that stays in
// the room: when its connection ends it reconnects by itself, with
// exponential backoff and jitter, to the next of its server URLs, and
// resumes where it left off (same nickname, every event it missed, none
// twice).
//
//	c := chatclient.New(chatclient.Config{URLs: []string{"ws://a/ws", "ws://b/ws"}, Nick: "ada", Token: "s3cret",
//		OnEvent: func(ev chatserver.Event) { fmt.Println(ev.Nick, ev.Text) }})
//	go c.Run(ctx)
//	c.Say(ctx, "hello")
package chatclient

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// The reconnect schedule: 1 s, 2 s, 4 s … capped at 60 s, each plus a
// random jitter below MaxJitter, so that clients dropped together do not
// come back together.
const (
	BackoffBase = time.Second
	BackoffMax  = 60 * time.Second
	MaxJitter   = 500 * time.Millisecond
)

// Backoff returns the wait before reconnect attempt n (0 for the first
// retry after a failure): BackoffBase·2ⁿ capped at BackoffMax, plus
// jitter (which the caller draws from [0, MaxJitter]).
func Backoff(n int, jitter time.Duration) time.Duration {
	d := BackoffMax
	if n < 6 { // 1 s << 6 = 64 s is past the cap
		d = min(BackoffBase<<max(n, 0), BackoffMax)
	}
	return d + jitter
}

// State is where a Client stands.
type State string

// The states a Client goes through.
const (
	Connecting   State = "connecting"
	Connected    State = "connected"
	Reconnecting State = "reconnecting"
	Closed       State = "closed"
)

// Config configures a Client.
type Config struct {
	// URLs are the WebSocket endpoints of the servers of one room
	// ("ws://host/ws"); the client starts with the first and moves to
	// the next at each reconnect.
	URLs []string
	// Nick and Token are the client's nickname and the room's token.
	Nick, Token string
	// OnEvent receives every event of the room ("join", "leave",
	// "message", including those of a welcome's history, in order) and
	// the "error" events; it runs on the client's goroutine.
	OnEvent func(chatserver.Event)
	// OnState, if set, is told each change of state, with the wait
	// before the next attempt when reconnecting.
	OnState func(s State, wait time.Duration)
	// Sleep waits d or until ctx is done (nil: a timer). Tests replace it
	// to run the schedule without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter draws the jitter of a wait (nil: uniform in [0, MaxJitter]).
	Jitter func() time.Duration
	// DialOptions are passed to conn.Dial.
	DialOptions *conn.DialOptions
}

// Client is a chat member that reconnects by itself. Create it with New,
// start it with Run.
type Client struct {
	cfg Config

	mu      sync.Mutex
	c       *conn.Conn
	session string
	last    string
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(chatserver.Event) {}
	}
	if cfg.OnState == nil {
		cfg.OnState = func(State, time.Duration) {}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func() time.Duration { return rand.N(MaxJitter + 1) }
	}
	// The client picks its session: should its first connection fail
	// after the server claimed the nickname, the next attempt holds the
	// same session and gets the nickname back.
	return &Client{cfg: cfg, session: crand.Text()}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrNotConnected is returned by Say between connections.
var ErrNotConnected = errors.New("chatclient: not connected")

// Say sends a message to the room. It fails with ErrNotConnected while the
// client is reconnecting; a message that Say accepted may still be lost
// if the connection fails before the server has it (the server does not
// acknowledge messages).
func (cl *Client) Say(ctx context.Context, text string) error {
	cl.mu.Lock()
	c := cl.c
	cl.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	b, err := json.Marshal(chatserver.Command{Type: "say", Text: text})
	if err != nil {
		return err
	}
	return c.Write(ctx, conn.MessageText, b)
}

// Last returns the id of the last event the client has seen.
func (cl *Client) Last() string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.last
}

// RefusedError is a refusal from the server that reconnecting will not
// cure: a wrong token, a bad nickname, a nickname in use.
type RefusedError struct {
	Status int
	Reason string
}

// Error says the status and the server's reason.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("chatclient: refused (%d): %s", e.Status, e.Reason)
}

// Run connects and stays in the room until ctx is done (it then closes
// with 1000 and returns ctx.Err()) or the server refuses the client for
// good (a *RefusedError).
func (cl *Client) Run(ctx context.Context) error {
	if len(cl.cfg.URLs) == 0 {
		return errors.New("chatclient: no URLs")
	}
	attempt := 0 // failed attempts since the last welcome
	state := Connecting
	for i := 0; ; i++ {
		cl.cfg.OnState(state, 0)
		welcomed, drain, err := cl.session1(ctx, cl.cfg.URLs[i%len(cl.cfg.URLs)])
		if ctx.Err() != nil {
			cl.cfg.OnState(Closed, 0)
			return ctx.Err()
		}
		var refused *RefusedError
		if errors.As(err, &refused) {
			cl.cfg.OnState(Closed, 0)
			return err
		}
		if welcomed {
			attempt = 0
		}
		wait := cl.cfg.Jitter()
		if !drain {
			// A server going away asked us to come back at once
			// (elsewhere); anything else backs off.
			wait = Backoff(attempt, wait)
			attempt++
		}
		state = Reconnecting
		cl.cfg.OnState(Reconnecting, wait)
		if err := cl.cfg.Sleep(ctx, wait); err != nil {
			cl.cfg.OnState(Closed, 0)
			return err
		}
	}
}

// session1 runs one connection: it reports whether the server let the
// client in, whether it asked it to reconnect (drain), and why it ended.
func (cl *Client) session1(ctx context.Context, base string) (welcomed, drain bool, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return false, false, &RefusedError{Reason: err.Error()}
	}
	cl.mu.Lock()
	q := url.Values{"nick": {cl.cfg.Nick}, "token": {cl.cfg.Token}}
	if cl.session != "" {
		q.Set("session", cl.session)
	}
	if cl.last != "" {
		q.Set("last", cl.last)
	}
	cl.mu.Unlock()
	u.RawQuery = q.Encode()
	c, resp, err := conn.Dial(ctx, u.String(), cl.cfg.DialOptions)
	if err != nil {
		var re *handshake.ResponseError
		if resp != nil && errors.As(err, &re) {
			switch resp.StatusCode {
			case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict:
				return false, false, &RefusedError{Status: resp.StatusCode, Reason: string(re.Body)}
			}
		}
		return false, false, err
	}
	c.SetReadLimit(64 << 20) // a welcome may carry the room's whole history
	stop := context.AfterFunc(ctx, func() { c.Close(wsframe.CloseNormal, "bye") })
	defer stop()
	defer func() {
		cl.mu.Lock()
		cl.c = nil
		cl.mu.Unlock()
		c.CloseNow()
	}()
	for {
		_, msg, err := c.Read(context.Background())
		if err != nil {
			return welcomed, drain, err
		}
		var ev chatserver.Event
		if err := json.Unmarshal(msg, &ev); err != nil {
			return welcomed, drain, fmt.Errorf("chatclient: bad event: %w", err)
		}
		switch ev.Type {
		case "welcome":
			welcomed = true
			cl.mu.Lock()
			if ev.Session != "" {
				cl.session = ev.Session
			}
			cl.c = c
			cl.mu.Unlock()
			cl.cfg.OnState(Connected, 0)
			for _, h := range ev.History {
				cl.seen(h)
			}
		case "reconnect":
			drain = true
		default:
			cl.seen(ev)
		}
	}
}

// seen records ev as the last event seen, if it has an id, and hands it on.
func (cl *Client) seen(ev chatserver.Event) {
	if ev.ID != "" {
		cl.mu.Lock()
		cl.last = ev.ID
		cl.mu.Unlock()
	}
	cl.cfg.OnEvent(ev)
}
