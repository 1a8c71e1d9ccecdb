// Package chatredis is the chat example's backplane on Redis: many chat
// server processes, behind any load balancer, serve one room.
//
// The room's events are a Redis stream (XADD with MAXLEN ~ for a bounded
// history, XRANGE to replay, XREAD BLOCK to follow): the stream orders
// them, gives each an id, and keeps them, so that a client that reconnects
// to any process can say which id it saw last and be sent the rest. Plain
// pub/sub would fan out as well, but it keeps nothing: what was published
// while a client (or a process) was away is gone, and nothing orders the
// messages of two publishers for a late reader.
//
// Who is in the room is a sorted set of nicknames scored by their
// deadline, with a hash of each nickname's holder (session and
// connection). Each process renews the deadlines of its own clients every
// TTL/3; when a process dies, its clients' nicknames expire after TTL
// (unless they resumed elsewhere, which renews them), and the process that
// notices publishes their departure — once, in a Lua script that also
// removes them.
//
// This package lives in a module of its own so that the library's users
// never download a Redis client.
package chatredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

// Defaults for the zero Options.
const (
	DefaultRetain = 10000
	DefaultTTL    = 15 * time.Second
	// blockFor bounds one XREAD BLOCK, so that Wait returns to its caller
	// now and then (to notice shutdown).
	blockFor = 2 * time.Second
)

// Options configures a Backplane.
type Options struct {
	// Room names the room: its keys start with "ws6455:chat:ROOM:".
	Room string
	// Retain is roughly how many events the stream keeps (MAXLEN ~), the
	// limit of what a reconnecting client can be sent (0: DefaultRetain).
	Retain int64
	// TTL is how long a nickname outlives the last renewal by its
	// process (0: DefaultTTL).
	TTL time.Duration
	// Logf, if set, receives problems of the renewal loop.
	Logf func(format string, args ...any)
}

// Backplane is a chatserver.Backplane on Redis. Create it with New, stop
// its renewals with Close.
type Backplane struct {
	rdb                 redis.UniversalClient
	opts                Options
	log, presence, hold string // keys

	mu    sync.Mutex
	held  map[string]claim // by owner: this process's nicknames
	stop  context.CancelFunc
	done  chan struct{}
	close sync.Once
}

type claim struct{ nick, value string }

var _ chatserver.Backplane = (*Backplane)(nil)

// New returns a Backplane for a room on rdb and starts renewing the
// nicknames this process holds. rdb stays the caller's to close.
func New(rdb redis.UniversalClient, opts Options) *Backplane {
	if opts.Room == "" {
		opts.Room = "main"
	}
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	k := roomKeys(opts.Room)
	ctx, stop := context.WithCancel(context.Background())
	b := &Backplane{rdb: rdb, opts: opts, log: k[0], presence: k[1], hold: k[2],
		held: make(map[string]claim), stop: stop, done: make(chan struct{})}
	go b.renew(ctx)
	return b
}

// Close stops the renewals: the nicknames of this process's clients then
// expire after the TTL, unless the clients resume elsewhere.
func (b *Backplane) Close() error {
	b.close.Do(func() {
		b.stop()
		<-b.done
	})
	return nil
}

// roomKeys returns the Redis keys of a room: its stream, its presence
// set and its holders' hash.
func roomKeys(room string) []string {
	prefix := "ws6455:chat:" + room + ":"
	return []string{prefix + "log", prefix + "presence", prefix + "holders"}
}

// Publish appends ev to the room's stream.
func (b *Backplane) Publish(ctx context.Context, ev chatserver.Event) (string, error) {
	return b.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: b.log, MaxLen: b.opts.Retain, Approx: true,
		Values: []any{"type", ev.Type, "nick", ev.Nick, "text", ev.Text, "t", ev.Time.UnixMilli()},
	}).Result()
}

