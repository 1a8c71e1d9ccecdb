package conn

import (
	"bufio"
	"io"
	"net"
	"syscall"
)

// readBufSize is the size of the pooled read buffer. Payloads larger than
// what is buffered are read straight into the caller's memory, so the buffer
// only has to hold headers, control frames and runs of small frames.
const readBufSize = 4096

// idleBufSize is the size of the small buffer that connections which cannot
// wait for readability without a buffer (TLS, pipes, wrapped connections)
// read into while they wait for the next frame: an idle connection of that
// kind holds these few bytes, not a pooled buffer. Reads at least this large
// go straight into the caller's memory when nothing is buffered.
const idleBufSize = 64

var readBufPool = newReservePool(reserveSize, func() *[]byte { b := make([]byte, readBufSize); return &b })

// bufReader is the buffered reader under a Conn. It differs from
// bufio.Reader in one way that matters for memory: it holds a buffer only
// while bytes are buffered. It gives its pooled buffer back whenever it is
// empty, and waits for the next frame without one: on TCP and Unix sockets
// it waits for readability and only then takes a pooled buffer to read
// into (see rawFill); on other connections it reads into a small buffer.
type bufReader struct {
	nc     net.Conn
	hs     *bufio.Reader // bytes left over from the handshake; nil once drained
	buf    []byte        // *pooled, small[:], or nil
	r, w   int           // buf[r:w] is unread
	pooled *[]byte       // the pooled buffer in buf, if any

	// small is the idle buffer of connections read through nc.Read,
	// allocated when first needed (never for TCP and Unix sockets).
	small *[idleBufSize]byte

	// raw, when not nil, reads the socket directly: fillFn (b.rawFill,
	// made once) is called by raw.Read when the socket may be readable,
	// and leaves the outcome of its read system call in fillErrno (an
	// errno, or errnoEOF). An errno rather than an error keeps the Conn
	// within a smaller allocation size class.
	raw       syscall.RawConn
	fillFn    func(fd uintptr) bool
	fillErrno uintptr
}

func (b *bufReader) init(nc net.Conn, hs *bufio.Reader) {
	b.nc = nc
	if hs != nil && hs.Buffered() > 0 {
		b.hs = hs
	}
	b.initRaw()
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
		b.buf = nil
		b.r, b.w = 0, 0
	}
}

// need makes sure at least n (<= readBufSize) bytes are buffered.
func (b *bufReader) need(n int) error {
	for b.w-b.r < n {
		var err error
		if b.raw != nil && b.hs == nil {
			// A socket, read here rather than in fill to keep the waiting
			// stack short. With nothing buffered, rawFill takes the pooled
			// buffer only once the socket has bytes for it.
			if b.w > b.r {
				b.grow()
				b.compact(n)
			}
			err = b.rawRead()
		} else {
			err = b.fill(n)
		}
		if err != nil {
			if b.w-b.r >= n {
				return nil
			}
			if err == io.EOF && b.w > b.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// fill reads once into the buffer, making room for n unread bytes first,
// for connections read through nc.Read and for handshake leftovers (need
// reads sockets itself).
func (b *bufReader) fill(n int) error {
	if b.buf == nil && b.raw != nil {
		b.grow() // handshake leftovers on a socket: never make the small buffer
	}
	if b.buf == nil {
		if b.small == nil {
			b.small = new([idleBufSize]byte)
		}
		b.buf = b.small[:]
	}
	if n > len(b.buf) {
		b.grow()
	}
	b.compact(n)
	m, err := b.readSome(b.buf[b.w:])
	b.w += m
	// A full small buffer means more is probably waiting: move to the
	// pooled buffer so the next read takes it in one go.
	if err == nil && b.pooled == nil && b.w == len(b.buf) {
		b.grow()
	}
	return err
}

// compact moves the unread bytes to the front of the buffer when fewer
// than n would fit from where they are.
func (b *bufReader) compact(n int) {
	if b.r > 0 && len(b.buf)-b.r < n {
		copy(b.buf, b.buf[b.r:b.w])
		b.w -= b.r
		b.r = 0
	}
}

// grow moves the unread bytes into a pooled buffer.
func (b *bufReader) grow() {
	if b.pooled != nil {
		return
	}
	p := readBufPool.Get()
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
	if b.raw != nil {
		return b.readDirect(p)
	}
	return b.nc.Read(p)
}

// read reads up to len(p) bytes: buffered bytes first, then, when the
// buffer is empty, straight from the connection into p if p is not small,
// or through the buffer if it is (so that many small reads do not each
// cost a system call).
func (b *bufReader) read(p []byte) (int, error) {
	if b.r == b.w {
		// A read at least as large as the small buffer goes straight into
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
