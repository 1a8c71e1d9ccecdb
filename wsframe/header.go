package wsframe

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"strconv"
)

// Header limits.
const (
	// MaxHeaderSize is the longest frame header: 2 fixed bytes, an 8-byte
	// extended length and a 4-byte masking key.
	MaxHeaderSize = 14
	// MaxControlPayload is the largest payload of a control frame.
	MaxControlPayload = 125
)

// The RSV bits as they sit in the first header byte, shifted down by four
// so that they fit Header.Rsv: RSV1 is 0b100. permessage-deflate uses RSV1.
const (
	RSV1 byte = 0x4
	RSV2 byte = 0x2
	RSV3 byte = 0x1
)

// Bits of the first two header bytes.
const (
	bitFin  = 0x80
	bitMask = 0x80
)

// Header is a decoded frame header (RFC 6455 section 5.2):
//
//	 0               1               2               3
//	 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
//
// Header is a plain value: it can be built by hand, copied and compared
// with ==.
type Header struct {
	// Fin marks the last frame of a message (always set on control frames).
	Fin bool
	// Rsv holds the RSV1|RSV2|RSV3 bits (0..7); see the RSV constants.
	Rsv byte
	// Opcode is the frame type.
	Opcode Opcode
	// Masked reports whether the payload is masked with Mask. Frames from
	// a client are masked, frames from a server are not.
	Masked bool
	// Mask is the masking key, meaningful only when Masked is set.
	Mask [4]byte
	// Length is the payload length in bytes, 0 to 1<<63-1.
	Length int64
}

// Size returns the number of bytes AppendHeader produces for h: 2 to 14.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length > 0xFFFF || h.Length < 0:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// AppendHeader appends the wire form of h to dst and returns the extended
// slice. It always uses the shortest length form and does not allocate
// when dst has room for h.Size() more bytes.
//
// Only the low three bits of Rsv and the low four bits of Opcode are
// used. AppendHeader does not judge h (see Check); a negative Length,
// which has no wire form, is encoded as 0 (Writer rejects it instead).
func AppendHeader(dst []byte, h Header) []byte {
	b0 := h.Rsv&7<<4 | byte(h.Opcode)&0xF
	if h.Fin {
		b0 |= bitFin
	}
	var b1 byte
	if h.Masked {
		b1 = bitMask
	}
	length := h.Length
	if length < 0 {
		length = 0
	}
	switch {
	case length <= 125:
		dst = append(dst, b0, b1|byte(length))
	case length <= 0xFFFF:
		dst = append(dst, b0, b1|126, byte(length>>8), byte(length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[0], h.Mask[1], h.Mask[2], h.Mask[3])
	}
	return dst
}

// ParseHeader decodes the frame header at the start of b and returns it
// together with its size n in bytes; the payload starts at b[n:].
//
// When b ends before the header does, it returns ErrShortHeader and n is
// the total number of bytes it needs to make progress (always more than
// len(b)), so a caller with a buffered reader can Peek exactly that many
// and call again. A 64-bit length with its top bit set is
// ErrLengthOverflow (n is then the header size).
//
// ParseHeader judges only the encoding, not the protocol rules: use
// Check for opcodes, control frames and size limits, and judge the RSV
// bits against the negotiated extensions. A length written in a longer
// form than needed (126 in 16 bits, say) is accepted: RFC 6455 asks
// senders for the minimal form but does not ask receivers to reject
// others, and some peers send them.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return Header{}, 2, ErrShortHeader
	}
	b0, b1 := b[0], b[1]
	n = 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	if len(b) < n {
		return Header{}, n, ErrShortHeader
	}
	h = Header{
		Fin:    b0&bitFin != 0,
		Rsv:    b0 >> 4 & 7,
		Opcode: Opcode(b0 & 0xF),
		Masked: b1&bitMask != 0,
	}
	p := 2
	switch l := b1 & 0x7F; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		p = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, n, ErrLengthOverflow
		}
		h.Length = int64(u)
		p = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], b[p:p+4])
	}
	return h, n, nil
}

// ReadHeader reads one frame header from r. It reads exactly the bytes of
// the header and none of the payload, whatever r is, so the payload can be
// read from r next. It returns io.EOF if r ends before the first byte,
// io.ErrUnexpectedEOF if it ends inside the header, and ErrLengthOverflow
// as ParseHeader does. Like ParseHeader it does not apply Check.
func ReadHeader(r io.Reader) (Header, error) {
	var buf [MaxHeaderSize]byte
	return readHeader(r, &buf)
}

// readHeader is ReadHeader with a caller-provided buffer, so that Reader
// can read headers without allocating.
func readHeader(r io.Reader, buf *[MaxHeaderSize]byte) (Header, error) {
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return Header{}, err
	}
	h, n, err := ParseHeader(buf[:2])
	if err == ErrShortHeader {
		if _, err := io.ReadFull(r, buf[2:n]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, err
		}
		h, _, err = ParseHeader(buf[:n])
	}
	return h, err
}

// Check applies the frame rules of RFC 6455 that hold on every connection,
// whatever its state or extensions, and returns the first violation:
//
//   - a reserved opcode: ErrReservedOpcode (1002);
//   - a negative Length: ErrLengthOverflow (1002);
//   - a control frame longer than 125 bytes: ErrControlTooLong (1002);
//   - a control frame without FIN: ErrControlFragmented (1002);
//   - when limit > 0, a Length above limit: ErrTooLarge (1009).
//
// The RSV bits are not judged: whether they are allowed depends on the
// negotiated extensions. Neither is masking, which depends on the side.
func (h Header) Check(limit int64) error {
	if h.Opcode.IsReserved() {
		return ErrReservedOpcode
	}
	if h.Length < 0 {
		return ErrLengthOverflow
	}
	if h.Opcode.IsControl() {
		if h.Length > MaxControlPayload {
			return ErrControlTooLong
		}
		if !h.Fin {
			return ErrControlFragmented
		}
	}
	if limit > 0 && h.Length > limit {
		return ErrTooLarge
	}
	return nil
}

// String describes h for logs and frame traces, for example
// "text fin rsv1 masked(37fa213d) len=5".
func (h Header) String() string {
	b := make([]byte, 0, 64)
	b = append(b, h.Opcode.String()...)
	if h.Fin {
		b = append(b, " fin"...)
	}
	for i, bit := range [3]byte{RSV1, RSV2, RSV3} {
		if h.Rsv&bit != 0 {
			b = append(b, " rsv"...)
			b = strconv.AppendInt(b, int64(i+1), 10)
		}
	}
	if h.Masked {
		b = append(b, " masked("...)
		b = hex.AppendEncode(b, h.Mask[:])
		b = append(b, ')')
	}
	b = append(b, " len="...)
	b = strconv.AppendInt(b, h.Length, 10)
	return string(b)
}
