package chatserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Backplane carries the room's events between the processes that serve
// it, in one order, and keeps who is in the room.
//
// The room is a log: Publish appends an event and the log gives it an ID;
// IDs have the form "MS-SEQ" (two decimal numbers, as Redis stream IDs) and
// grow with every append, so that a client that reconnects can say "I saw
// everything up to ID" and be sent the rest. The log keeps a bounded
// history. Every Server reads the log in order (Wait) and relays each
// event to its own clients.
//
// Presence is a set of nicknames, each held by one connection (its owner)
// of one client session. A client that reconnects with the same session
// takes its nickname back, on any process; anybody else is refused.
//
// NewMemoryBackplane is the in-process implementation, the default; the
// Redis one lives in the separate module examples/chat/redis, so that the
// library's users do not download a Redis client.
type Backplane interface {
	// Publish appends ev (its ID is ignored) and returns its ID.
	Publish(ctx context.Context, ev Event) (id string, err error)
	// Last returns the ID of the newest event, or "0-0" if there is none.
	Last(ctx context.Context) (string, error)
	// Read returns the events after the ID after ("" or "0-0": from the
	// oldest kept), oldest first, at most n of them. complete is false
	// when the log no longer holds everything after after (it has been
	// trimmed, or lost).
	Read(ctx context.Context, after string, n int) (evs []Event, complete bool, err error)
	// Tail returns the last n events before the ID before ("": the
	// newest), oldest first.
	Tail(ctx context.Context, before string, n int) ([]Event, error)
	// Wait blocks until there are events after the ID after and returns
	// them, oldest first. It may return no events and no error when an
	// internal timeout expires, so that callers get to check their state.
	Wait(ctx context.Context, after string) ([]Event, error)

	// Claim gives nick to the connection owner of the client session. It
	// fails with ErrNickTaken if another session holds nick; resumed
	// reports that this session held it already (a reconnect).
	Claim(ctx context.Context, nick, session, owner string) (resumed bool, err error)
	// Release frees nick if owner still holds it, and reports whether it
	// did.
	Release(ctx context.Context, nick, owner string) (bool, error)
	// Members returns the nicknames in the room, sorted.
	Members(ctx context.Context) ([]string, error)
}

// ErrNickTaken is returned by Backplane.Claim when another client holds
// the nickname.
var ErrNickTaken = errors.New("nickname in use")

// ParseID splits an event ID "MS-SEQ" into its two numbers. "" is the
// same as "0-0", before every event.
func ParseID(id string) (ms, seq uint64, err error) {
	if id == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(id, "-")
	if ok {
		if ms, err = strconv.ParseUint(a, 10, 64); err == nil {
			if seq, err = strconv.ParseUint(b, 10, 64); err == nil {
				return ms, seq, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("bad event id %s: want MS-SEQ", quote(id))
}

// CompareIDs returns -1, 0 or +1 as the event ID a comes before, is, or
// comes after b. Malformed IDs compare as "0-0".
func CompareIDs(a, b string) int {
	am, as, _ := ParseID(a)
	bm, bs, _ := ParseID(b)
	switch {
	case am < bm || am == bm && as < bs:
		return -1
	case am == bm && as == bs:
		return 0
	}
	return 1
}

// prevID returns the greatest ID before id (id must be valid and not
// "0-0").
func prevID(id string) string {
	ms, seq, _ := ParseID(id)
	if seq > 0 {
		return fmt.Sprintf("%d-%d", ms, seq-1)
	}
	if ms == 0 {
		return "0-0"
	}
	return fmt.Sprintf("%d-%d", ms-1, uint64(math.MaxUint64))
}

// DefaultRetain is how many events the in-process backplane keeps for
// clients that resume.
const DefaultRetain = 1000

// memoryBackplane is a Backplane for one process.
type memoryBackplane struct {
	retain int

	mu      sync.Mutex
	log     []Event // at most retain, oldest first
	trimmed bool    // whether events were ever dropped from log
	lastMS  uint64
	lastSeq uint64
	changed chan struct{} // closed and replaced at every append
	holders map[string]holder
}

type holder struct{ session, owner string }

// NewMemoryBackplane returns the in-process Backplane, which keeps the
// last retain events (0: DefaultRetain).
func NewMemoryBackplane(retain int) Backplane {
	if retain <= 0 {
		retain = DefaultRetain
	}
	return &memoryBackplane{retain: retain, changed: make(chan struct{}), holders: make(map[string]holder)}
}

func (b *memoryBackplane) Publish(_ context.Context, ev Event) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// IDs as Redis makes them: the time in ms, and a sequence number for
	// events in the same ms or when the clock went back.
	ms := uint64(time.Now().UnixMilli())
	if ms <= b.lastMS {
		ms, b.lastSeq = b.lastMS, b.lastSeq+1
	} else {
		b.lastSeq = 0
	}
	b.lastMS = ms
	ev.ID = fmt.Sprintf("%d-%d", ms, b.lastSeq)
	if len(b.log) == b.retain {
		b.log = append(b.log[:0], b.log[1:]...)
		b.trimmed = true
	}
	b.log = append(b.log, ev)
	close(b.changed)
	b.changed = make(chan struct{})
	return ev.ID, nil
}

func (b *memoryBackplane) Last(context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.log) == 0 {
		return "0-0", nil
	}
	return b.log[len(b.log)-1].ID, nil
}

// after returns the index of the first event after id.
func (b *memoryBackplane) after(id string) int {
	i := len(b.log)
	for i > 0 && CompareIDs(b.log[i-1].ID, id) > 0 {
		i--
	}
	return i
}

func (b *memoryBackplane) Read(_ context.Context, after string, n int) ([]Event, bool, error) {
	if _, _, err := ParseID(after); err != nil {
		return nil, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.after(after)
	complete := CompareIDs(after, "0-0") == 0 && !b.trimmed || i > 0 && b.log[i-1].ID == after
	evs := b.log[i:]
	if n >= 0 && len(evs) > n {
		evs = evs[:n]
	}
	return append([]Event(nil), evs...), complete, nil
}

func (b *memoryBackplane) Tail(_ context.Context, before string, n int) ([]Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	end := len(b.log)
	if before != "" {
		end = b.after(prevID(before))
	}
	start := max(0, end-n)
	return append([]Event(nil), b.log[start:end]...), nil
}

func (b *memoryBackplane) Wait(ctx context.Context, after string) ([]Event, error) {
	for {
		b.mu.Lock()
		i := b.after(after)
		evs := append([]Event(nil), b.log[i:]...)
		changed := b.changed
		b.mu.Unlock()
		if len(evs) > 0 {
			return evs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (b *memoryBackplane) Claim(_ context.Context, nick, session, owner string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, held := b.holders[nick]
	if held && h.session != session {
		return false, ErrNickTaken
	}
	b.holders[nick] = holder{session: session, owner: owner}
	return held, nil
}

func (b *memoryBackplane) Release(_ context.Context, nick, owner string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h, ok := b.holders[nick]; !ok || h.owner != owner {
		return false, nil
	}
	delete(b.holders, nick)
	return true, nil
}

func (b *memoryBackplane) Members(context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.holders))
	for nick := range b.holders {
		names = append(names, nick)
	}
	slices.Sort(names)
	return names, nil
}
