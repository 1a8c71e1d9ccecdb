package conn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

// rawPeer is the other end of a connection under test, speaking frames
// byte by byte with no protocol logic of its own, so that tests can send
// anything (including what the protocol forbids) and see exactly what the
// Conn puts on the wire.
type rawPeer struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	client bool // the peer plays the client: it masks what it sends
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	a, b, err := loopbackTCP()
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// loopbackTCP returns a loopback TCP connection's two ends: the one that
// dialled and the one that accepted.
func loopbackTCP() (dialed, accepted net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	b := <-ch
	if b.err != nil {
		a.Close()
		return nil, nil, b.err
	}
	return a, b.c, nil
}

// serverWithPeer returns a server-side Conn and a raw client peer.
func serverWithPeer(t testing.TB, opts *Options) (*Conn, *rawPeer) {
	a, b := tcpPair(t)
	c := New(a, nil, false, "", opts)
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
}

// clientWithPeer returns a client-side Conn and a raw server peer.
func clientWithPeer(t testing.TB, opts *Options) (*Conn, *rawPeer) {
	a, b := tcpPair(t)
	c := New(a, nil, true, "", opts)
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b)}
}

// withPeer returns a Conn of the given role (client when client is true)
// and a raw peer playing the other one.
func withPeer(t testing.TB, client bool, opts *Options) (*Conn, *rawPeer) {
	if client {
		return clientWithPeer(t, opts)
	}
	return serverWithPeer(t, opts)
}

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame encodes a frame as the peer sends it (masked when it is a client).
func (p *rawPeer) frame(fin bool, rsv byte, op wsframe.Opcode, payload []byte) []byte {
	h := wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(payload))}
	if p.client {
		h.Masked, h.Mask = true, testKey
	}
	b := wsframe.AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	if p.client {
		wsframe.Mask(testKey, 0, b[start:])
	}
	return b
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := p.nc.Write(b)
	require.NoError(p.t, err)
}

func (p *rawPeer) sendFrame(fin bool, op wsframe.Opcode, payload []byte) {
	p.t.Helper()
	p.send(p.frame(fin, 0, op, payload))
}

// recvFrame reads one frame and returns its header and unmasked payload.
func (p *rawPeer) recvFrame() (wsframe.Header, []byte) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := wsframe.ReadHeader(p.br)
	require.NoError(p.t, err)
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(p.br, payload)
	require.NoError(p.t, err)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, payload)
	}
	return h, payload
}

// recvRaw reads n bytes exactly as they are on the wire.
func (p *rawPeer) recvRaw(n int) []byte {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	_, err := io.ReadFull(p.br, b)
	require.NoError(p.t, err)
	return b
}

// expectClose reads frames until a close frame and checks its code.
func (p *rawPeer) expectClose(code wsframe.CloseCode) {
	p.t.Helper()
	for {
		h, payload := p.recvFrame()
		if h.Opcode != wsframe.OpClose {
			continue
		}
		require.GreaterOrEqual(p.t, len(payload), 2, "close frame without a code")
		require.Equal(p.t, code, wsframe.CloseCode(binary.BigEndian.Uint16(payload)), "close code on the wire (reason %q)", payload[2:])
		return
	}
}

// expectEOF checks that the Conn closed the TCP connection.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := p.br.ReadByte()
	require.ErrorIs(p.t, err, io.EOF)
}

func closePayload(code wsframe.CloseCode, reason string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(b, reason...)
}

// bufioReaderWith returns a reader over nc that already holds first, as
// net/http's hijacked reader does when the client's first frame came with
// its request.
func bufioReaderWith(nc net.Conn, first []byte) *bufio.Reader {
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(first), nc))
	br.Peek(len(first))
	return br
}

// countingCtx is a context that counts the registrations made on it that
// are still in place: neither stopped nor run. context.AfterFunc, and
// contexts derived from it, go through its AfterFunc method, because Value
// hides the context it wraps from the context package. For the tests that
// check that no registration outlives a read or a Conn.
type countingCtx struct {
	context.Context
	live atomic.Int64
}

// newCountingCtx returns a countingCtx over a cancellable context, ended
// when the test ends.
func newCountingCtx(t testing.TB) *countingCtx {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &countingCtx{Context: ctx}
}

func (x *countingCtx) Value(any) any { return nil }

// registrations returns how many registrations are in place.
func (x *countingCtx) registrations() int64 { return x.live.Load() }

func (x *countingCtx) AfterFunc(f func()) func() bool {
	x.live.Add(1)
	var once sync.Once
	release := func() { once.Do(func() { x.live.Add(-1) }) }
	stop := context.AfterFunc(x.Context, func() { release(); f() })
	return func() bool {
		stopped := stop()
		if stopped {
			release()
		}
		return stopped
	}
}
