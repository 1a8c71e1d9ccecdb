package chatredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/chat/chatclient"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

// The scenarios of this file run the chat command as real processes on
// 127.0.0.1, sharing one Redis, with chatclient members in the test
// process. Every member records what it receives; the checks are on
// those records: every message exactly once, in the room's order.

// jitter is the members' (fixed) jitter, so that the waits they ask for
// can be checked exactly.
const jitter = time.Millisecond

// tester is a chat member run by a test.
type tester struct {
	nick string
	cl   *chatclient.Client
	home int // index of the process it starts on

	mu       sync.Mutex
	evs      []chatserver.Event
	connects int
	waits    []time.Duration // the reconnect waits it asked for
	runErr   error
	changed  chan struct{}
}

// startMember runs a member that starts on procs[home] and moves to the
// next process at each reconnect. Its reconnect waits are recorded, and
// shortened to a few ms: these tests check the schedule, not the clock.
func startMember(ctx context.Context, t *testing.T, nick string, procs []*proc, home int) *tester {
	m := &tester{nick: nick, home: home, changed: make(chan struct{}, 1)}
	var urls []string
	for i := range procs {
		urls = append(urls, procs[(home+i)%len(procs)].URL())
	}
	m.cl = chatclient.New(chatclient.Config{
		URLs: urls, Nick: nick, Token: "tok",
		OnEvent: func(ev chatserver.Event) {
			m.mu.Lock()
			m.evs = append(m.evs, ev)
			m.mu.Unlock()
			m.poke()
		},
		OnState: func(s chatclient.State, wait time.Duration) {
			m.mu.Lock()
			switch s {
			case chatclient.Connected:
				m.connects++
			case chatclient.Reconnecting:
				m.waits = append(m.waits, wait)
			}
			m.mu.Unlock()
			m.poke()
		},
		Jitter: func() time.Duration { return jitter },
		Sleep: func(ctx context.Context, d time.Duration) error {
			select {
			case <-time.After(5 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	go func() {
		err := m.cl.Run(ctx)
		m.mu.Lock()
		m.runErr = err
		m.mu.Unlock()
		m.poke()
	}()
	return m
}

func (m *tester) poke() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// until waits until cond holds on m's records; it fails the test at
// ctx's end.
func (m *tester) until(ctx context.Context, t *testing.T, what string, cond func(m *tester) bool) {
	t.Helper()
	for {
		m.mu.Lock()
		ok, runErr := cond(m), m.runErr
		m.mu.Unlock()
		if ok {
			return
		}
		if runErr != nil && ctx.Err() == nil {
			t.Fatalf("%s: %s: client stopped: %v", m.nick, what, runErr)
		}
		select {
		case <-m.changed:
		case <-ctx.Done():
			m.mu.Lock()
			defer m.mu.Unlock()
			t.Fatalf("%s: %s: not after %v; events %d, connects %d", m.nick, what, testTimeout, len(m.evs), m.connects)
		}
	}
}

// joined waits until m has seen its own join.
func (m *tester) joined(ctx context.Context, t *testing.T) {
	t.Helper()
	m.until(ctx, t, "join", func(m *tester) bool {
		return slices.ContainsFunc(m.evs, func(ev chatserver.Event) bool { return ev.Type == "join" && ev.Nick == m.nick })
	})
}

// messages returns the messages m received, in order.
func (m *tester) messages() []chatserver.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []chatserver.Event
	for _, ev := range m.evs {
		if ev.Type == "message" {
			out = append(out, ev)
		}
	}
	return out
}

func (m *tester) count(typ string) int {
	n := 0
	for _, ev := range m.evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// hasMessages waits until m has received n messages.
func (m *tester) hasMessages(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	m.until(ctx, t, fmt.Sprint(n, " messages"), func(m *tester) bool { return m.count("message") >= n })
}

// checkRoom checks that every member received exactly the messages want
// (texts), in one order that is the same for all, with growing ids, and
// returns that order.
func checkRoom(t *testing.T, members []*tester, want []string) []string {
	t.Helper()
	var ref []chatserver.Event
	for i, m := range members {
		got := m.messages()
		for j := 1; j < len(got); j++ {
			if chatserver.CompareIDs(got[j-1].ID, got[j].ID) >= 0 {
				t.Errorf("%s: message %d has id %s after %s: duplicate or out of order", m.nick, j, got[j].ID, got[j-1].ID)
				break
			}
		}
		if i == 0 {
			ref = got
			texts := make([]string, len(got))
			for j, ev := range got {
				texts[j] = ev.Text
			}
			sorted := slices.Clone(texts)
			slices.Sort(sorted)
			wantSorted := slices.Clone(want)
			slices.Sort(wantSorted)
			require.Equal(t, wantSorted, sorted, "%s: each message exactly once", m.nick)
			continue
		}
		if !assert.Equal(t, ids(ref), ids(got), "%s: the room's order", m.nick) {
			return nil
		}
	}
	out := make([]string, len(ref))
	for i, ev := range ref {
		out[i] = ev.Text
	}
	return out
}

// say sends text from m, retrying while m reconnects.
func (m *tester) say(ctx context.Context, t *testing.T, text string) {
	t.Helper()
	for {
		err := m.cl.Say(ctx, text)
		if err == nil {
			return
		}
		require.ErrorIs(t, err, chatclient.ErrNotConnected)
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("%s could not say %q", m.nick, text)
		}
	}
}

func startProcs(t *testing.T, n int, redisAddr, room string, args ...string) []*proc {
	var procs []*proc
	for i := range n {
		procs = append(procs, startProc(t, fmt.Sprint("chat", i), redisAddr, room, args...))
	}
	return procs
}

// TestThreeProcesses: 300 members over three processes; three of them,
// one per process, talk at once. Every member receives every message once,
// all in the same order, which keeps each speaker's order.
func TestThreeProcesses(t *testing.T) {
	rdb, addr := needRedis(t)
	room := newRoom(t, rdb)
	procs := startProcs(t, 3, addr, room, "-queue", "1024")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	const clients, rounds = 300, 10
	var members []*tester
	for i := range clients {
		members = append(members, startMember(ctx, t, fmt.Sprint("m", i), procs, i%3))
	}
	for _, m := range members {
		m.joined(ctx, t)
	}
	var want []string
	var wg sync.WaitGroup
	for s := range 3 {
		for k := range rounds {
			want = append(want, fmt.Sprintf("s%d-%d", s, k))
		}
		wg.Go(func() {
			for k := range rounds {
				members[s].say(ctx, t, fmt.Sprintf("s%d-%d", s, k))
			}
		})
	}
	wg.Wait()
	for _, m := range members {
		m.hasMessages(ctx, t, len(want))
	}
	order := checkRoom(t, members, want)
	for s := range 3 { // each speaker's order is kept
		var mine []string
		for _, text := range order {
			if strings.HasPrefix(text, fmt.Sprintf("s%d-", s)) {
				mine = append(mine, text)
			}
		}
		assert.Equal(t, want[s*rounds:(s+1)*rounds], mine)
	}
	for _, m := range members {
		m.mu.Lock()
		assert.Equal(t, 1, m.connects, "%s never reconnected", m.nick)
		m.mu.Unlock()
	}
}

// TestKillProcess: a process is killed (SIGKILL) while messages flow. Its
// members reconnect, after the first backoff step, to the others, resume
// with their nicknames, and miss nothing; nobody else notices.
func TestKillProcess(t *testing.T) {
	testLoseProcess(t, syscall.SIGKILL)
}

// TestDrainProcess: a process is stopped with SIGTERM while messages flow.
// It tells its members to reconnect, which they do at once (jitter only),
// and closes them with 1001; they resume on the others and miss nothing.
func TestDrainProcess(t *testing.T) {
	testLoseProcess(t, syscall.SIGTERM)
}

func testLoseProcess(t *testing.T, sig syscall.Signal) {
	rdb, addr := needRedis(t)
	room := newRoom(t, rdb)
	procs := startProcs(t, 3, addr, room, "-queue", "1024", "-presence-ttl", "20s")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	const clients, total, before = 60, 100, 30
	var members []*tester
	for i := range clients {
		members = append(members, startMember(ctx, t, fmt.Sprint("m", i), procs, i%3))
	}
	for _, m := range members {
		m.joined(ctx, t)
	}
	sender := members[1] // on procs[1], which stays
	var want []string
	for i := range total {
		want = append(want, fmt.Sprint("msg", i))
	}
	for i := range before {
		sender.say(ctx, t, want[i])
	}
	members[0].hasMessages(ctx, t, before) // procs[0] is mid-stream
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		procs[0].signal(sig)
	}()
	for i := before; i < total; i++ {
		sender.say(ctx, t, want[i])
	}
	<-stopped
	for _, m := range members {
		m.hasMessages(ctx, t, total)
	}
	checkRoom(t, members, want)

	for _, m := range members {
		m.mu.Lock()
		if m.home == 0 {
			assert.Equal(t, 2, m.connects, "%s moved once", m.nick)
			require.NotEmpty(t, m.waits, m.nick)
			if sig == syscall.SIGKILL {
				assert.Equal(t, chatclient.Backoff(0, jitter), m.waits[0], "%s: first backoff step", m.nick)
			} else {
				assert.Equal(t, jitter, m.waits[0], "%s: told to come back at once", m.nick)
			}
		} else {
			assert.Equal(t, 1, m.connects, "%s stayed", m.nick)
		}
		assert.Zero(t, m.count("leave"), "%s: nobody left the room", m.nick)
		joins := map[string]int{}
		for _, ev := range m.evs {
			if ev.Type == "join" {
				joins[ev.Nick]++
				assert.Equal(t, 1, joins[ev.Nick], "%s: %s joined twice", m.nick, ev.Nick)
			}
		}
		m.mu.Unlock()
	}
	b := New(rdb, Options{Room: room})
	defer b.Close()
	names, err := b.Members(ctx)
	require.NoError(t, err)
	assert.Len(t, names, clients, "every member kept its nickname")
}

// TestRedisRestart: Redis (without persistence) restarts while the room
// is in use. The processes reconnect to it, the members stay connected,
// the room goes on: messages said after the restart reach everyone once,
// in order. Lost: what Redis held — the stream (the history a client
// that resumes later would be sent) and the presence set, which the
// processes restore at their next renewal.
func TestRedisRestart(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true requires redis-server in PATH")
		}
		t.Skip("no redis-server in PATH: this test starts and restarts a Redis of its own")
	}
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", port)
	startRedis := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		require.NoError(t, cmd.Start())
		return cmd
	}
	rs := startRedis()
	t.Cleanup(func() { rs.Process.Kill(); rs.Wait() })
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	waitPing := func() {
		for rdb.Ping(ctx).Err() != nil {
			require.NoError(t, ctx.Err(), "redis-server did not start")
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPing()

	procs := startProcs(t, 3, addr, "restart", "-queue", "1024", "-presence-ttl", "3s")
	const clients = 30
	var members []*tester
	for i := range clients {
		members = append(members, startMember(ctx, t, fmt.Sprint("m", i), procs, i%3))
	}
	for _, m := range members {
		m.joined(ctx, t)
	}
	sender := members[0]
	var want []string
	// confirm says text until sender sees it come back: a message said
	// while Redis is away earns an error event instead, and is said
	// again.
	confirm := func(text string) {
		for range 1000 {
			sender.mu.Lock()
			errs, seen := sender.count("error"), len(sender.evs)
			sender.mu.Unlock()
			sender.say(ctx, t, text)
			var ok bool
			sender.until(ctx, t, "answer to "+text, func(m *tester) bool {
				for _, ev := range m.evs[seen:] {
					if ev.Type == "message" && ev.Text == text {
						ok = true
						return true
					}
				}
				return m.count("error") > errs
			})
			if ok {
				want = append(want, text)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%q never got through", text)
	}
	for i := range 10 {
		confirm(fmt.Sprint("before", i))
	}
	for _, m := range members {
		m.hasMessages(ctx, t, len(want))
	}

	rdb.ShutdownNoSave(ctx) // its error is the connection it closes
	rs.Wait()
	rs = startRedis()
	waitPing()
	for i := range 10 {
		confirm(fmt.Sprint("after", i))
	}
	for _, m := range members {
		m.hasMessages(ctx, t, len(want))
	}
	checkRoom(t, members, want)
	for _, m := range members {
		m.mu.Lock()
		assert.Equal(t, 1, m.connects, "%s stayed connected", m.nick)
		m.mu.Unlock()
	}
	// Presence comes back with the processes' renewals (every TTL/3).
	b := New(rdb, Options{Room: "restart"})
	defer b.Close()
	for {
		names, err := b.Members(ctx)
		if err == nil && len(names) == clients {
			break
		}
		require.NoError(t, ctx.Err(), "presence not restored: %v %v", names, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowClient: with three processes, a member that stops reading is
// dropped (1008) when its queue overflows, and the others, on every
// process, receive every message.
func TestSlowClient(t *testing.T) {
	rdb, addr := needRedis(t)
	room := newRoom(t, rdb)
	procs := startProcs(t, 3, addr, room, "-queue", "64")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	var members []*tester
	for i := range 3 {
		members = append(members, startMember(ctx, t, fmt.Sprint("m", i), procs, i))
	}
	for _, m := range members {
		m.joined(ctx, t)
	}
	// The slow member reads nothing, through a small receive buffer, so
	// that its process's writes block soon.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	slow, _, err := conn.Dial(ctx, procs[0].URL()+"?nick=slow&token=tok", &conn.DialOptions{NetDialContext: dialer.DialContext})
	require.NoError(t, err)
	defer slow.CloseNow()
	for _, m := range members {
		m.until(ctx, t, "slow joined", func(m *tester) bool {
			return slices.ContainsFunc(m.evs, func(ev chatserver.Event) bool { return ev.Type == "join" && ev.Nick == "slow" })
		})
	}

	// Batches of 40 messages, each batch received by all before the
	// next, so that only the slow member falls behind.
	pad := strings.Repeat("x", 1900)
	var want []string
	dropped := func(m *tester) bool {
		return slices.ContainsFunc(m.evs, func(ev chatserver.Event) bool {
			return ev.Type == "leave" && ev.Nick == "slow" && ev.Text == "dropped: too slow"
		})
	}
	for batch := 0; ; batch++ {
		require.Less(t, batch, 1000, "slow member never dropped")
		for k := range 40 {
			text := fmt.Sprintf("%d-%d %s", batch, k, pad)
			want = append(want, text)
			members[1].say(ctx, t, text)
		}
		for _, m := range members {
			m.hasMessages(ctx, t, len(want))
		}
		members[0].mu.Lock()
		done := dropped(members[0])
		members[0].mu.Unlock()
		if done {
			break
		}
	}
	for _, m := range members {
		m.until(ctx, t, "slow dropped", dropped)
	}
	checkRoom(t, members, want)

	// The slow member's connection ends after what was sent to it: with
	// 1008 if the close frame got through, or without a close frame (1006)
	// since its full TCP buffer kept the close frame out and the close
	// timed out.
	var closeErr error
	for range len(want) + 100 {
		if _, _, closeErr = slow.Read(ctx); closeErr != nil {
			break
		}
	}
	require.Error(t, closeErr)
	if code := conn.CloseCode(closeErr); code != 1006 {
		var ce conn.CloseError
		require.ErrorAs(t, closeErr, &ce)
		assert.Equal(t, conn.CloseError{Code: 1008, Reason: "too slow: send queue overflow"}, ce)
	}
	b := New(rdb, Options{Room: room})
	defer b.Close()
	names, err := b.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"m0", "m1", "m2"}, names, "slow is out of the room")
}