// event decodes a stream entry.
func event(m redis.XMessage) chatserver.Event {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	ev := chatserver.Event{ID: m.ID, Type: str("type"), Nick: str("nick"), Text: str("text")}
	if ms, err := strconv.ParseInt(str("t"), 10, 64); err == nil {
		ev.Time = time.UnixMilli(ms).UTC()
	}
	return ev
}

func events(ms []redis.XMessage) []chatserver.Event {
	evs := make([]chatserver.Event, len(ms))
	for i, m := range ms {
		evs[i] = event(m)
	}
	return evs
}

// Last returns the id of the newest event, or "0-0".
func (b *Backplane) Last(ctx context.Context) (string, error) {
	ms, err := b.rdb.XRevRangeN(ctx, b.log, "+", "-", 1).Result()
	if err != nil || len(ms) == 0 {
		return "0-0", err
	}
	return ms[0].ID, nil
}

// Read returns the events after the id after, at most n (n < 0: all the
// stream holds). It reads from after inclusive: finding that entry proves
// that nothing after it was trimmed.
func (b *Backplane) Read(ctx context.Context, after string, n int) ([]chatserver.Event, bool, error) {
	if _, _, err := chatserver.ParseID(after); err != nil {
		return nil, false, err
	}
	if after == "" || after == "0-0" {
		// From the start: complete unless the stream was ever trimmed.
		var ms []redis.XMessage
		var err error
		if n < 0 {
			ms, err = b.rdb.XRange(ctx, b.log, "-", "+").Result()
		} else {
			ms, err = b.rdb.XRangeN(ctx, b.log, "-", "+", int64(n)).Result()
		}
		if err != nil {
			return nil, false, err
		}
		return events(ms), !b.trimmed(ctx), nil
	}
	var ms []redis.XMessage
	var err error
	if n < 0 {
		ms, err = b.rdb.XRange(ctx, b.log, after, "+").Result()
	} else {
		ms, err = b.rdb.XRangeN(ctx, b.log, after, "+", int64(n)+1).Result()
	}
	if err != nil {
		return nil, false, err
	}
	complete := len(ms) > 0 && ms[0].ID == after
	if complete {
		ms = ms[1:]
	} else if n >= 0 && len(ms) > n {
		ms = ms[:n]
	}
	return events(ms), complete, nil
}

// trimmed reports whether the stream has lost entries (XINFO STREAM
// counts, since Redis 7, every entry ever added), or cannot tell.
func (b *Backplane) trimmed(ctx context.Context) bool {
	info, err := b.rdb.XInfoStream(ctx, b.log).Result()
	if errors.Is(err, redis.Nil) || err != nil && strings.Contains(err.Error(), "no such key") {
		return false
	}
	if err != nil {
		return true
	}
	return info.EntriesAdded != info.Length
}

// Tail returns the last n events before the id before ("" for none).
func (b *Backplane) Tail(ctx context.Context, before string, n int) ([]chatserver.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	end := "+"
	if before != "" {
		end = "(" + before
	}
	ms, err := b.rdb.XRevRangeN(ctx, b.log, end, "-", int64(n)).Result()
	if err != nil {
		return nil, err
	}
	evs := events(ms)
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, nil
}

// Wait blocks (up to a couple of seconds) on XREAD for events after the
// id after.
func (b *Backplane) Wait(ctx context.Context, after string) ([]chatserver.Event, error) {
	res, err := b.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{b.log, after}, Count: 512, Block: blockFor}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var evs []chatserver.Event
	for _, s := range res {
		evs = append(evs, events(s.Messages)...)
	}
	return evs, nil
}

