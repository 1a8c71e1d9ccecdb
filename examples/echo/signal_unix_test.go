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
	"github.com/ws6455/ws6455/examples/echo/echoserver"
	"github.com/ws6455/ws6455/wsframe"
)

// TestSignalShutdown sends SIGTERM to the test process while serve runs:
// serve has registered for it (before it started serving, so once a
// client is connected it is sure to catch it), closes the client with
// 1001 and returns.
func TestSignalShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- serve(ln, echoserver.New(echoserver.Config{}), 10*time.Second) }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/echo", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	require.NoError(t, c.Write(ctx, conn.MessageText, []byte("ping")))
	_, msg, err := c.Read(ctx) // the handler is running: the client is registered
	require.NoError(t, err)
	assert.Equal(t, "ping", string(msg))

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	_, _, err = c.Read(ctx)
	assert.Equal(t, wsframe.CloseGoingAway, conn.CloseCode(err))
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("serve did not return")
	}
}
