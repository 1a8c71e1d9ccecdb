package chatredis

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

func ids(evs []chatserver.Event) []string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.ID)
	}
	return s
}

// TestLog: ids come from the stream, reads start after an id, a trimmed
// stream says it is incomplete.
func TestLog(t *testing.T) {
	rdb, _ := needRedis(t)
	room := newRoom(t, rdb)
	b := New(rdb, Options{Room: room})
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	last, err := b.Last(ctx)
	require.NoError(t, err)
	assert.Equal(t, "0-0", last)
	var id []string
	for i, text := range []string{"zero", "one", "two", "three", "four"} {
		when := time.UnixMilli(int64(1700000000000 + i)).UTC()
		got, err := b.Publish(ctx, chatserver.Event{Type: "message", Nick: "ada", Text: text, Time: when})
		require.NoError(t, err)
		if len(id) > 0 {
			require.Equal(t, 1, chatserver.CompareIDs(got, id[len(id)-1]), "ids grow")
		}
		id = append(id, got)
	}
	last, err = b.Last(ctx)
	require.NoError(t, err)
	assert.Equal(t, id[4], last)

	evs, complete, err := b.Read(ctx, id[1], -1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, []chatserver.Event{
		{ID: id[2], Type: "message", Nick: "ada", Text: "two", Time: time.UnixMilli(1700000000002).UTC()},
		{ID: id[3], Type: "message", Nick: "ada", Text: "three", Time: time.UnixMilli(1700000000003).UTC()},
		{ID: id[4], Type: "message", Nick: "ada", Text: "four", Time: time.UnixMilli(1700000000004).UTC()},
	}, evs)
	evs, complete, err = b.Read(ctx, id[1], 2)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, id[2:4], ids(evs))
	evs, complete, err = b.Read(ctx, "", -1)
	require.NoError(t, err)
	assert.True(t, complete, "nothing trimmed yet")
	assert.Equal(t, id, ids(evs))
	evs, complete, err = b.Read(ctx, id[4], -1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Empty(t, evs)
	_, _, err = b.Read(ctx, "nonsense", -1)
	assert.Error(t, err)

	evs, err = b.Tail(ctx, id[3], 2)
	require.NoError(t, err)
	assert.Equal(t, id[1:3], ids(evs))
	evs, err = b.Tail(ctx, "", 2)
	require.NoError(t, err)
	assert.Equal(t, id[3:5], ids(evs))

	evs, err = b.Wait(ctx, id[2])
	require.NoError(t, err)
	assert.Equal(t, id[3:5], ids(evs))
	got := make(chan []chatserver.Event, 1)
	go func() {
		evs, _ := b.Wait(ctx, id[4])
		for len(evs) == 0 && ctx.Err() == nil { // Wait's own timeout
			evs, _ = b.Wait(ctx, id[4])
		}
		got <- evs
	}()
	id5, err := b.Publish(ctx, chatserver.Event{Type: "message", Nick: "ada", Text: "five"})
	require.NoError(t, err)
	assert.Equal(t, []string{id5}, ids(<-got))

	// Trim the stream (as MAXLEN does): a client that saw id[0] has
	// missed events that are gone.
	require.NoError(t, rdb.XTrimMaxLen(ctx, roomKeys(room)[0], 3).Err())
	evs, complete, err = b.Read(ctx, id[0], -1)
	require.NoError(t, err)
	assert.False(t, complete)
	assert.Equal(t, []string{id[3], id[4], id5}, ids(evs))
	_, complete, err = b.Read(ctx, "", -1)
	require.NoError(t, err)
	assert.False(t, complete)
	evs, complete, err = b.Read(ctx, id[3], -1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, []string{id[4], id5}, ids(evs))
}

// TestPresence: one session per nickname, taken back by the same session,
// released only by its current holder.
func TestPresence(t *testing.T) {
	rdb, _ := needRedis(t)
	room := newRoom(t, rdb)
	b1 := New(rdb, Options{Room: room})
	defer b1.Close()
	b2 := New(rdb, Options{Room: room})
	defer b2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	resumed, err := b1.Claim(ctx, "ada", "s1", "o1")
	require.NoError(t, err)
	assert.False(t, resumed)
	_, err = b2.Claim(ctx, "ada", "s2", "o2")
	assert.ErrorIs(t, err, chatserver.ErrNickTaken)
	_, err = b2.Claim(ctx, "ada", "s", "o2") // a prefix of s1 is another session
	assert.ErrorIs(t, err, chatserver.ErrNickTaken)
	resumed, err = b2.Claim(ctx, "ada", "s1", "o3")
	require.NoError(t, err)
	assert.True(t, resumed, "same session, another process")
	_, err = b1.Claim(ctx, "bob", "s4", "o4")
	require.NoError(t, err)

	members, err := b1.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"ada", "bob"}, members)

	released, err := b1.Release(ctx, "ada", "o1")
	require.NoError(t, err)
	assert.False(t, released, "o1 no longer holds ada")
	require.NoError(t, b1.RenewNow(ctx)) // must not take ada back for o1
	members, err = b2.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"ada", "bob"}, members)

	released, err = b2.Release(ctx, "ada", "o3")
	require.NoError(t, err)
	assert.True(t, released)
	members, err = b2.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"bob"}, members)
	resumed, err = b2.Claim(ctx, "ada", "s9", "o9")
	require.NoError(t, err)
	assert.False(t, resumed, "free again, for anyone")
}

// TestPresenceExpires: a process stops renewing (it died); another one
// expires its nicknames and publishes their departure, once.
func TestPresenceExpires(t *testing.T) {
	rdb, _ := needRedis(t)
	room := newRoom(t, rdb)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dead := New(rdb, Options{Room: room, TTL: 100 * time.Millisecond})
	_, err := dead.Claim(ctx, "ada", "s1", "o1")
	require.NoError(t, err)
	dead.Close()
	alive := New(rdb, Options{Room: room, TTL: time.Hour})
	defer alive.Close()
	_, err = alive.Claim(ctx, "bob", "s2", "o2")
	require.NoError(t, err)

	for ctx.Err() == nil {
		require.NoError(t, alive.RenewNow(ctx))
		members, err := alive.Members(ctx)
		require.NoError(t, err)
		if len(members) == 1 {
			assert.Equal(t, []string{"bob"}, members)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, alive.RenewNow(ctx)) // a second pass publishes nothing more
	evs, _, err := alive.Read(ctx, "", -1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, "leave", evs[0].Type)
	assert.Equal(t, "ada", evs[0].Nick)
	assert.Equal(t, "timed out", evs[0].Text)
}

// TestPresenceSurvivesFlush: Redis lost its data (a restart without
// persistence); the next renewal puts the process's nicknames back.
func TestPresenceSurvivesFlush(t *testing.T) {
	rdb, _ := needRedis(t)
	room := newRoom(t, rdb)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b := New(rdb, Options{Room: room})
	defer b.Close()
	_, err := b.Claim(ctx, "ada", "s1", "o1")
	require.NoError(t, err)
	require.NoError(t, rdb.Del(ctx, roomKeys(room)...).Err())
	members, err := b.Members(ctx)
	require.NoError(t, err)
	assert.Empty(t, members)
	require.NoError(t, b.RenewNow(ctx))
	members, err = b.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"ada"}, members)
	_, err = b.Claim(ctx, "ada", "intruder", "o2")
	assert.ErrorIs(t, err, chatserver.ErrNickTaken)
}