// The presence scripts take the time from Redis, so that the processes'
// clocks do not matter.
var (
	// claimScript: KEYS presence, holders; ARGV nick, session, owner,
	// ttl ms. Returns -1 (taken by another session), 0 (claimed), 1
	// (resumed).
	claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
local resumed = 0
if deadline and tonumber(deadline) > now then
  local cur = redis.call('HGET', KEYS[2], ARGV[1])
  if cur and string.sub(cur, 1, string.len(ARGV[2]) + 1) ~= ARGV[2] .. ' ' then
    return -1
  end
  resumed = 1
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return resumed`)

	// releaseScript: KEYS presence, holders; ARGV nick, "session owner".
	releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1`)

	// membersScript: KEYS presence. The nicknames whose deadline has not
	// passed.
	membersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`)

	// renewScript: KEYS presence, holders, log; ARGV ttl ms, retain,
	// then pairs nick, "session owner". Renews the pairs still held by
	// their owner (and restores them after a Redis restart), returns the
	// values of those held by someone else now, then removes the expired nicknames
	// and publishes their departure.
	renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lost = {}
for i = 3, #ARGV, 2 do
  local nick, value = ARGV[i], ARGV[i + 1]
  local cur = redis.call('HGET', KEYS[2], nick)
  if cur == false or cur == value then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), nick)
    redis.call('HSET', KEYS[2], nick, value)
  else
    table.insert(lost, value)
  end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, nick in ipairs(expired) do
  redis.call('ZREM', KEYS[1], nick)
  redis.call('HDEL', KEYS[2], nick)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'type', 'leave', 'nick', nick, 'text', 'timed out', 't', now)
end
return lost`)
)

// Claim gives nick to owner, for session.
func (b *Backplane) Claim(ctx context.Context, nick, session, owner string) (bool, error) {
	if strings.Contains(session, " ") {
		return false, fmt.Errorf("chatredis: session with a space")
	}
	r, err := claimScript.Run(ctx, b.rdb, []string{b.presence, b.hold}, nick, session, owner, b.opts.TTL.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	if r < 0 {
		return false, chatserver.ErrNickTaken
	}
	b.mu.Lock()
	b.held[owner] = claim{nick: nick, value: session + " " + owner}
	b.mu.Unlock()
	return r == 1, nil
}

// Release frees nick if owner holds it.
func (b *Backplane) Release(ctx context.Context, nick, owner string) (bool, error) {
	b.mu.Lock()
	c, ok := b.held[owner]
	delete(b.held, owner)
	b.mu.Unlock()
	if !ok {
		return false, nil
	}
	r, err := releaseScript.Run(ctx, b.rdb, []string{b.presence, b.hold}, nick, c.value).Int()
	return r == 1, err
}

// Members returns the nicknames in the room, sorted.
func (b *Backplane) Members(ctx context.Context) ([]string, error) {
	names, err := membersScript.Run(ctx, b.rdb, []string{b.presence}).StringSlice()
	slices.Sort(names) // the set is ordered by deadline
	return names, err
}

// renew renews this process's nicknames every TTL/3 and expires the
// others' until ctx is done.
func (b *Backplane) renew(ctx context.Context) {
	defer close(b.done)
	tick := time.NewTicker(b.opts.TTL / 3)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := b.RenewNow(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			b.opts.Logf("chatredis: renewing presence: %v", err)
		}
		failing = err != nil
	}
}

// RenewNow renews this process's nicknames and expires those of others
// that are past their deadline, publishing a "leave" for each. It runs on
// its own every TTL/3.
func (b *Backplane) RenewNow(ctx context.Context) error {
	b.mu.Lock()
	args := []any{b.opts.TTL.Milliseconds(), b.opts.Retain}
	for _, c := range b.held {
		args = append(args, c.nick, c.value)
	}
	b.mu.Unlock()
	lost, err := renewScript.Run(ctx, b.rdb, []string{b.presence, b.hold, b.log}, args...).StringSlice()
	if err != nil {
		return err
	}
	if len(lost) > 0 {
		// Held by another connection now (the client resumed there):
		// stop renewing them.
		gone := make(map[string]bool, len(lost))
		for _, v := range lost {
			gone[v] = true
		}
		b.mu.Lock()
		for owner, c := range b.held {
			if gone[c.value] {
				delete(b.held, owner)
			}
		}
		b.mu.Unlock()
	}
	return nil
}
