package conn

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// readBufSize is the size of the pooled read buffer. Payloads larger than
// what is buffered are read straight into the caller's memory, so the buffer
// only has to hold headers, control frames and runs of small frames.
const readBufSize = 4096

// idleBufSize is the size of the buffer a connection owns outright. While
// a connection waits for its next frame it holds only this, not a pooled
// buffer: an idle connection costs tens of bytes of buffer, not kilobytes.
const idleBufSize = 64

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// bufReader is the buffered reader under a Conn. It differs from
// bufio.Reader in one way that matters for memory: it gives its buffer back
// to a pool whenever it is empty, and reads into a small inline array while
// waiting for the first bytes of a frame.
type bufReader struct {
	nc     net.Conn
	hs     *bufio.Reader // bytes left over from the handshake; nil once drained
	buf    []byte        // inline[:] or a pooled buffer
	r, w   int           // buf[r:w] is unread
	pooled *[]byte       // the pooled buffer in buf, if any
	inline [idleBufSize]byte
}

func (b *bufReader) init(nc net.Conn, hs *bufio.Reader) {
	b.nc = nc
	if hs != nil && hs.Buffered() > 0 {
		b.hs = hs
	}
	b.buf = b.inline[:]
}

// buffered returns the unread bytes.
func (b *bufReader) buffered() []byte { return b.buf[b.r:b.w] }

// discard consumes n buffered bytes and releases the pooled buffer when
// nothing is left in it.
func (b *bufReader) discard(n int) {
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
		b.release()
	}
}

// release returns a pooled buffer once it is empty.
func (b *bufReader) release() {
	if b.pooled != nil && b.r == b.w {
		readBufPool.Put(b.pooled)
		b.pooled = nil
		b.buf = b.inline[:]
		b.r, b.w = 0, 0
	}
}

// need makes sure at least n (<= readBufSize) bytes are buffered.
func (b *bufReader) need(n int) error {
	for b.w-b.r < n {
		if n > len(b.buf) {
			b.grow()
		}
		if b.r > 0 && len(b.buf)-b.r < n {
			copy(b.buf, b.buf[b.r:b.w])
			b.w -= b.r
			b.r = 0
		}
		m, err := b.readSome(b.buf[b.w:])
		b.w += m
		if err != nil {
			if b.w-b.r >= n {
				return nil
			}
			if err == io.EOF && b.w > b.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		// A full inline read means more is probably waiting: move to the
		// pooled buffer so the next read takes it in one go.
		if b.pooled == nil && b.w == len(b.buf) {
			b.grow()
		}
	}
	return nil
}

// grow moves the unread bytes into a pooled buffer.
func (b *bufReader) grow() {
	if b.pooled != nil {
		return
	}
	p := readBufPool.Get().(*[]byte)
	n := copy(*p, b.buf[b.r:b.w])
	b.pooled = p
	b.buf = *p
	b.r, b.w = 0, n
}

// readSome reads once from the handshake leftovers or the connection.
func (b *bufReader) readSome(p []byte) (int, error) {
	if b.hs != nil {
		n, err := b.hs.Read(p[:min(len(p), b.hs.Buffered())])
		if b.hs.Buffered() == 0 {
			b.hs = nil
		}
		return n, err
	}
	return b.nc.Read(p)
}

// read reads up to len(p) bytes: buffered bytes first, then, when the
// buffer is empty, straight from the connection into p if p is not small,
// or through the buffer if it is (so that many small reads do not each
// cost a system call).
func (b *bufReader) read(p []byte) (int, error) {
	if b.r == b.w {
		// A read at least as large as the inline buffer goes straight into
		// p: one system call, no copy.
		if len(p) >= idleBufSize {
			return b.readSome(p)
		}
		if err := b.need(1); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.discard(n)
	return n, nil
}

// close gives the pooled buffer back, whatever it holds.
func (b *bufReader) close() {
	b.r, b.w = 0, 0
	b.release()
	b.hs = nil
}
