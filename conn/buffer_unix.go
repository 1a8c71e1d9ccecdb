//go:build unix

package conn

import (
	"io"
	"net"
	"os"
	"syscall"
)

// initRaw arranges for TCP and Unix sockets to be waited on without a
// buffer: the goroutine of an idle connection then blocks in the runtime's
// network poller holding no read buffer at all. Other connections (TLS,
// pipes, anything wrapped) are read through their Read method.
func (b *bufReader) initRaw() {
	var sc syscall.Conn
	switch c := b.nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	b.raw = raw
	b.fillFn = b.rawFill
}

// errnoEOF in fillErrno says that the peer closed its side.
const errnoEOF = ^uintptr(0)

// rawRead reads once from the socket through rawFill.
func (b *bufReader) rawRead() error {
	b.fillErrno = 0
	if err := b.raw.Read(b.fillFn); err != nil {
		return err
	}
	switch b.fillErrno {
	case 0:
		return nil
	case errnoEOF:
		return io.EOF
	}
	return os.NewSyscallError("read", syscall.Errno(b.fillErrno))
}

// readDirect reads once from the socket straight into p, with nothing
// buffered: rawFill reads into buf, which is p for the call.
func (b *bufReader) readDirect(p []byte) (int, error) {
	b.buf, b.r, b.w = p, 0, 0
	err := b.rawRead()
	n := b.w
	b.buf, b.w = nil, 0
	return n, err
}

// rawFill is called by syscall.RawConn.Read with the socket, first at once
// and then each time the poller says it has become readable, until it
// returns true. It reads once into the buffer, taking a pooled buffer if it
// has none, and gives that back when the socket had nothing: so the wait
// itself holds no memory. The read costs the one system call that
// net.Conn.Read would make (a non-blocking read that fails with EAGAIN
// before each wait), and a whole small frame arrives with it.
func (b *bufReader) rawFill(fd uintptr) bool {
	if b.buf == nil {
		b.grow()
	}
	for {
		n, err := syscall.Read(int(fd), b.buf[b.w:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			b.release() // only if nothing is buffered
			return false
		case err != nil:
			b.fillErrno = uintptr(syscall.EIO)
			if e, ok := err.(syscall.Errno); ok && e != 0 {
				b.fillErrno = uintptr(e)
			}
		case n == 0:
			b.fillErrno = errnoEOF
		default:
			b.w += n
		}
		return true
	}
}
