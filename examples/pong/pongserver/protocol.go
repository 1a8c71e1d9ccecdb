package pongserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Error codes sent in the data of an error message ({"type":"error",
// "data":{"code":...,"message":...}}). Clients branch on the code; the
// message is for people.
const (
	CodeNameTaken   = "name_taken"   // create: a game with that name exists
	CodeNoSuchGame  = "no_such_game" // join/spectate/rejoin: no game with that name
	CodeGameFull    = "game_full"    // join: the game already has two players
	CodeBadToken    = "bad_token"    // rejoin: the token is not one of the game's
	CodeBadJSON     = "bad_json"     // the message is not a JSON object {"type":...,"data":...}
	CodeUnknownType = "unknown_type" // the message type is not one a client may send
	CodeBadData     = "bad_data"     // the data does not fit the type (bad name, direction...)
	CodeTooBig      = "too_big"      // the message is longer than MaxMessage
	CodeRateLimited = "rate_limited" // the client sends faster than its token bucket allows
	CodeNotAllowed  = "not_allowed"  // the message makes no sense in this state (move outside a game, create twice)
	CodeServerFull  = "server_full"  // create: the server already runs Config.MaxGames games
)

// Client message types.
const (
	typeCreate   = "create"
	typeJoin     = "join"
	typeSpectate = "spectate"
	typeRejoin   = "rejoin"
	typeMove     = "move"
	typeLeave    = "leave"
	typeRematch  = "rematch"
)

// maxNameLen bounds game names.
const maxNameLen = 32

// request is a parsed, validated client message.
type request struct {
	Type  string
	Game  string // create, join, spectate, rejoin
	Token string // rejoin
	Dir   Dir    // move
	Seq   uint64 // move: the client's input sequence number
}

// protoError is a client's mistake: it is answered with an error message
// carrying Code, and counts as a strike.
type protoError struct {
	Code string
	Msg  string
}

func (e *protoError) Error() string { return e.Code + ": " + e.Msg }

func badData(format string, args ...any) *protoError {
	return &protoError{Code: CodeBadData, Msg: fmt.Sprintf(format, args...)}
}

// parseRequest decodes and validates one client message. Every failure is
// a *protoError.
func parseRequest(msg []byte) (request, error) {
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg, &env); err != nil {
		return request{}, &protoError{Code: CodeBadJSON, Msg: "the message must be a JSON object {\"type\":...,\"data\":...}"}
	}
	req := request{Type: env.Type}
	switch env.Type {
	case typeCreate, typeJoin, typeSpectate:
		var d struct {
			Game string `json:"game"`
		}
		if err := decodeData(env.Data, &d); err != nil {
			return request{}, err
		}
		name, err := cleanName(d.Game)
		if err != nil {
			return request{}, err
		}
		req.Game = name
	case typeRejoin:
		var d struct {
			Game  string `json:"game"`
			Token string `json:"token"`
		}
		if err := decodeData(env.Data, &d); err != nil {
			return request{}, err
		}
		name, err := cleanName(d.Game)
		if err != nil {
			return request{}, err
		}
		if len(d.Token) != tokenLen {
			return request{}, badData("token must be %d characters", tokenLen)
		}
		req.Game, req.Token = name, d.Token
	case typeMove:
		var d struct {
			Dir string `json:"dir"`
			Seq uint64 `json:"seq"`
		}
		if err := decodeData(env.Data, &d); err != nil {
			return request{}, err
		}
		switch d.Dir {
		case "up":
			req.Dir = DirUp
		case "down":
			req.Dir = DirDown
		case "none":
			req.Dir = DirNone
		default:
			return request{}, badData(`dir must be "up", "down" or "none"`)
		}
		req.Seq = d.Seq
	case typeLeave, typeRematch:
		if len(env.Data) != 0 && !bytes.Equal(env.Data, []byte("null")) && !bytes.Equal(env.Data, []byte("{}")) {
			return request{}, badData("%s takes no data", env.Type)
		}
	case "":
		return request{}, &protoError{Code: CodeBadJSON, Msg: "the message has no type"}
	default:
		t := env.Type
		if len(t) > 32 {
			t = t[:32] + "..."
		}
		return request{}, &protoError{Code: CodeUnknownType, Msg: fmt.Sprintf("unknown message type %q", t)}
	}
	return req, nil
}

// decodeData decodes a message's data strictly: unknown fields are refused,
// so that a typo is reported instead of silently ignored.
func decodeData(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return badData("the message needs data")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return badData("field %q has the wrong type", ute.Field)
		}
		return badData("the data does not fit the message type")
	}
	return nil
}

