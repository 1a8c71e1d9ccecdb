//go:build linux

// Package chromium drives a headless Chromium through the DevTools
// protocol, for the browser tests of the examples and of interop. DevTools
// is JSON over WebSocket, and this package speaks it with the repository's
// own client (package conn): each browser test is also an interoperability
// check of that client against Chromium's server.
//
// It is test support: Launch takes the test, skips nothing itself (callers
// decide, with Find), and registers the cleanup that closes the browser and
// kills what is left of its processes.
package chromium

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ws6455/ws6455/conn"
)

// Find returns the path of a Chromium (or Chrome) binary, or "".
func Find() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is a running headless Chromium and a DevTools connection to it.
// Its methods are safe from any goroutine and return errors rather than
// failing the test.
type Browser struct {
	c       *conn.Conn
	mu      sync.Mutex
	id      int64
	waiting map[int64]chan message // command id → where its response goes
	// problems collects exceptions thrown by pages, and the errors logged
	// by pages opened with LogErrors.
	problems []string
}

// message is a DevTools message: a command, its response, or an event.
type message struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// noProxy keeps the DevTools connection off any proxy of the environment.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// Launch starts the Chromium at bin, headless, and connects to its DevTools
// endpoint; ctx bounds the launch. The test's cleanup asks the browser to
// close and then kills its whole process group.
func Launch(ctx context.Context, t testing.TB, bin string) *Browser {
	t.Helper()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server", "--remote-debugging-port=0",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	found := make(chan string, 1)
	go func() {
		// Read stderr for the DevTools address, and keep draining it so
		// that the browser never blocks on a full pipe.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// Browser.close (sent by the cleanup registered below, which runs
		// first) lets Chromium end its helper processes itself; whatever
		// is left is killed, by group.
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	var wsURL string
	select {
	case wsURL = <-found:
	case <-ctx.Done():
		t.Fatal("chromium did not print its DevTools address")
	}
	c, _, err := conn.Dial(ctx, wsURL, &conn.DialOptions{ReadLimit: 64 << 20, Proxy: noProxy})
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{c: c, waiting: make(map[int64]chan message)}
	done := make(chan struct{})
	go b.readLoop(done)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Call(cctx, "", "Browser.close", struct{}{}, nil)
		c.CloseNow()
		<-done
	})
	return b
}

// readLoop hands responses to their callers and collects the pages'
// problems, until the connection ends.
func (b *Browser) readLoop(done chan struct{}) {
	defer close(done)
	for {
		_, data, err := b.c.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		b.mu.Lock()
		if ch, ok := b.waiting[m.ID]; ok && m.ID != 0 {
			ch <- m
			delete(b.waiting, m.ID)
		} else if m.Method == "Runtime.exceptionThrown" || m.Method == "Log.entryAdded" && isError(m.Params) {
			b.problems = append(b.problems, string(m.Params))
		}
		b.mu.Unlock()
	}
}

// isError reports whether a Log.entryAdded event is an error (warnings,
// such as advice about canvas readback, are not problems of the page).
func isError(params json.RawMessage) bool {
	var e struct {
		Entry struct {
			Level string `json:"level"`
		} `json:"entry"`
	}
	return json.Unmarshal(params, &e) == nil && e.Entry.Level == "error"
}

// Problems returns the exceptions the pages threw, and the errors logged
// by pages opened with LogErrors, so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Call sends a DevTools command (to a page when session is not empty) and
// decodes its result into result, unless result is nil.
func (b *Browser) Call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	b.id++
	id := b.id
	ch := make(chan message, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(message{ID: id, SessionID: session, Method: method, Params: raw})
	if err != nil {
		return err
	}
	if err := b.c.Write(ctx, conn.MessageText, msg); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		switch {
		case !ok:
			return errors.New("devtools connection closed")
		case m.Error != nil:
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		case result != nil:
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// PageOptions are the settings of a page opened with Open.
type PageOptions struct {
	// NewWindow gives the page a window of its own (pages in background
	// tabs get fewer animation frames).
	NewWindow bool
	// LogErrors makes the errors the page logs count as problems, from
	// before it loads.
	LogErrors bool
}

// Open opens a new tab, attached with a flat session, and navigates it to
// url; it returns the session once the JavaScript condition ready holds in
// the page.
func (b *Browser) Open(ctx context.Context, url, ready string, opts PageOptions) (string, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.Call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "newWindow": opts.NewWindow}, &target); err != nil {
		return "", err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.Call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return "", err
	}
	s := att.SessionID
	if err := b.Call(ctx, s, "Runtime.enable", struct{}{}, nil); err != nil {
		return "", err
	}
	if opts.LogErrors {
		if err := b.Call(ctx, s, "Log.enable", struct{}{}, nil); err != nil {
			return "", err
		}
	}
	if err := b.Call(ctx, s, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		return "", err
	}
	return s, b.WaitFor(ctx, s, ready)
}

// Eval evaluates a JavaScript expression in a page, awaiting it if it is a
// promise, and decodes its value into v, unless v is nil. An exception in
// the page is an error.
func (b *Browser) Eval(ctx context.Context, session, expr string, v any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.Call(ctx, session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("evaluating %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if v != nil {
		if err := json.Unmarshal(res.Result.Value, v); err != nil {
			return fmt.Errorf("evaluating %s: value %s: %w", expr, res.Result.Value, err)
		}
	}
	return nil
}

// WaitFor waits until a JavaScript condition holds in a page. The page
// polls it and answers once, so the caller does not sleep.
func (b *Browser) WaitFor(ctx context.Context, session, cond string) error {
	return b.Eval(ctx, session, `new Promise((resolve) => { const f = () => { let ok = false; try { ok = !!(`+cond+`); } catch {} ok ? resolve(true) : setTimeout(f, 20); }; f(); })`, nil)
}
