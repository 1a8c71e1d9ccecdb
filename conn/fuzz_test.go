package conn

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// streamConn is a net.Conn that reads a fixed byte stream and swallows
// writes: a peer that sends anything at all and never answers.
type streamConn struct {
	r *bytes.Reader
}

func (s *streamConn) Read(p []byte) (int, error)         { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)        { return len(p), nil }
func (s *streamConn) Close() error                       { return nil }
func (s *streamConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(t time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(t time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzRead feeds arbitrary bytes to a Conn, in each role, with and without
// permessage-deflate, and checks what reads return: never a panic or a
// hang, text is valid UTF-8, no message exceeds the limit, and every error
// maps to a close code the protocol allows for it.
func FuzzRead(f *testing.F) {
	masked := func(op wsframe.Opcode, fin bool, rsv byte, payload []byte) []byte {
		h := wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Masked: true, Mask: testKey, Length: int64(len(payload))}
		b := wsframe.AppendHeader(nil, h)
		start := len(b)
		b = append(b, payload...)
		wsframe.Mask(testKey, 0, b[start:])
		return b
	}
	f.Add(masked(wsframe.OpText, true, 0, []byte("hello")), byte(0))
	f.Add(append(masked(wsframe.OpText, false, 0, []byte("hel")), masked(wsframe.OpContinuation, true, 0, []byte("lo"))...), byte(0))
	f.Add(append(masked(wsframe.OpPing, true, 0, []byte("p")), masked(wsframe.OpClose, true, 0, []byte{3, 232})...), byte(0))
	f.Add(masked(wsframe.OpText, true, wsframe.RSV1, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), byte(1))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, byte(2))
	f.Add(masked(wsframe.OpBinary, true, 0, make([]byte, 300)), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		const limit = 1 << 12
		opts := &Options{ReadLimit: limit, CloseTimeout: time.Millisecond}
		if mode&1 != 0 {
			opts.Deflate = &handshake.DeflateParams{ServerMaxWindowBits: 10}
		}
		c := New(&streamConn{r: bytes.NewReader(data)}, nil, mode&2 != 0, "", opts)
		defer c.CloseNow()
		ctx := context.Background()
		for i := 0; i < 1000; i++ {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				switch code := CloseCode(err); code {
				case wsframe.CloseProtocolError, wsframe.CloseInvalidPayload, wsframe.CloseTooBig, wsframe.CloseAbnormal:
				default:
					var ce CloseError
					if !asCloseError(err, &ce) {
						t.Fatalf("error %v maps to close code %v", err, code)
					}
				}
				return
			}
			if len(msg) > limit {
				t.Fatalf("message of %d bytes over the %d limit", len(msg), limit)
			}
			if typ == MessageText && !utf8Valid(msg) {
				t.Fatalf("invalid UTF-8 text message %q", msg)
			}
		}
		t.Fatal("1000 messages from a short input")
	})
}

func asCloseError(err error, ce *CloseError) bool {
	for err != nil {
		if e, ok := err.(CloseError); ok {
			*ce = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

var _ io.Reader = (*streamConn)(nil)
