package chatclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 30 * time.Second

func TestBackoff(t *testing.T) {
	tests := []struct {
		n      int
		jitter time.Duration
		want   time.Duration
	}{
		{-1, 0, time.Second},
		{0, 0, time.Second},
		{0, 250 * time.Millisecond, 1250 * time.Millisecond},
		{1, 0, 2 * time.Second},
		{2, 0, 4 * time.Second},
		{3, 0, 8 * time.Second},
		{4, 0, 16 * time.Second},
		{5, 0, 32 * time.Second},
		{6, 0, 60 * time.Second},
		{6, MaxJitter, 60*time.Second + MaxJitter},
		{7, 0, 60 * time.Second},
		{63, 0, 60 * time.Second},
		{64, 0, 60 * time.Second},
		{1 << 40, 1, 60*time.Second + 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Backoff(tt.n, tt.jitter), "Backoff(%d, %v)", tt.n, tt.jitter)
	}
}

// TestDefaultJitter draws the default jitter: always within [0, MaxJitter].
func TestDefaultJitter(t *testing.T) {
	c := New(Config{})
	for range 1000 {
		j := c.cfg.Jitter()
		require.GreaterOrEqual(t, j, time.Duration(0))
		require.LessOrEqual(t, j, MaxJitter)
	}
}

// deadAddr returns an address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRetrySchedule runs the client against a server that is not there:
// it waits, by the injected sleep, 1 s, 2 s, 4 s … 60 s, 60 s plus its
// jitter, in the state "reconnecting".
func TestRetrySchedule(t *testing.T) {
	a, b := deadAddr(t), deadAddr(t)
	var (
		waits  []time.Duration
		states []State
	)
	const attempts = 9
	cl := New(Config{
		URLs: []string{"ws://" + a + "/ws", "ws://" + b + "/ws"},
		Nick: "ada", Token: "tok",
		Jitter: func() time.Duration { return 7 * time.Millisecond },
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) == attempts {
				return errors.New("enough")
			}
			return nil
		},
		OnState: func(s State, wait time.Duration) { states = append(states, s) },
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := cl.Run(ctx)
	assert.EqualError(t, err, "enough")
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		want[i] = want[i]*time.Second + 7*time.Millisecond
	}
	assert.Equal(t, want, waits)
	assert.Equal(t, Connecting, states[0])
	assert.Equal(t, Reconnecting, states[1])
	assert.Equal(t, Closed, states[len(states)-1])
}

// TestRefusedIsFinal: a nickname in use is not retried.
func TestRefusedIsFinal(t *testing.T) {
	s := chatserver.New(chatserver.Config{Token: "tok"})
	ts := httptest.NewServer(s)
	defer ts.Close()
	ws := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	first := newRecorder()
	a := New(Config{URLs: []string{ws}, Nick: "ada", Token: "tok", OnEvent: first.add})
	go a.Run(ctx)
	first.waitFor(t, 1)

	b := New(Config{URLs: []string{ws}, Nick: "ada", Token: "tok",
		Sleep: func(context.Context, time.Duration) error { return errors.New("retried") }})
	err := b.Run(ctx)
	var re *RefusedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 409, re.Status)
	assert.Contains(t, re.Reason, "nickname in use")
}

// recorder collects a client's events.
type recorder struct {
	mu   sync.Mutex
	evs  []chatserver.Event
	more chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 1)} }

func (r *recorder) add(ev chatserver.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *recorder) events() []chatserver.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chatserver.Event(nil), r.evs...)
}

// waitFor waits until n events have arrived.
func (r *recorder) waitFor(t *testing.T, n int) []chatserver.Event {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		if evs := r.events(); len(evs) >= n {
			return evs
		}
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("%d events, want %d: %+v", len(r.events()), n, r.events())
		}
	}
}

// TestResumeAfterDrain: two servers share one room (an in-process
// backplane); the one the client is on shuts down. The client is told to
// reconnect, moves to the other server at once (jitter only), keeps its
// nickname and receives what was said meanwhile exactly once, in order.
func TestResumeAfterDrain(t *testing.T) {
	bp := chatserver.NewMemoryBackplane(0)
	s1 := chatserver.New(chatserver.Config{Token: "tok", Backplane: bp, HistorySize: -1})
	s2 := chatserver.New(chatserver.Config{Token: "tok", Backplane: bp, HistorySize: -1})
	ts1, ts2 := httptest.NewServer(s1), httptest.NewServer(s2)
	defer ts1.Close()
	defer ts2.Close()
	ws := func(ts *httptest.Server) string { return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws" }
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	rec := newRecorder()
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	ada := New(Config{URLs: []string{ws(ts1), ws(ts2)}, Nick: "ada", Token: "tok", OnEvent: rec.add,
		Jitter: func() time.Duration { return 3 * time.Millisecond },
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return nil
		}})
	go ada.Run(ctx)
	rec.waitFor(t, 1) // ada's own join

	// bob is on s2 and talks while ada moves.
	bobRec := newRecorder()
	bob := New(Config{URLs: []string{ws(ts2)}, Nick: "bob", Token: "tok", OnEvent: bobRec.add})
	go bob.Run(ctx)
	bobRec.waitFor(t, 1)

	sctx, scancel := context.WithTimeout(ctx, testTimeout)
	defer scancel()
	require.NoError(t, s1.Shutdown(sctx))
	const n = 20
	for i := 0; i < n; {
		if bob.Say(ctx, fmt.Sprint("m", i)) == nil {
			i++
		}
	}
	evs := rec.waitFor(t, 2+n) // joins of ada and bob, then the messages
	assert.Equal(t, "join ada", evs[0].Type+" "+evs[0].Nick)
	assert.Equal(t, "join bob", evs[1].Type+" "+evs[1].Nick)
	for i := range n {
		assert.Equal(t, fmt.Sprint("message bob m", i), evs[2+i].Type+" "+evs[2+i].Nick+" "+evs[2+i].Text)
	}
	for i := 1; i < len(evs); i++ {
		assert.Equal(t, -1, chatserver.CompareIDs(evs[i-1].ID, evs[i].ID), "ids grow: %v", evs)
	}
	mu.Lock()
	assert.Equal(t, []time.Duration{3 * time.Millisecond}, waits, "a drain means: come back at once")
	mu.Unlock()
	assert.Equal(t, []string{"ada", "bob"}, s2.Members(), "no leave, no second join")
	for _, ev := range bobRec.events() {
		assert.NotEqual(t, "leave", ev.Type)
	}
}
