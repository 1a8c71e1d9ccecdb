package conn

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// TestWriteTimeoutMidFrameKeepsTheStream cuts a big write short while the
// peer is not reading, then checks that the peer receives the frames whole
// and in order: the rest of the cut frame first, then the next message.
func TestWriteTimeoutMidFrameKeepsTheStream(t *testing.T) {
	for _, client := range []bool{false, true} {
		c, p := withPeer(t, client, nil)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the socket buffers hold
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := c.Write(ctx, MessageBinary, big)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var q *queuedError
		require.ErrorAs(t, err, &q, "part of the frame went out")

		done := make(chan error, 1)
		go func() { done <- c.Write(context.Background(), MessageText, []byte("next")) }()
		h, payload := p.recvFrame()
		require.Equal(t, wsframe.OpBinary, h.Opcode)
		require.True(t, bytes.Equal(big, payload), "the cut frame arrives whole")
		h, payload = p.recvFrame()
		require.Equal(t, wsframe.OpText, h.Opcode)
		require.Equal(t, "next", string(payload))
		require.NoError(t, <-done)
	}
}
