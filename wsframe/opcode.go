package wsframe

import "strconv"

// Opcode is the 4-bit frame type from the low nibble of the first header
// byte (RFC 6455 section 5.2). It is a byte so that it can be compared and
// switched on cheaply; values above 0xF never come off the wire.
type Opcode byte

// The opcodes defined by RFC 6455. The others are reserved for future
// extensions and must be rejected unless an extension defines them.
const (
	// OpContinuation carries the next fragment of a fragmented message.
	OpContinuation Opcode = 0x0
	// OpText starts a message whose payload must be valid UTF-8.
	OpText Opcode = 0x1
	// OpBinary starts a message with arbitrary payload.
	OpBinary Opcode = 0x2
	// OpClose starts or answers the closing handshake.
	OpClose Opcode = 0x8
	// OpPing asks the peer to answer with a pong carrying the same payload.
	OpPing Opcode = 0x9
	// OpPong answers a ping (or serves as an unsolicited heartbeat).
	OpPong Opcode = 0xA
)

// IsControl reports whether o is a control opcode (0x8 to 0xF). Control
// frames may arrive between the fragments of a message, must be final and
// carry at most MaxControlPayload bytes.
func (o Opcode) IsControl() bool { return o >= 0x8 && o <= 0xF }

// IsData reports whether o is a data opcode (0x0 to 0x7), that is, one that
// belongs to a message rather than to the connection.
func (o Opcode) IsData() bool { return o <= 0x7 }

// IsReserved reports whether o has no meaning in RFC 6455 (0x3 to 0x7 and
// 0xB to 0xF). A peer that sends one must be failed with
// CloseProtocolError. Values above 0xF are reported as reserved too.
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String returns the lower-case name of o ("continuation", "text",
// "binary", "close", "ping", "pong"), or "reserved(0xN)" for any other
// value, for logs and frame traces.
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved(0x" + strconv.FormatUint(uint64(o), 16) + ")"
}
