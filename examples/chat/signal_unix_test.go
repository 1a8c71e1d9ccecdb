//go:build unix

package main

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
	"github.com/ws6455/ws6455/wsframe"
)

// TestSignalShutdown sends SIGTERM to the test process while
// ServeUntilSignal runs: it has registered for it (before it started serving, so once a
// client is connected it is sure to catch it), closes the client with
// 1001 and returns.
func TestSignalShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- chatserver.ServeUntilSignal(ln, "tok", chatserver.New(chatserver.Config{Token: "tok"}), 10*time.Second)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/ws?nick=ada&token=tok", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	_, msg, err := c.Read(ctx) // the welcome: the client is in the room
	require.NoError(t, err)
	assert.Contains(t, string(msg), `"type":"welcome"`)

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	for range 10 { // the join event, then the close
		if _, _, err = c.Read(ctx); err != nil {
			break
		}
	}
	assert.Equal(t, wsframe.CloseGoingAway, conn.CloseCode(err))
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("ServeUntilSignal did not return")
	}
}
