package chatserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 20 * time.Second

const token = "s3cret"

func startServer(t *testing.T, s *Server) string {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s.Shutdown(ctx)
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

// join connects as nick and waits until the server has let it in, so
// that the order of joins is the order of calls; it checks the welcome's
// member list (history is up to the caller: see joinWelcome).
func join(t *testing.T, base, nick string, members ...string) *conn.Conn {
	t.Helper()
	c, welcome := joinWelcome(t, base, nick)
	assert.Equal(t, Event{Type: "welcome", Nick: nick, Members: members}, welcome)
	return c
}

// joinWelcome connects as nick and returns the connection and its welcome.
func joinWelcome(t *testing.T, base, nick string) (*conn.Conn, Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, base+"/ws?nick="+nick+"&token="+token, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	return c, brief(readEvent(t, c))
}

func readEvent(t *testing.T, c *conn.Conn) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, p, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, conn.MessageText, typ)
	var ev Event
	require.NoError(t, json.Unmarshal(p, &ev), "%s", p)
	return ev
}

// brief drops the fields that change from run to run.
func brief(ev Event) Event {
	ev.Time, ev.ID, ev.Session = time.Time{}, "", ""
	for i := range ev.History {
		ev.History[i].Time, ev.History[i].ID = time.Time{}, ""
	}
	return ev
}

func expect(t *testing.T, c *conn.Conn, want ...Event) {
	t.Helper()
	for _, w := range want {
		assert.Equal(t, w, brief(readEvent(t, c)))
	}
}

func say(t *testing.T, c *conn.Conn, text string) {
	t.Helper()
	sendRaw(t, c, fmt.Sprintf(`{"type":"say","text":%q}`, text))
}

func sendRaw(t *testing.T, c *conn.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte(s)))
}

func closeErr(t *testing.T, c *conn.Conn) conn.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for range 1000 {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce conn.CloseError
		require.ErrorAs(t, err, &ce)
		return ce
	}
	t.Fatal("no close after 1000 messages")
	return conn.CloseError{}
}

