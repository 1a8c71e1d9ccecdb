package pongserver

import (
	"math"
)

// Field geometry, in field units. The browser client draws the field scaled
// to its canvas and runs the same rules for its local modes, so these
// numbers are part of the protocol: they are sent in created/joined.
const (
	FieldWidth   = 800.0 // width of the field
	FieldHeight  = 500.0 // height of the field
	PaddleWidth  = 12.0  // width of a paddle
	PaddleHeight = 90.0  // height of a paddle
	PaddleInset  = 24.0  // distance from a paddle's outer side to its wall
	BallSize     = 12.0  // side of the (square) ball
	PaddleSpeed  = 420.0 // paddle speed, units per second
	BallSpeed    = 360.0 // ball speed at each serve, units per second
	BallMaxSpeed = 900.0 // ball speed never exceeds this
	BallSpeedUp  = 1.06  // factor applied to the ball speed at each paddle hit
	WinScore     = 11    // points needed to win
	ServeTicks   = 45    // ticks the ball rests at the centre before a serve
	// CountdownTicks is the rest before the first serve of a game (3 s at
	// the default tick): the page counts it down.
	CountdownTicks = 180
	maxBounceRad   = math.Pi / 3
)

// Dir is a paddle's intended direction, the only thing a player controls.
type Dir int8

// The three directions a move message can ask for.
const (
	DirNone Dir = 0
	DirUp   Dir = -1 // towards y = 0
	DirDown Dir = 1
)

// String returns the wire name: "up", "down" or "none".
func (d Dir) String() string {
	switch d {
	case DirUp:
		return "up"
	case DirDown:
		return "down"
	}
	return "none"
}

// Ball is the ball's centre and velocity (units per second).
type Ball struct {
	X  float64 `json:"x"`
	Y  float64 `json:"y"`
	VX float64 `json:"vx"`
	VY float64 `json:"vy"`
}

// Paddle is one player's paddle: the y of its centre, the direction it is
// moving in, and Ack, the sequence number of the last move message of its
// player applied by the server (the client's prediction replays the moves
// after it).
type Paddle struct {
	Y   float64 `json:"y"`
	Dir Dir     `json:"dir"`
	Ack uint64  `json:"ack"`
}

// physics is the game's rules, free of time and I/O: step advances it by
// one tick. The game loop owns one and so do the tests.
type physics struct {
	Ball    Ball
	Paddles [2]Paddle // 0: left, 1: right
	Score   [2]int
	serve   int // ticks left before the ball is served
	server  int // side the next serve goes towards
	rnd     uint64
}

func newPhysics(seed uint64) physics {
	p := physics{rnd: seed | 1}
	p.Paddles[0].Y = FieldHeight / 2
	p.Paddles[1].Y = FieldHeight / 2
	p.resetBall(0)
	p.serve = CountdownTicks
	return p
}

// resetBall puts the ball at the centre; it will be served towards side.
func (p *physics) resetBall(side int) {
	p.Ball = Ball{X: FieldWidth / 2, Y: FieldHeight / 2}
	p.serve = ServeTicks
	p.server = side
}

// random returns a pseudo-random number in [0, 1) (xorshift: cheap, and
// deterministic for a given seed, which the tests rely on).
func (p *physics) random() float64 {
	p.rnd ^= p.rnd << 13
	p.rnd ^= p.rnd >> 7
	p.rnd ^= p.rnd << 17
	return float64(p.rnd>>11) / (1 << 53)
}

// paddleX returns the x of the face of side's paddle that meets the ball.
func paddleX(side int) float64 {
	if side == 0 {
		return PaddleInset + PaddleWidth
	}
	return FieldWidth - PaddleInset - PaddleWidth
}

// step advances the game by dt seconds. It returns the side that scored, or
// -1.
func (p *physics) step(dt float64) int {
	for i := range p.Paddles {
		pd := &p.Paddles[i]
		pd.Y += float64(pd.Dir) * PaddleSpeed * dt
		pd.Y = math.Max(PaddleHeight/2, math.Min(FieldHeight-PaddleHeight/2, pd.Y))
	}
	if p.serve > 0 {
		p.serve--
		if p.serve == 0 {
			angle := (p.random()*2 - 1) * math.Pi / 6
			dir := -1.0
			if p.server == 1 {
				dir = 1
			}
			p.Ball.VX = dir * BallSpeed * math.Cos(angle)
			p.Ball.VY = BallSpeed * math.Sin(angle)
		}
		return -1
	}
	b := &p.Ball
	ox := b.X
	b.X += b.VX * dt
	b.Y += b.VY * dt
	const r = BallSize / 2
	if b.Y < r {
		b.Y, b.VY = 2*r-b.Y, -b.VY
	} else if b.Y > FieldHeight-r {
		b.Y, b.VY = 2*(FieldHeight-r)-b.Y, -b.VY
	}
	// A paddle hits the ball when the ball's leading edge crossed the
	// paddle's face during this step and the ball overlaps it vertically.
	if b.VX < 0 {
		p.bounce(0, ox-r, b.X-r)
	} else if b.VX > 0 {
		p.bounce(1, ox+r, b.X+r)
	}
	switch {
	case b.X < -BallSize:
		p.Score[1]++
		p.resetBall(0)
		return 1
	case b.X > FieldWidth+BallSize:
		p.Score[0]++
		p.resetBall(1)
		return 0
	}
	return -1
}

// bounce reflects the ball off side's paddle when its leading edge went
// from before to past the paddle's face.
func (p *physics) bounce(side int, from, to float64) {
	face := paddleX(side)
	crossed := (side == 0 && from >= face && to < face) || (side == 1 && from <= face && to > face)
	if !crossed {
		return
	}
	b := &p.Ball
	pd := p.Paddles[side]
	off := (b.Y - pd.Y) / (PaddleHeight/2 + BallSize/2)
	if off < -1 || off > 1 {
		return
	}
	speed := math.Min(math.Hypot(b.VX, b.VY)*BallSpeedUp, BallMaxSpeed)
	angle := off * maxBounceRad
	dir := 1.0
	if side == 1 {
		dir = -1
	}
	b.VX = dir * speed * math.Cos(angle)
	b.VY = speed * math.Sin(angle)
	// Put the ball back in front of the face, mirrored.
	if side == 0 {
		b.X = face + (face - (b.X - BallSize/2)) + BallSize/2
	} else {
		b.X = face - ((b.X + BallSize/2) - face) - BallSize/2
	}
}
