package conn

import (
	"os"
	"syscall"
	"unsafe"

	"github.com/ws6455/ws6455/wsframe"
)

// vecState is a frame's vectored write in progress, on Linux: TCP and Unix
// sockets are written through syscall.RawConn with a writev of header and
// payload (uncopied), which keeps the write both one system call and
// shallow on the stack (see writeFrame).
type vecState struct {
	iov  [2]syscall.Iovec
	a, b []byte // what is left to write
	n    int    // bytes written so far
	err  error  // the failed system call's error
	// noWait makes rawWrite stop when the socket cannot take more now,
	// rather than wait for it (n says how much went out).
	noWait bool
	fn     func(fd uintptr) bool
}

func newFrameVec() *frameVec {
	v := new(frameVec)
	v.fn = v.rawWrite // made once per pooled frameVec, not per write
	return v
}

// send writes one frame on a socket (c.writev): h's header and the
// payload p, or, when h is nil, p as an encoded frame. If the write times
// out after part of the frame went out, the rest is queued (see queue).
func (w *writer) send(h *wsframe.Header, p []byte) error {
	v := frameVecPool.Get()
	if h != nil {
		v.a, v.b = appendHeader(v.hdr[:0], h), p
	} else {
		v.a = p
	}
	err := w.c.rd.buf.raw.Write(v.fn)
	if err == nil {
		err = v.err
	}
	if err != nil {
		err = w.unsent(v, err)
	}
	// The pool must not keep the caller's memory alive.
	v.a, v.b, v.n, v.err = nil, nil, 0, nil
	v.iov[0].Base, v.iov[1].Base = nil, nil
	frameVecPool.Put(v)
	return err
}

// unsent handles a frame whose write failed: v.a and v.b are what is left
// of it. If it timed out after part of the frame went out, the rest is
// queued (see queue). (Not inlined, to keep send's frame small.)
//
//go:noinline
func (w *writer) unsent(v *frameVec, err error) error {
	if v.n == 0 {
		return err // nothing of the frame went out
	}
	return w.queue(err, v.a, v.b, wsframe.Header{}, 0)
}

// rawWrite is called by syscall.RawConn.Write with the socket until it
// returns true: it writes what is left, and returns false when the socket
// cannot take more now (the poller then waits for it, or for the deadline).
func (v *frameVec) rawWrite(fd uintptr) bool {
	for len(v.a)+len(v.b) > 0 {
		var n int
		var err error
		switch {
		case len(v.b) == 0:
			n, err = syscall.Write(int(fd), v.a)
		case len(v.a) == 0:
			n, err = syscall.Write(int(fd), v.b)
		default:
			n, err = v.writev(fd)
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return v.noWait
		case err != nil:
			v.err = os.NewSyscallError("write", err)
			return true
		}
		v.n += n
		if n < len(v.a) {
			v.a = v.a[n:]
			continue
		}
		n -= len(v.a)
		v.a, v.b = nil, v.b[n:]
	}
	return true
}

// writev writes v.a and v.b, both not empty, with one system call.
func (v *frameVec) writev(fd uintptr) (int, error) {
	v.iov[0].Base = &v.a[0]
	v.iov[0].SetLen(len(v.a))
	v.iov[1].Base = &v.b[0]
	v.iov[1].SetLen(len(v.b))
	n, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), 2)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawNoWait says that a socket can be written without waiting (see
// sendPending), which coalescing needs (coalesce.go).
const rawNoWait = true

// sendPending writes w.pending and returns how much of it went out. Unless
// wait, it writes only what the socket takes at once (a socket written
// through send; others are written with Write, which waits).
func (w *writer) sendPending(wait bool) (int, error) {
	if !w.c.writev {
		return w.c.nc.Write(w.pending)
	}
	v := frameVecPool.Get()
	v.a, v.noWait = w.pending, !wait
	err := w.c.rd.buf.raw.Write(v.fn)
	if err == nil {
		err = v.err
	}
	n := v.n
	v.a, v.b, v.n, v.err, v.noWait = nil, nil, 0, nil, false
	frameVecPool.Put(v)
	return n, err
}

// canWritev reports whether send writes a frame in one system call.
func canWritev(b *bufReader) bool { return b.raw != nil }
