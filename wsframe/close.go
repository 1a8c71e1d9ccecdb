package wsframe

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// CloseCode is the status code carried in the first two bytes of a close
// frame payload (RFC 6455 section 7.4).
type CloseCode uint16

// The close codes registered with IANA. Codes 3000-3999 are for libraries
// and frameworks, 4000-4999 for private use by applications.
const (
	// CloseNormal: the purpose of the connection was fulfilled.
	CloseNormal CloseCode = 1000
	// CloseGoingAway: a server going down or a browser leaving the page.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError: the peer broke the protocol.
	CloseProtocolError CloseCode = 1002
	// CloseUnsupportedData: a message type the endpoint cannot accept.
	CloseUnsupportedData CloseCode = 1003
	// CloseNoStatus is never sent: it stands for "the close frame carried
	// no code".
	CloseNoStatus CloseCode = 1005
	// CloseAbnormal is never sent: it stands for "the connection dropped
	// without a close frame".
	CloseAbnormal CloseCode = 1006
	// CloseInvalidPayload: data inconsistent with the message type, such
	// as text that is not UTF-8.
	CloseInvalidPayload CloseCode = 1007
	// ClosePolicyViolation: a message that violates the endpoint's policy.
	ClosePolicyViolation CloseCode = 1008
	// CloseTooBig: a message too big to process.
	CloseTooBig CloseCode = 1009
	// CloseMandatoryExtension: the client needed an extension the server
	// did not negotiate.
	CloseMandatoryExtension CloseCode = 1010
	// CloseInternalError: the server hit an unexpected condition.
	CloseInternalError CloseCode = 1011
	// CloseServiceRestart: the server is restarting.
	CloseServiceRestart CloseCode = 1012
	// CloseTryAgainLater: the server is overloaded, try again later.
	CloseTryAgainLater CloseCode = 1013
	// CloseBadGateway: a gateway got an invalid response upstream.
	CloseBadGateway CloseCode = 1014
	// CloseTLSHandshake is never sent: it stands for "the TLS handshake
	// failed".
	CloseTLSHandshake CloseCode = 1015
)

// MaxCloseReason is the longest close reason in bytes: a control frame
// payload holds 125 bytes, two of which are the code.
const MaxCloseReason = MaxControlPayload - 2

var closeCodeNames = [...]string{
	CloseNormal - 1000:             "normal closure",
	CloseGoingAway - 1000:          "going away",
	CloseProtocolError - 1000:      "protocol error",
	CloseUnsupportedData - 1000:    "unsupported data",
	CloseNoStatus - 1000:           "no status received",
	CloseAbnormal - 1000:           "abnormal closure",
	CloseInvalidPayload - 1000:     "invalid payload data",
	ClosePolicyViolation - 1000:    "policy violation",
	CloseTooBig - 1000:             "message too big",
	CloseMandatoryExtension - 1000: "mandatory extension",
	CloseInternalError - 1000:      "internal error",
	CloseServiceRestart - 1000:     "service restart",
	CloseTryAgainLater - 1000:      "try again later",
	CloseBadGateway - 1000:         "bad gateway",
	CloseTLSHandshake - 1000:       "TLS handshake failure",
}

// String returns the code and its registered meaning, such as
// "1000 (normal closure)", or just the number for other codes.
func (c CloseCode) String() string {
	n := strconv.Itoa(int(c))
	if c >= 1000 && int(c-1000) < len(closeCodeNames) && closeCodeNames[c-1000] != "" {
		return n + " (" + closeCodeNames[c-1000] + ")"
	}
	return n
}

// ValidOnWire reports whether c may appear in a close frame, sent or
// received: 1000-1003, 1007-1014 and 3000-4999. The codes 1005, 1006 and
// 1015 exist only in APIs; 1004 and everything else below 3000 is
// unassigned, and 5000 and up is outside the defined ranges. A received
// frame with any other code fails the connection with CloseProtocolError.
func (c CloseCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// AppendClosePayload appends the payload of a close frame, a big-endian
// code followed by reason, to dst and returns the extended slice.
//
// A code of 0 or CloseNoStatus appends nothing, since an empty payload is
// how "no status" is expressed on the wire; reason must then be empty
// (ErrReasonWithoutCode). Otherwise the code must be ValidOnWire
// (ErrCloseCode), and reason at most MaxCloseReason bytes
// (ErrReasonTooLong) of valid UTF-8 (ErrCloseReason). On error dst is
// returned unchanged.
func AppendClosePayload(dst []byte, code CloseCode, reason string) ([]byte, error) {
	if code == 0 || code == CloseNoStatus {
		if reason != "" {
			return dst, ErrReasonWithoutCode
		}
		return dst, nil
	}
	if !code.ValidOnWire() {
		return dst, ErrCloseCode
	}
	if len(reason) > MaxCloseReason {
		return dst, ErrReasonTooLong
	}
	if !utf8.ValidString(reason) {
		return dst, ErrCloseReason
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...), nil
}

// ParseClosePayload decodes the payload of a received close frame.
//
// An empty payload yields (CloseNoStatus, "", nil). A payload of one byte
// is ErrClosePayload; a code that is not ValidOnWire is ErrCloseCode; a
// reason that is not valid UTF-8 is ErrCloseReason; a payload longer than
// MaxControlPayload is ErrControlTooLong. On error the code read so far
// is still returned (or 0), so it can be logged. It allocates only for a
// non-empty reason string.
func ParseClosePayload(p []byte) (code CloseCode, reason string, err error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, "", nil
	case 1:
		return 0, "", ErrClosePayload
	}
	code = CloseCode(binary.BigEndian.Uint16(p))
	if len(p) > MaxControlPayload {
		return code, "", ErrControlTooLong
	}
	if !code.ValidOnWire() {
		return code, "", ErrCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return code, "", ErrCloseReason
	}
	return code, string(p[2:]), nil
}
