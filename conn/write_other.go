//go:build !linux

package conn

import (
	"net"

	"github.com/ws6455/ws6455/wsframe"
)

// vecState is a frame's vectored write: net.Buffers, which writes TCP and
// Unix sockets with one writev.
type vecState struct {
	vec  [2][]byte
	bufs net.Buffers
}

func newFrameVec() *frameVec { return new(frameVec) }

// send writes one frame: h's header and the payload p, or, when h is nil,
// p as an encoded frame. If the write times out after part of the frame
// went out, the rest is queued (see queue).
func (w *writer) send(h *wsframe.Header, p []byte) error {
	v := frameVecPool.Get()
	a, b := p, []byte(nil)
	if h != nil {
		a, b = appendHeader(v.hdr[:0], h), p
	}
	var n int
	var err error
	if w.c.writev && len(b) > 0 {
		v.vec[0], v.vec[1] = a, b
		v.bufs = v.vec[:]
		var m int64
		m, err = v.bufs.WriteTo(w.c.nc)
		n = int(m)
		v.vec[0], v.vec[1], v.bufs = nil, nil, nil // the pool must not keep them alive
	} else {
		n, err = writeTwo(w.c.nc, a, b)
	}
	if err != nil {
		err = w.partial(err, n, a, b)
	}
	frameVecPool.Put(v)
	return err
}

// writeTwo writes a and then b with nc.Write, for connections that cannot
// write both in one call.
func writeTwo(nc net.Conn, a, b []byte) (int, error) {
	n, err := nc.Write(a)
	if err != nil || len(b) == 0 {
		return n, err
	}
	m, err := nc.Write(b)
	return n + m, err
}

// rawNoWait says that a socket can be written without waiting, which
// coalescing needs (coalesce.go): not implemented here, so writes are not
// coalesced.
const rawNoWait = false

// sendPending writes w.pending and returns how much of it went out. (wait
// is for Linux, where it may be false.)
func (w *writer) sendPending(wait bool) (int, error) { return w.c.nc.Write(w.pending) }

// canWritev reports whether send writes a frame in one system call.
func canWritev(b *bufReader) bool {
	switch b.nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}
