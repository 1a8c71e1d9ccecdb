package streamconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pipeWriter is a Writer over an io.Pipe: a write blocks until the other
// end reads it.
type pipeWriter struct{ *io.PipeWriter }

func (pipeWriter) Flush() error { return nil }

func newTest(t *testing.T) (c *Conn, in *io.PipeWriter, out *io.PipeReader, kills *atomic.Int32, ends *atomic.Int32) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	kills, ends = new(atomic.Int32), new(atomic.Int32)
	c = New(inR, pipeWriter{outW}, func() {
		kills.Add(1)
		outW.CloseWithError(errors.New("reset"))
	}, func() { ends.Add(1) }, Addr{"tcp", "l"}, Addr{"tcp", "r"})
	t.Cleanup(func() { c.Close(); inW.Close(); outR.Close() })
	return c, inW, outR, kills, ends
}

// TestReadDeadlineKeepsBytes: a Read cut short by its deadline loses
// nothing: what arrives later is read whole, in order.
func TestReadDeadlineKeepsBytes(t *testing.T) {
	c, in, _, _, _ := newTest(t)
	require.NoError(t, c.SetReadDeadline(time.Unix(1, 0)))
	_, err := c.Read(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	go in.Write([]byte("hello, world"))
	buf := make([]byte, 5)
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))
	// The rest is pending: a past deadline does not hide it.
	require.NoError(t, c.SetReadDeadline(time.Unix(1, 0)))
	rest, err := io.ReadAll(io.LimitReader(c, 7))
	require.NoError(t, err)
	require.Equal(t, ", world", string(rest))
	_, err = c.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	in.Close()
	_, err = c.Read(buf)
	require.ErrorIs(t, err, io.EOF)
}

// TestWriteDeadlineBeforeWrite: a write whose deadline has passed before
// it starts sends nothing and leaves the stream usable.
func TestWriteDeadlineBeforeWrite(t *testing.T) {
	c, _, out, kills, _ := newTest(t)
	require.NoError(t, c.SetWriteDeadline(time.Unix(1, 0)))
	n, err := c.Write([]byte("x"))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, int32(0), kills.Load())
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	go c.Write([]byte("ok"))
	buf := make([]byte, 2)
	_, err = io.ReadFull(out, buf)
	require.NoError(t, err)
	require.Equal(t, "ok", string(buf))
}

// TestWriteDeadlineDuringWrite: a deadline that passes while a write is
// blocked resets the stream (kill), the write returns a timeout, and every
// later write fails: the Conn is fragile. Both ways a deadline can pass: a
// past one set during the write, and a timer firing.
func TestWriteDeadlineDuringWrite(t *testing.T) {
	for _, name := range []string{"past", "timer"} {
		t.Run(name, func(t *testing.T) {
			c, _, _, kills, _ := newTest(t)
			require.True(t, c.FragileWrites())
			done := make(chan error)
			go func() {
				_, err := c.Write([]byte("nobody reads this"))
				done <- err
			}()
			waitWriting(t, c)
			if name == "past" {
				require.NoError(t, c.SetWriteDeadline(time.Unix(1, 0)))
			} else {
				require.NoError(t, c.SetWriteDeadline(time.Now().Add(10*time.Millisecond)))
			}
			require.ErrorIs(t, <-done, os.ErrDeadlineExceeded)
			require.Equal(t, int32(1), kills.Load())
			require.NoError(t, c.SetWriteDeadline(time.Time{}))
			_, err := c.Write([]byte("more"))
			require.ErrorIs(t, err, ErrBroken)
		})
	}
}

// waitWriting waits (a bounded number of polls) until a Write of c is
// under way.
func waitWriting(t *testing.T, c *Conn) {
	t.Helper()
	for i := 0; ; i++ {
		require.Less(t, i, 10000, "the write never began")
		c.smu.Lock()
		w := c.writing
		c.smu.Unlock()
		if w {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCloseUnblocks: Close ends a blocked Read and a blocked Write, calls
// end only when no write was cut short, and makes later calls fail with
// net.ErrClosed.
func TestCloseUnblocks(t *testing.T) {
	c, _, _, kills, ends := newTest(t)
	rd := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 1))
		rd <- err
	}()
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-rd, net.ErrClosed)
	_, err := c.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
	require.Equal(t, int32(1), ends.Load())
	require.Equal(t, int32(0), kills.Load())
	require.ErrorIs(t, c.Close(), net.ErrClosed)

	c2, _, _, kills2, ends2 := newTest(t)
	wr := make(chan error)
	go func() {
		_, err := c2.Write([]byte("blocked"))
		wr <- err
	}()
	waitWriting(t, c2)
	require.NoError(t, c2.Close())
	require.Error(t, <-wr)
	require.Equal(t, int32(1), kills2.Load())
	require.Equal(t, int32(0), ends2.Load())
}

// chunkedBody hands out its chunks one per Read (at most len(p) of one),
// as an HTTP/2 request body does with DATA frames, and records the size
// of the buffer each Read was given.
type chunkedBody struct {
	chunks [][]byte
	sizes  []int
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	b.sizes = append(b.sizes, len(p))
	if len(b.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.chunks[0])
	if b.chunks[0] = b.chunks[0][n:]; len(b.chunks[0]) == 0 {
		b.chunks = b.chunks[1:]
	}
	return n, nil
}

func (b *chunkedBody) Close() error { return nil }

// TestReadAheadBuffers: the read-ahead waits on a quiet stream with a
// small buffer, switches to a large one while data flows (a Read that
// fills the small one) and back once a Read leaves it mostly empty; the
// bytes arrive whole and in order through every switch.
func TestReadAheadBuffers(t *testing.T) {
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var want []byte
	body := &chunkedBody{}
	for _, chunk := range [][]byte{[]byte("small"), big, []byte("tail"), []byte("again")} {
		body.chunks = append(body.chunks, chunk)
		want = append(want, chunk...)
	}
	c := New(body, pipeWriter{}, func() {}, nil, Addr{}, Addr{})
	defer c.Close()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, want, got)
	// small; big: one idle-sized read, then readSize reads until the
	// 100 KiB chunk is drained; "tail" into a large buffer, which makes
	// the next read small again; "again"; EOF.
	require.Equal(t, idleReadSize, body.sizes[0])
	require.Equal(t, idleReadSize, body.sizes[1], "the read after a short one stays small")
	require.Equal(t, readSize, body.sizes[2], "a full small read brings a large buffer")
	last := len(body.sizes) - 1
	require.Equal(t, idleReadSize, body.sizes[last], "a short read gives the large buffer back")
	require.Equal(t, idleReadSize, body.sizes[last-1])
}
