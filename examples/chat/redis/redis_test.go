package chatredis

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// testTimeout only stops a broken test from hanging; no assertion depends
// on it.
const testTimeout = 3 * time.Minute

// needRedis returns a client for the Redis named by WS_REDIS_ADDR
// (default 127.0.0.1:6379). Without one the test is skipped, or fails
// when CI=true, since CI installs Redis.
func needRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("WS_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		msg := fmt.Sprintf("no Redis at %s (set WS_REDIS_ADDR; e.g. redis-server --port 6390 --save '' --appendonly no): %v", addr, err)
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true requires Redis: " + msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb, addr
}

// newRoom returns a room name of its own for a test, whose keys are
// removed at the end.
func newRoom(t *testing.T, rdb *redis.Client) string {
	room := "test-" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rdb.Del(ctx, roomKeys(room)...)
	})
	return room
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// chatBinary builds cmd/chat once per test run.
func chatBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chatredis-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "chat")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "./cmd/chat")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// proc is a chat server process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	Addr string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done

	mu  sync.Mutex
	log strings.Builder
}

var listening = regexp.MustCompile(`chat on http://([0-9.:]+)/`)

// startProc runs the chat command on a free loopback port with the given
// Redis and room, plus args.
func startProc(t *testing.T, name, redisAddr, room string, args ...string) *proc {
	t.Helper()
	bin := chatBinary(t)
	args = append([]string{"-addr", "127.0.0.1:0", "-token", "tok", "-redis", redisAddr, "-room", room,
		"-presence-ttl", "3s", "-history", "-1"}, args...)
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s log:\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	select {
	case p.Addr = <-addr:
	case <-p.done:
		t.Fatalf("%s exited: %v\n%s", name, p.err, p.logText())
	case <-time.After(testTimeout):
		t.Fatalf("%s did not start", name)
	}
	return p
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// URL returns the process's WebSocket endpoint.
func (p *proc) URL() string { return "ws://" + p.Addr + "/ws" }

// signal sends sig and, for SIGTERM, waits for a clean exit.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	select {
	case <-p.done:
	case <-time.After(testTimeout):
		p.t.Fatalf("%s did not exit on %v", p.name, sig)
	}
	if sig == syscall.SIGTERM {
		require.NoError(p.t, p.err, "%s exit after SIGTERM\n%s", p.name, p.logText())
	}
}

// freePort returns a loopback port nothing listens on (for a Redis of a
// test's own).
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
