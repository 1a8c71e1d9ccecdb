package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// lines collects log lines.
type lines struct {
	mu sync.Mutex
	ls []string
	ch chan string
}

func (l *lines) logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.ls = append(l.ls, s)
	l.mu.Unlock()
	l.ch <- s
}

// TestConnLog: the demo logs one line when a WebSocket opens and one when
// it closes, with the path under the demo, the peer, the close code and
// reason, who closed, and the messages each way.
func TestConnLog(t *testing.T) {
	l := &lines{ch: make(chan string, 16)}
	d := newDemo(config{ChatToken: "tok", Logf: l.logf})
	_, ts := serveDemo(t, d, nil)
	ws := "ws" + strings.TrimPrefix(ts.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	c, _, err := conn.Dial(ctx, ws+"/echo/echo", &conn.DialOptions{Compression: conn.CompressionNoContextTakeover})
	require.NoError(t, err)
	defer c.CloseNow()
	open := <-l.ch
	assert.Regexp(t, `^ws open /echo/echo 127\.0\.0\.1:\d+ proto=- ext=permessage-deflate$`, open)
	assert.Contains(t, open, c.LocalAddr().String(), "the peer's address")
	for _, m := range []string{"one", "two"} {
		require.NoError(t, c.Write(ctx, conn.MessageText, []byte(m)))
		_, _, err := c.Read(ctx)
		require.NoError(t, err)
	}
	require.NoError(t, c.Close(wsframe.CloseNormal, "bye"))
	assert.Regexp(t, `^ws close /echo/echo 127\.0\.0\.1:\d+ code=1000 reason="bye" by=client after \d+(\.\d)?m?s in=2 out=2$`, <-l.ch)

	// The chat's too.
	ch, _, err := conn.Dial(ctx, ws+"/chat/ws?nick=logger&token=tok", nil)
	require.NoError(t, err)
	assert.Regexp(t, `^ws open /chat/ws 127\.0\.0\.1:\d+ proto=- ext=-$`, <-l.ch)
	require.NoError(t, ch.Close(wsframe.CloseNormal, "later"))
	assert.Regexp(t, `^ws close /chat/ws 127\.0\.0\.1:\d+ code=1000 reason="later" by=client after \S+ in=0 out=\d+$`, <-l.ch)

	// Pong's, closed by the server at shutdown; a path with a query is
	// logged without it.
	p, _, err := conn.Dial(ctx, ws+"/pong/ws?x=1", nil)
	require.NoError(t, err)
	defer p.CloseNow()
	assert.Regexp(t, `^ws open /pong/ws 127\.0\.0\.1:\d+ proto=- ext=-$`, <-l.ch)
	require.NoError(t, p.Write(ctx, conn.MessageText, []byte(`{"type":"create","data":{"game":"log"}}`)))
	_, _, err = p.Read(ctx)
	require.NoError(t, err)
	go func() {
		for range 100 {
			if _, _, err := p.Read(ctx); err != nil {
				return
			}
		}
	}()
	require.NoError(t, d.Shutdown(ctx))
	assert.Regexp(t, regexp.MustCompile(`^ws close /pong/ws 127\.0\.0\.1:\d+ code=1001 reason="[^"]*" by=server after \S+ in=1 out=\d+$`), <-l.ch)
}