// cleanName trims a game name and checks that it is 1 to 32 letters,
// digits, spaces, '-' or '_'. Names are shown to other players, so they
// are kept plain.
func cleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxNameLen {
		return "", badData("a game name is 1 to %d characters", maxNameLen)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '-' || r == '_'
		if !ok {
			return "", badData("a game name holds only letters, digits, spaces, '-' and '_'")
		}
	}
	return s, nil
}

// Server message payloads.

// gameInfo is one entry of the list of games served at "games".
type gameInfo struct {
	Name       string `json:"name"`
	Status     string `json:"status"`  // waiting, playing or paused
	Players    int    `json:"players"` // connected players
	Spectators int    `json:"spectators"`
}

// welcome is the data of created, joined and rejoined: what the client
// needs to play and to come back.
type welcome struct {
	Game  string   `json:"game"`
	Side  string   `json:"side"` // "left" or "right"
	Token string   `json:"token"`
	Tick  float64  `json:"tick"` // seconds per tick
	Grace float64  `json:"grace"`
	Field fieldDef `json:"field"`
}

// spectating is the data of a spectating message.
type spectating struct {
	Game  string   `json:"game"`
	Tick  float64  `json:"tick"`
	Field fieldDef `json:"field"`
}

type fieldDef struct {
	Width        float64 `json:"width"`
	Height       float64 `json:"height"`
	PaddleWidth  float64 `json:"paddleWidth"`
	PaddleHeight float64 `json:"paddleHeight"`
	PaddleInset  float64 `json:"paddleInset"`
	BallSize     float64 `json:"ballSize"`
	PaddleSpeed  float64 `json:"paddleSpeed"`
	WinScore     int     `json:"winScore"`
}

var theField = fieldDef{
	Width: FieldWidth, Height: FieldHeight, PaddleWidth: PaddleWidth, PaddleHeight: PaddleHeight,
	PaddleInset: PaddleInset, BallSize: BallSize, PaddleSpeed: PaddleSpeed, WinScore: WinScore,
}

// State is the data of a state message, broadcast at each tick of a game in
// play (and at each change of a waiting or paused game).
type State struct {
	Seq     uint64    `json:"seq"`    // tick number, increasing by one per tick
	Status  string    `json:"status"` // waiting, playing, paused or over
	Ball    Ball      `json:"ball"`
	Paddles [2]Paddle `json:"paddles"` // left, right
	Score   [2]int    `json:"score"`
	Serve   int       `json:"serve"` // ticks before the next serve (0: ball in play)
}

// Game statuses.
const (
	StatusWaiting = "waiting" // created, waiting for the second player
	StatusPlaying = "playing"
	StatusPaused  = "paused" // a player is disconnected; the grace period runs
	StatusOver    = "over"
)

type errorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// opponentData is the data of an opponent message: the other player
// joined, disconnected (with the grace period it has to come back, in
// seconds), rejoined, asks for a rematch (rematch), or, once the game is
// over, has gone (left: no rematch is possible).
type opponentData struct {
	Event string  `json:"event"`
	Grace float64 `json:"grace,omitempty"`
}

// overData is the data of an over message.
type overData struct {
	Winner string `json:"winner"` // "left", "right" or "" (nobody)
	Reason string `json:"reason"` // score, forfeit (did not come back in time), left (gave up), abandoned
	Score  [2]int `json:"score"`
}

// encode builds a server message.
func encode(typ string, data any) []byte {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data,omitempty"`
	}{typ, data})
	if err != nil {
		// Only our own types are encoded, so this means a bug (a NaN in
		// the physics, say): tell the client rather than crash the server.
		return []byte(`{"type":"error","data":{"code":"internal","message":"the server could not encode a message"}}`)
	}
	return b
}

func sideName(side int) string {
	if side == 0 {
		return "left"
	}
	return "right"
}
