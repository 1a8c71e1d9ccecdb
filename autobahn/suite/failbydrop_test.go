package suite

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFailByDrop runs case 6.3.1 (a text message with invalid UTF-8)
// against an echo server that does not check UTF-8, so that the suite
// itself receives the invalid text and fails the connection: with a close
// frame carrying 1007 by default, by dropping TCP without any close frame
// with FailByDrop, as the real suite's failByDrop option does.
func TestFailByDrop(t *testing.T) {
	s := startEcho(t, utf8Never, false)
	cases, err := Select("6.3.1", "")
	require.NoError(t, err)
	for _, drop := range []bool{false, true} {
		res, err := FuzzingClient(context.Background(), s.url(), cases, &Options{Agent: "echo", Timeouts: Timeouts{FailByDrop: drop}})
		require.NoError(t, err)
		require.Len(t, res, 1)
		r := res[0]
		require.True(t, r.FailedByMe, "failByDrop=%v: the suite failed the connection", drop)
		require.False(t, r.WasClean)
		if drop {
			require.Zero(t, r.TxFrameStats["8"], "no close frame with failByDrop")
			require.True(t, r.DroppedByMe)
			require.Nil(t, r.LocalCloseCode)
			require.NotNil(t, r.WasNotCleanReason)
			require.Contains(t, *r.WasNotCleanReason, "the suite dropped the TCP connection")
		} else {
			require.Equal(t, 1, r.TxFrameStats["8"], "a close frame without failByDrop")
			require.NotNil(t, r.LocalCloseCode)
			require.Equal(t, 1007, *r.LocalCloseCode)
		}
	}
}
