package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// sentFrames runs send on a fresh server-side run, reads the frames that
// reach the wire until want of them arrived (want < 0: until the
// connection closes), then closes the connection the way the suite does
// after a closing handshake, and returns the frames and the octets read.
func sentFrames(t *testing.T, want int, send func(r *run)) ([]wsframe.Header, int, *run) {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	r := newRun(context.Background(), &Case{ID: "0.0"}, a, true, Timeouts{})
	r.state = stateOpen
	sent := make(chan struct{})
	go func() {
		send(r)
		close(sent)
	}()
	cr := &countingReader{r: b}
	br := bufio.NewReaderSize(cr, 16)
	var out []wsframe.Header
	closed := false
	for {
		if len(out) == want && !closed {
			<-sent
			r.dropConnection(false) // closes once what was handed over is written
			closed = true
		}
		h, err := wsframe.ReadHeader(br)
		if err == io.EOF || err == io.ErrClosedPipe || err == io.ErrUnexpectedEOF {
			break
		}
		require.NoError(t, err)
		_, err = io.CopyN(io.Discard, br, h.Length)
		if err == io.EOF || err == io.ErrClosedPipe {
			break
		}
		require.NoError(t, err)
		out = append(out, h)
	}
	if !closed {
		<-sent
	}
	r.finish()
	return out, cr.n, r
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestSendMessageFragmentsLikeRealSuite checks the fragmentation of
// sendMessage octet for octet against the real suite's loop, which stops
// only when a cut runs past the end: a message whose length is a multiple
// of the fragment size gets an empty final frame with FIN (Node's ws,
// which allows 16384 fragments, fails 9.3.2 because of it).
func TestSendMessageFragmentsLikeRealSuite(t *testing.T) {
	for _, tc := range []struct {
		n, frag int
		want    []int64
	}{
		{n: 10, frag: 5, want: []int64{5, 5, 0}},
		{n: 11, frag: 5, want: []int64{5, 5, 1}},
		{n: 5, frag: 5, want: []int64{5}},
		{n: 4, frag: 5, want: []int64{4}},
		{n: 0, frag: 5, want: []int64{0}},
		{n: 7, frag: 0, want: []int64{7}},
		{n: 1024, frag: 256, want: []int64{256, 256, 256, 256, 0}},
	} {
		frames, _, r := sentFrames(t, len(tc.want), func(r *run) { r.sendMessage(bytes.Repeat([]byte("*"), tc.n), true, tc.frag) })
		var got []int64
		for i, h := range frames {
			got = append(got, h.Length)
			wantOp := wsframe.OpContinuation
			if i == 0 {
				wantOp = wsframe.OpBinary
			}
			require.Equal(t, wantOp, h.Opcode, "n=%d frag=%d frame %d", tc.n, tc.frag, i)
			require.Equal(t, i == len(frames)-1, h.Fin, "n=%d frag=%d frame %d FIN", tc.n, tc.frag, i)
		}
		require.Equal(t, tc.want, got, "n=%d frag=%d", tc.n, tc.frag)
		require.Equal(t, len(tc.want), r.txFrames[0]+r.txFrames[2])
	}
}

// TestQueuedWritesStayApart checks the real suite's send queue: once a
// sync write waits, later writes queue behind it, each a write of its
// own, in order; the queued pieces are counted as written.
func TestQueuedWritesStayApart(t *testing.T) {
	frames, _, r := sentFrames(t, 3, func(r *run) {
		r.sendFrame(frameSpec{op: opText, payload: []byte("a"), fin: true, sync: true})
		r.sendFrame(frameSpec{op: opText, payload: []byte("bb"), fin: true})
		r.sendFrame(frameSpec{op: opText, payload: []byte("ccc"), fin: true, chop: 2})
	})
	require.Len(t, frames, 3)
	for i, h := range frames {
		require.EqualValues(t, i+1, h.Length)
	}
	// Frames of 3 and 4 octets, then the 5-octet frame in chops of 2,
	// 2 and 1; none of them written at once.
	require.Empty(t, r.txOctets)
	require.Equal(t, map[int]int{3: 1, 4: 1, 2: 2, 1: 1}, r.wq.written())
}

// TestQueuedWritesDroppedAtClose checks that closing the connection drops
// the chops still waiting, as the real suite skips queued writes once the
// connection is closed, and that only what was written is counted.
func TestQueuedWritesDroppedAtClose(t *testing.T) {
	_, n, r := sentFrames(t, 0, func(r *run) {
		r.sendFrame(frameSpec{op: opBin, payload: make([]byte, 100), fin: true, chop: 1})
	})
	written := r.wq.written()[1]
	require.Less(t, written, 102, "all chops went out despite the close")
	require.Equal(t, written, n, "the octets counted are the octets that reached the peer")
	// The wire log has a TO entry for each chop written, and none for
	// those dropped, as the real suite logs a queued write when it sends
	// it.
	frame := append([]byte{0x82, 100}, make([]byte, 100)...)
	var logged [][]any
	for _, e := range r.wirelog {
		if e := e.([]any); e[0] == "TO" {
			logged = append(logged, e)
		}
	}
	want := [][]any{}
	for i := range written {
		want = append(want, []any{"TO", []any{1, hex.EncodeToString(frame[i : i+1])}, true})
	}
	require.Equal(t, want, append([][]any{}, logged...))
}

// A write queued behind a sync write is logged when it is written, with
// the flag it was sent with; one written at once is logged at once.
func TestQueuedWritesLogged(t *testing.T) {
	_, _, r := sentFrames(t, 2, func(r *run) {
		r.sendFrame(frameSpec{op: opText, payload: []byte("a"), fin: true, sync: true})
		r.sendFrame(frameSpec{op: opText, payload: []byte("bb"), fin: true})
	})
	var tos [][]any
	for _, e := range r.wirelog {
		if e := e.([]any); e[0] == "TO" {
			tos = append(tos, e)
		}
	}
	require.Equal(t, [][]any{
		{"TO", []any{3, "8101" + "61"}, true},
		{"TO", []any{4, "8102" + "6262"}, false},
	}, tos)
}
