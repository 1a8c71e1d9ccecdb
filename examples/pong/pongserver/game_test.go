package pongserver

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

const dt = 1.0 / 60

// served returns physics whose ball is in play with the given state.
func served(b Ball) physics {
	p := newPhysics(1)
	p.serve = 0
	p.Ball = b
	return p
}

func TestPhysicsStep(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(*physics)
		check   func(*testing.T, physics, int)
		scorer  int
		padding int // extra steps before checking
	}{
		{
			name:  "paddle moves by its speed",
			setup: func(p *physics) { p.Paddles[0].Dir = DirDown },
			check: func(t *testing.T, p physics, _ int) {
				assert.InDelta(t, FieldHeight/2+PaddleSpeed*dt, p.Paddles[0].Y, 1e-9)
				assert.Equal(t, FieldHeight/2, p.Paddles[1].Y)
			},
			scorer: -1,
		},
		{
			name:    "paddle stops at the wall",
			setup:   func(p *physics) { p.Paddles[1].Dir = DirUp },
			padding: 100,
			check: func(t *testing.T, p physics, _ int) {
				assert.Equal(t, PaddleHeight/2, p.Paddles[1].Y)
			},
			scorer: -1,
		},
		{
			name:  "ball rests during the serve delay",
			setup: func(p *physics) {},
			check: func(t *testing.T, p physics, _ int) {
				assert.Equal(t, Ball{X: FieldWidth / 2, Y: FieldHeight / 2}, p.Ball)
				assert.Equal(t, CountdownTicks-1, p.serve, "the first serve waits for the countdown")
			},
			scorer: -1,
		},
		{
			name: "ball bounces off the top wall",
			setup: func(p *physics) {
				*p = served(Ball{X: 400, Y: BallSize/2 + 1, VX: 60, VY: -600})
			},
			check: func(t *testing.T, p physics, _ int) {
				assert.Positive(t, p.Ball.VY)
				assert.InDelta(t, BallSize/2+9, p.Ball.Y, 1e-9) // 1 - 10 mirrored
			},
			scorer: -1,
		},
		{
			name: "paddle returns the ball faster",
			setup: func(p *physics) {
				*p = served(Ball{X: paddleX(0) + BallSize/2 + 2, Y: FieldHeight / 2, VX: -BallSpeed, VY: 0})
			},
			check: func(t *testing.T, p physics, _ int) {
				assert.Positive(t, p.Ball.VX)
				assert.InDelta(t, BallSpeed*BallSpeedUp, math.Hypot(p.Ball.VX, p.Ball.VY), 1e-9)
				assert.Greater(t, p.Ball.X-BallSize/2, paddleX(0))
			},
			scorer: -1,
		},
		{
			name: "hit off centre sends the ball at an angle",
			setup: func(p *physics) {
				*p = served(Ball{X: paddleX(1) - BallSize/2 - 2, Y: FieldHeight/2 + PaddleHeight/4, VX: BallSpeed, VY: 0})
			},
			check: func(t *testing.T, p physics, _ int) {
				assert.Negative(t, p.Ball.VX)
				assert.Positive(t, p.Ball.VY, "hit below the centre: goes down")
			},
			scorer: -1,
		},
		{
			name: "missed ball scores for the other side",
			setup: func(p *physics) {
				*p = served(Ball{X: -BallSize + 1, Y: 10, VX: -BallSpeed, VY: 0})
			},
			check: func(t *testing.T, p physics, _ int) {
				assert.Equal(t, [2]int{0, 1}, p.Score)
				assert.Equal(t, Ball{X: FieldWidth / 2, Y: FieldHeight / 2}, p.Ball)
				assert.Equal(t, ServeTicks, p.serve)
			},
			scorer: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPhysics(1)
			tt.setup(&p)
			scorer := p.step(dt)
			assert.Equal(t, tt.scorer, scorer)
			for range tt.padding {
				p.step(dt)
			}
			tt.check(t, p, scorer)
		})
	}
}

// TestPhysicsInvariants plays long random games and checks that nothing
// leaves the field, speeds stay bounded, and scores only grow.
func TestPhysicsInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		p := newPhysics(seed)
		for i := range 20000 {
			p.Paddles[i%2].Dir = Dir(int(p.random()*3) - 1)
			before := p.Score
			p.step(dt)
			b := p.Ball
			ok := !math.IsNaN(b.X) && !math.IsNaN(b.Y) &&
				math.Hypot(b.VX, b.VY) <= BallMaxSpeed+1e-9 &&
				b.Y >= BallSize/2-1e-9 && b.Y <= FieldHeight-BallSize/2+1e-9 &&
				p.Score[0]+p.Score[1] >= before[0]+before[1]
			for _, pd := range p.Paddles {
				ok = ok && pd.Y >= PaddleHeight/2 && pd.Y <= FieldHeight-PaddleHeight/2
			}
			if !ok {
				t.Fatalf("seed %d, step %d: invariant broken: %+v", seed, i, p)
			}
		}
	}
}

func TestDirString(t *testing.T) {
	assert.Equal(t, "up", DirUp.String())
	assert.Equal(t, "down", DirDown.String())
	assert.Equal(t, "none", DirNone.String())
}
