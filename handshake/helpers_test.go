package handshake

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The RFC 6455 §1.3 example key and its accept value.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// fakeConn is a net.Conn that reads a fixed request and collects writes. It
// is reusable (reset) so that benchmarks do not allocate per iteration.
type fakeConn struct {
	in  bytes.Reader
	out bytes.Buffer
}

func (c *fakeConn) reset(req []byte)                 { c.in.Reset(req); c.out.Reset() }
func (c *fakeConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

// hijackRecorder is an httptest.ResponseRecorder that can be hijacked: it
// hands out conn and remembers that it did.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	rw       *bufio.ReadWriter
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	return h.conn, h.rw, nil
}

// wrappedWriter is what logging middleware typically looks like: it embeds the
// ResponseWriter (hiding Hijack) and exposes it through Unwrap.
type wrappedWriter struct {
	http.ResponseWriter
	status int
}

func (w *wrappedWriter) WriteHeader(code int)        { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *wrappedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// frame builds a single unfragmented frame by hand (FIN set), masked when key
// is non-nil, so the tests do not depend on package wsframe.
func frame(opcode byte, payload []byte, key []byte) []byte {
	b := []byte{0x80 | opcode}
	maskBit := byte(0)
	if key != nil {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n < 1<<16:
		b = append(b, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if key == nil {
		return append(b, payload...)
	}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readFrame reads one small unfragmented frame by hand and unmasks it.
func readFrame(t *testing.T, r io.Reader) (opcode byte, masked bool, payload []byte) {
	t.Helper()
	opcode, masked, payload, err := readFrameErr(r)
	require.NoError(t, err)
	return opcode, masked, payload
}

// readFrameErr is readFrame for goroutines other than the test's.
func readFrameErr(r io.Reader) (opcode byte, masked bool, payload []byte, err error) {
	var hdr [2]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, false, nil, err
	}
	if hdr[0]&0xF0 != 0x80 {
		return 0, false, nil, fmt.Errorf("want FIN and no RSV bits, got %#x", hdr[0])
	}
	n := int(hdr[1] & 0x7f)
	if n >= 126 {
		return 0, false, nil, fmt.Errorf("test frames are small, got length code %d", n)
	}
	masked = hdr[1]&0x80 != 0
	var key [4]byte
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return 0, false, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, false, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return hdr[0] & 0x0f, masked, payload, nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