func TestRefusedBeforeUpgrade(t *testing.T) {
	s := New(Config{Token: token})
	base := startServer(t, s)
	join(t, base, "taken", "taken")
	tests := []struct {
		name   string
		query  string
		header http.Header
		status int
		body   string
	}{
		{"no token", "?nick=ada", nil, 401, "missing token"},
		{"wrong token", "?nick=ada&token=guess", nil, 401, "invalid token"},
		{"wrong bearer", "?nick=ada", http.Header{"Authorization": {"Bearer guess"}}, 401, "invalid token"},
		{"bearer beats query", "?nick=ada&token=" + token, http.Header{"Authorization": {"Bearer guess"}}, 401, "invalid token"},
		{"basic auth", "?nick=ada", http.Header{"Authorization": {"Basic YTpi"}}, 401, "Bearer <token>"},
		{"no nick", "?token=" + token, nil, 400, "missing nickname"},
		{"long nick", "?token=" + token + "&nick=" + strings.Repeat("n", MaxNickLen+1), nil, 400, "too long"},
		{"spaced nick", "?token=" + token + "&nick=%20ada", nil, 400, "space"},
		{"control in nick", "?token=" + token + "&nick=a%07b", nil, 400, "unprintable"},
		{"bad utf-8 nick", "?token=" + token + "&nick=a%ffb", nil, 400, "UTF-8"},
		{"nick in use", "?token=" + token + "&nick=taken", nil, 409, "nickname in use"},
		{"cross-origin page", "?token=" + token + "&nick=ada", http.Header{"Origin": {"https://evil.example"}}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, resp, err := conn.Dial(ctx, base+"/ws"+tt.query, &conn.DialOptions{HTTPHeader: tt.header})
			require.Error(t, err)
			require.Nil(t, c)
			require.NotNil(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Upgrade"), "no upgrade on a refusal")
			var re *handshake.ResponseError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, string(re.Body), tt.body)
			if tt.status == 401 {
				assert.Equal(t, `Bearer realm="chat"`, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	assert.Equal(t, []string{"taken"}, s.Members(), "refused clients never joined")
}

func TestBearerToken(t *testing.T) {
	base := startServer(t, New(Config{Token: token}))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, base+"/ws?nick=ada", &conn.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	require.NoError(t, err)
	defer c.CloseNow()
	expect(t, c,
		Event{Type: "welcome", Nick: "ada", Members: []string{"ada"}},
		Event{Type: "join", Nick: "ada"})
}

func TestJoinLeaveHistory(t *testing.T) {
	base := startServer(t, New(Config{Token: token, HistorySize: 3}))
	alice := join(t, base, "alice", "alice")
	expect(t, alice, Event{Type: "join", Nick: "alice"})
	for _, m := range []string{"one", "two", "three"} {
		say(t, alice, m)
		expect(t, alice, Event{Type: "message", Nick: "alice", Text: m})
	}

	// The newcomer gets the last 3 events of the room, oldest first.
	bob, welcome := joinWelcome(t, base, "bob")
	assert.Equal(t, Event{Type: "welcome", Nick: "bob", Members: []string{"alice", "bob"}, History: []Event{
		{Type: "message", Nick: "alice", Text: "one"},
		{Type: "message", Nick: "alice", Text: "two"},
		{Type: "message", Nick: "alice", Text: "three"},
	}}, welcome)
	expect(t, bob, Event{Type: "join", Nick: "bob"})
	expect(t, alice, Event{Type: "join", Nick: "bob"})

	require.NoError(t, bob.Close(wsframe.CloseNormal, "bye"))
	expect(t, alice, Event{Type: "leave", Nick: "bob", Text: "left"})

	// The nickname is free again, and the history has moved on.
	_, welcome = joinWelcome(t, base, "bob")
	assert.Equal(t, Event{Type: "welcome", Nick: "bob", Members: []string{"alice", "bob"}, History: []Event{
		{Type: "message", Nick: "alice", Text: "three"},
		{Type: "join", Nick: "bob"},
		{Type: "leave", Nick: "bob", Text: "left"},
	}}, welcome)
}

func TestBroadcast(t *testing.T) {
	base := startServer(t, New(Config{Token: token, HistorySize: -1}))
	a := join(t, base, "a", "a")
	expect(t, a, Event{Type: "join", Nick: "a"})
	b := join(t, base, "b", "a", "b")
	expect(t, b, Event{Type: "join", Nick: "b"})
	expect(t, a, Event{Type: "join", Nick: "b"})

	say(t, b, "héllo <b>&</b> \"quotes\"")
	for _, c := range []*conn.Conn{a, b} {
		expect(t, c, Event{Type: "message", Nick: "b", Text: "héllo <b>&</b> \"quotes\""})
	}
}

func TestBadMessages(t *testing.T) {
	tests := []struct {
		name    string
		typ     conn.MessageType
		payload string
		event   string // error text; "" when the connection is closed instead
		code    wsframe.CloseCode
	}{
		{"malformed JSON", conn.MessageText, `{"type":`, `malformed JSON: expected {"type":"say","text":"..."}`, 0},
		{"unknown type", conn.MessageText, `{"type":"shout","text":"x"}`, `unknown message type "shout"`, 0},
		{"empty text", conn.MessageText, `{"type":"say","text":"  "}`, "empty message", 0},
		{"long text", conn.MessageText, `{"type":"say","text":"` + strings.Repeat("x", MaxTextLen+1) + `"}`, "message too long", 0},
		{"binary", conn.MessageBinary, `{"type":"say","text":"x"}`, "", wsframe.CloseUnsupportedData},
		{"over read limit", conn.MessageText, strings.Repeat(" ", DefaultReadLimit+1), "", wsframe.CloseTooBig},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startServer(t, New(Config{Token: token, HistorySize: -1}))
			nick := fmt.Sprintf("n%d", i)
			c := join(t, base, nick, nick)
			expect(t, c, Event{Type: "join", Nick: nick})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			require.NoError(t, c.Write(ctx, tt.typ, []byte(tt.payload)))
			if tt.code != 0 {
				assert.Equal(t, tt.code, closeErr(t, c).Code)
				return
			}
			expect(t, c, Event{Type: "error", Text: tt.event})
			// Still in the room.
			say(t, c, "ok")
			expect(t, c, Event{Type: "message", Nick: nick, Text: "ok"})
			require.NoError(t, c.Close(wsframe.CloseNormal, ""))
		})
	}
}

func TestTooManyBadMessages(t *testing.T) {
	base := startServer(t, New(Config{Token: token}))
	c := join(t, base, "troll", "troll")
	expect(t, c, Event{Type: "join", Nick: "troll"})
	for range MaxErrors {
		sendRaw(t, c, "nonsense")
		expect(t, c, Event{Type: "error", Text: `malformed JSON: expected {"type":"say","text":"..."}`})
	}
	sendRaw(t, c, "nonsense")
	ce := closeErr(t, c)
	assert.Equal(t, conn.CloseError{Code: wsframe.ClosePolicyViolation, Reason: "too many bad messages"}, ce)
}

// TestSlowClientDropped stops one member's writer so that its queue fills
// while the room goes on: it is dropped with 1008, the others are told and
// keep receiving every event.
func TestSlowClientDropped(t *testing.T) {
	const queue = 3
	s := New(Config{Token: token, QueueSize: queue, HistorySize: -1})
	var armed atomic.Bool
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	s.testHookWrite = func(nick string) {
		if nick == "slow" && armed.Load() {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
	}
	base := startServer(t, s)
	alice := join(t, base, "alice", "alice")
	slow := join(t, base, "slow", "alice", "slow")
	carol := join(t, base, "carol", "alice", "carol", "slow")
	expect(t, alice, Event{Type: "join", Nick: "alice"}, Event{Type: "join", Nick: "slow"}, Event{Type: "join", Nick: "carol"})
	expect(t, slow, Event{Type: "join", Nick: "slow"}, Event{Type: "join", Nick: "carol"})
	expect(t, carol, Event{Type: "join", Nick: "carol"})

	armed.Store(true)
	defer close(release)
	say(t, alice, "m0")
	<-entered // slow's writer holds m0 and is stuck
	// One message at a time, read by the others before the next, so that
	// only slow's queue fills: queue messages wait, the next overflows.
	for i := range 1 + queue + 1 {
		if i > 0 {
			say(t, alice, fmt.Sprintf("m%d", i))
		}
		ev := Event{Type: "message", Nick: "alice", Text: fmt.Sprintf("m%d", i)}
		expect(t, alice, ev)
		expect(t, carol, ev)
	}
	left := Event{Type: "leave", Nick: "slow", Text: "dropped: too slow"}
	expect(t, alice, left)
	expect(t, carol, left)
	assert.Equal(t, []string{"alice", "carol"}, s.Members())

	say(t, carol, "still here")
	ev := Event{Type: "message", Nick: "carol", Text: "still here"}
	expect(t, alice, ev)
	expect(t, carol, ev)

	ce := closeErr(t, slow)
	assert.Equal(t, conn.CloseError{Code: wsframe.ClosePolicyViolation, Reason: "too slow: send queue overflow"}, ce)
}

func TestShutdown(t *testing.T) {
	s := New(Config{Token: token, HistorySize: -1})
	base := startServer(t, s)
	a := join(t, base, "a", "a")
	b := join(t, base, "b", "a", "b")
	expect(t, a, Event{Type: "join", Nick: "a"}, Event{Type: "join", Nick: "b"})
	expect(t, b, Event{Type: "join", Nick: "b"})

	errs := make(chan error, 2)
	for _, c := range []*conn.Conn{a, b} {
		go func() { errs <- errors.New(closeErrNoT(c)) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	for range 2 {
		assert.EqualError(t, <-errs, "reconnect 1001")
	}
	// The members keep their nicknames, to resume on another server.
	assert.Equal(t, []string{"a", "b"}, s.Members())
}

// closeErrNoT reads until the end and returns the close code as text; it
// runs off the test goroutine, so it cannot use require.
func closeErrNoT(c *conn.Conn) string {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var seen string
	for range 100 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return seen + fmt.Sprint(uint16(conn.CloseCode(err)))
		}
		if strings.Contains(string(msg), `"type":"reconnect"`) {
			seen = "reconnect "
		}
	}
	return "no close"
}

func TestPage(t *testing.T) {
	ts := httptest.NewServer(New(Config{Token: token}))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(body), "new URL('ws', location.href)")
	assert.NotContains(t, string(body), token)
}

func TestNewPanicsWithoutToken(t *testing.T) {
	assert.Panics(t, func() { New(Config{}) })
}

// dialQuery connects with the given query and returns the connection and
// its welcome (not briefed).
func dialQuery(t *testing.T, base, query string) (*conn.Conn, Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := conn.Dial(ctx, base+"/ws?token="+token+"&"+query, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	return c, readEvent(t, c)
}

// TestResume: a client comes back with its session and the last id it
// saw. While its nickname is held (its old connection not yet noticed
// gone), it takes the nickname back silently and the old connection is
// closed with 4000; after the room saw it leave, it joins again. Either
// way its welcome carries exactly what it missed, and live events follow
// without a gap or a repeat.
func TestResume(t *testing.T) {
	base := startServer(t, New(Config{Token: token, HistorySize: -1}))
	ada1, welcome := dialQuery(t, base, "nick=ada")
	require.NotEmpty(t, welcome.Session)
	session := welcome.Session
	expect(t, ada1, Event{Type: "join", Nick: "ada"})
	bob := join(t, base, "bob", "ada", "bob")
	expect(t, bob, Event{Type: "join", Nick: "bob"})
	expect(t, ada1, Event{Type: "join", Nick: "bob"})
	say(t, bob, "one")
	one := readEvent(t, ada1)
	require.Equal(t, "one", one.Text)
	expect(t, bob, Event{Type: "message", Nick: "bob", Text: "one"})
	say(t, bob, "two")
	expect(t, bob, Event{Type: "message", Nick: "bob", Text: "two"})

	// Same session, old connection still open: a silent takeover.
	ada2, welcome := dialQuery(t, base, "nick=ada&session="+session+"&last="+one.ID)
	assert.Equal(t, Event{Type: "welcome", Nick: "ada", Resumed: true, Members: []string{"ada", "bob"},
		History: []Event{{Type: "message", Nick: "bob", Text: "two"}}}, brief(welcome))
	assert.Equal(t, session, welcome.Session)
	assert.Equal(t, conn.CloseError{Code: CloseReplaced, Reason: "session resumed on another connection"}, closeErr(t, ada1))
	say(t, bob, "three")
	three := Event{Type: "message", Nick: "bob", Text: "three"}
	expect(t, bob, three) // no leave, no join in between
	got := readEvent(t, ada2)
	assert.Equal(t, three, brief(got))
	assert.Equal(t, 1, CompareIDs(got.ID, welcome.History[0].ID))

	// The room saw ada leave: coming back, she joins again.
	require.NoError(t, ada2.Close(wsframe.CloseNormal, ""))
	expect(t, bob, Event{Type: "leave", Nick: "ada", Text: "left"})
	ada3, welcome := dialQuery(t, base, "nick=ada&session="+session+"&last="+got.ID)
	assert.Equal(t, Event{Type: "welcome", Nick: "ada", Members: []string{"ada", "bob"}, History: []Event{
		{Type: "leave", Nick: "ada", Text: "left"},
		{Type: "join", Nick: "ada"},
	}}, brief(welcome))
	expect(t, bob, Event{Type: "join", Nick: "ada"})
	say(t, bob, "four")
	expect(t, ada3, Event{Type: "message", Nick: "bob", Text: "four"})

	// Another session cannot take the nickname.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, resp, err := conn.Dial(ctx, base+"/ws?token="+token+"&nick=ada&session=guess", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
}

// TestResumeGap: an id older than the room's memory gets what is left,
// flagged as incomplete.
func TestResumeGap(t *testing.T) {
	base := startServer(t, New(Config{Token: token, HistorySize: -1, Backplane: NewMemoryBackplane(2)}))
	bob := join(t, base, "bob", "bob")
	expect(t, bob, Event{Type: "join", Nick: "bob"})
	for _, m := range []string{"a", "b", "c"} {
		say(t, bob, m)
		expect(t, bob, Event{Type: "message", Nick: "bob", Text: m})
	}
	_, welcome := dialQuery(t, base, "nick=ada&last=1-0")
	assert.Equal(t, Event{Type: "welcome", Nick: "ada", Gap: true, Members: []string{"ada", "bob"}, History: []Event{
		{Type: "message", Nick: "bob", Text: "c"},
		{Type: "join", Nick: "ada"},
	}}, brief(welcome))
}

func TestResumeRefused(t *testing.T) {
	base := startServer(t, New(Config{Token: token}))
	for _, tt := range []struct{ query, body string }{
		{"nick=ada&last=x", "bad event id"},
		{"nick=ada&last=1-2-3", "bad event id"},
		{"nick=ada&session=" + strings.Repeat("s", MaxSessionLen+1), "session too long"},
		{"nick=ada&session=a%20b", "printable ASCII"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		_, resp, err := conn.Dial(ctx, base+"/ws?token="+token+"&"+tt.query, nil)
		cancel()
		require.Error(t, err, tt.query)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, tt.query)
		var re *handshake.ResponseError
		require.ErrorAs(t, err, &re)
		assert.Contains(t, string(re.Body), tt.body, tt.query)
	}
}

func TestIDs(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "0-0", 0}, {"1-0", "0-5", 1}, {"1-0", "1-1", -1}, {"10-0", "9-99", 1},
		{"18446744073709551615-18446744073709551615", "18446744073709551615-18446744073709551614", 1},
	} {
		assert.Equal(t, tt.want, CompareIDs(tt.a, tt.b), "%s vs %s", tt.a, tt.b)
		assert.Equal(t, -tt.want, CompareIDs(tt.b, tt.a), "%s vs %s", tt.b, tt.a)
	}
	assert.Equal(t, "5-2", prevID("5-3"))
	assert.Equal(t, "4-18446744073709551615", prevID("5-0"))
	assert.Equal(t, "0-0", prevID("0-1"))
	for _, bad := range []string{"x", "1", "1-", "-1", "1-2-3", "1-x", " 1-2", "18446744073709551616-0"} {
		_, _, err := ParseID(bad)
		assert.Error(t, err, bad)
	}
}

// TestMemoryBackplane checks the in-process log's reads and presence.
func TestMemoryBackplane(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBackplane(3)
	last, _ := b.Last(ctx)
	assert.Equal(t, "0-0", last)
	var ids []string
	for i := range 4 {
		id, err := b.Publish(ctx, Event{Type: "message", Text: fmt.Sprint(i)})
		require.NoError(t, err)
		if i > 0 {
			require.Equal(t, 1, CompareIDs(id, ids[i-1]))
		}
		ids = append(ids, id)
	}
	evs, complete, err := b.Read(ctx, ids[1], -1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Len(t, evs, 2)
	_, complete, _ = b.Read(ctx, ids[0], -1)
	assert.False(t, complete, "trimmed")
	_, complete, _ = b.Read(ctx, "", -1)
	assert.False(t, complete, "trimmed")
	evs, _ = b.Tail(ctx, ids[3], 5)
	assert.Len(t, evs, 2)
	evs, _ = b.Tail(ctx, "", 1)
	assert.Equal(t, ids[3], evs[0].ID)
	evs, err = b.Wait(ctx, ids[2])
	require.NoError(t, err)
	assert.Equal(t, ids[3], evs[0].ID)

	resumed, err := b.Claim(ctx, "ada", "s", "o1")
	require.NoError(t, err)
	assert.False(t, resumed)
	_, err = b.Claim(ctx, "ada", "t", "o2")
	assert.ErrorIs(t, err, ErrNickTaken)
	resumed, _ = b.Claim(ctx, "ada", "s", "o3")
	assert.True(t, resumed)
	released, _ := b.Release(ctx, "ada", "o1")
	assert.False(t, released)
	released, _ = b.Release(ctx, "ada", "o3")
	assert.True(t, released)
	members, _ := b.Members(ctx)
	assert.Empty(t, members)
}
