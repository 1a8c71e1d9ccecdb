package wsframe

import (
	"errors"
	"strconv"
)

// Error is a protocol violation detected by this package. Code is the close
// code the connection should send before failing (RFC 6455 section 7.4.1)
// and Reason is a short text that is valid UTF-8 and at most 123 bytes, so
// that it fits into a close frame as it is.
//
// The exported sentinel values below are *Error, so both errors.Is (for a
// particular violation) and errors.As (for the close code) work.
type Error struct {
	Code   CloseCode
	Reason string
}

// Error returns a message that names the violation and its close code.
func (e *Error) Error() string {
	return "wsframe: " + e.Reason + " (close code " + strconv.Itoa(int(e.Code)) + ")"
}

var (
	// ErrShortHeader reports that a byte slice ends before the frame header
	// does. It is not a protocol error: ParseHeader returns it together
	// with the number of bytes it needs.
	ErrShortHeader = errors.New("wsframe: short frame header")

	// ErrReservedOpcode reports an opcode that RFC 6455 reserves
	// (0x3-0x7, 0xB-0xF).
	ErrReservedOpcode = &Error{CloseProtocolError, "reserved opcode"}

	// ErrControlTooLong reports a control frame whose payload is longer
	// than MaxControlPayload (125) bytes.
	ErrControlTooLong = &Error{CloseProtocolError, "control frame payload longer than 125 bytes"}

	// ErrControlFragmented reports a control frame without the FIN bit;
	// control frames must not be fragmented.
	ErrControlFragmented = &Error{CloseProtocolError, "fragmented control frame"}

	// ErrLengthOverflow reports a 64-bit payload length with its most
	// significant bit set (or, when encoding, a negative Length).
	ErrLengthOverflow = &Error{CloseProtocolError, "payload length overflows 63 bits"}

	// ErrTooLarge reports a payload longer than the caller's limit. It is
	// returned from the header, before any payload is read or allocated.
	ErrTooLarge = &Error{CloseTooBig, "message too big"}

	// ErrInvalidUTF8 reports text that is not valid UTF-8.
	ErrInvalidUTF8 = &Error{CloseInvalidPayload, "invalid UTF-8 in text"}

	// ErrClosePayload reports a close frame payload of exactly one byte:
	// too long to be empty, too short to hold a status code.
	ErrClosePayload = &Error{CloseProtocolError, "close payload of 1 byte"}

	// ErrCloseCode reports a close code that may not appear in a close
	// frame (see CloseCode.ValidOnWire).
	ErrCloseCode = &Error{CloseProtocolError, "invalid close code"}

	// ErrCloseReason reports a close reason that is not valid UTF-8.
	ErrCloseReason = &Error{CloseInvalidPayload, "close reason is not valid UTF-8"}

	// ErrReasonTooLong reports, when encoding a close payload, a reason
	// longer than MaxCloseReason (123) bytes. It is a caller error, not a
	// protocol error, so it is a plain error.
	ErrReasonTooLong = errors.New("wsframe: close reason longer than 123 bytes")

	// ErrReasonWithoutCode reports, when encoding a close payload, a
	// non-empty reason given without a status code: the wire format has
	// room for a reason only after a code.
	ErrReasonWithoutCode = errors.New("wsframe: close reason without a close code")

	// ErrWriteTooLong reports a Writer.Write that would exceed the payload
	// length announced by Writer.WriteHeader. Nothing of that call is
	// written.
	ErrWriteTooLong = errors.New("wsframe: write exceeds the frame's payload length")

	// ErrFrameIncomplete reports a new frame started on a Writer before
	// the previous frame's payload was written in full.
	ErrFrameIncomplete = errors.New("wsframe: previous frame's payload incomplete")

	// ErrNoFrame reports a Writer.Write with no frame in progress (no
	// WriteHeader, or its payload already complete).
	ErrNoFrame = errors.New("wsframe: write without a frame in progress")
)
