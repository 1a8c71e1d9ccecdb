package wsframe

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validOnWireRule restates RFC 6455 section 7.4 and the IANA registry
// independently of the implementation.
func validOnWireRule(c int) bool {
	switch {
	case c < 1000:
		return false // not used
	case c == 1004, c == 1005, c == 1006, c == 1015:
		return false // reserved, or API-only
	case c <= 1014:
		return true // registered
	case c < 3000:
		return false // 1016-2999: reserved for the protocol, unassigned
	case c < 5000:
		return true // libraries (3000-3999) and applications (4000-4999)
	}
	return false
}

func TestCloseCodeValidOnWireAll(t *testing.T) {
	for c := 0; c <= 0xFFFF; c++ {
		code := CloseCode(c)
		want := validOnWireRule(c)
		require.Equal(t, want, code.ValidOnWire(), "code %d", c)

		payload := []byte{byte(c >> 8), byte(c), 'o', 'k'}
		got, reason, err := ParseClosePayload(payload)
		if want {
			require.NoError(t, err, "code %d", c)
			require.Equal(t, code, got)
			require.Equal(t, "ok", reason)
		} else {
			require.ErrorIs(t, err, ErrCloseCode, "code %d", c)
			require.Equal(t, code, got)
		}

		enc, err := AppendClosePayload(nil, code, "ok")
		switch {
		case c == 0 || code == CloseNoStatus:
			require.ErrorIs(t, err, ErrReasonWithoutCode, "code %d", c)
		case want:
			require.NoError(t, err, "code %d", c)
			require.Equal(t, payload, enc)
		default:
			require.ErrorIs(t, err, ErrCloseCode, "code %d", c)
			require.Empty(t, enc)
		}
	}
}

func TestCloseCodeString(t *testing.T) {
	tests := map[CloseCode]string{
		CloseNormal:         "1000 (normal closure)",
		CloseProtocolError:  "1002 (protocol error)",
		CloseNoStatus:       "1005 (no status received)",
		CloseTooBig:         "1009 (message too big)",
		CloseBadGateway:     "1014 (bad gateway)",
		CloseTLSHandshake:   "1015 (TLS handshake failure)",
		1004:                "1004",
		4000:                "4000",
		0:                   "0",
		CloseInvalidPayload: "1007 (invalid payload data)",
	}
	for code, want := range tests {
		assert.Equal(t, want, code.String())
	}
}

func TestParseClosePayload(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		code   CloseCode
		reason string
		err    error
	}{
		{"empty", "", CloseNoStatus, "", nil},
		{"one byte", "03", 0, "", ErrClosePayload},
		{"code only", "03E8", CloseNormal, "", nil},
		{"code and reason", "03E9 627965", CloseGoingAway, "bye", nil},
		{"app code", "0FA0 78", 4000, "x", nil},
		{"library code", "0BB8", 3000, "", nil},
		{"4999", "1387", 4999, "", nil},
		{"5000", "1388", 5000, "", ErrCloseCode},
		{"0", "0000", 0, "", ErrCloseCode},
		{"999", "03E7", 999, "", ErrCloseCode},
		{"1004", "03EC", 1004, "", ErrCloseCode},
		{"1005 on wire", "03ED", CloseNoStatus, "", ErrCloseCode},
		{"1006 on wire", "03EE", CloseAbnormal, "", ErrCloseCode},
		{"1015 on wire", "03F7", CloseTLSHandshake, "", ErrCloseCode},
		{"1016", "03F8", 1016, "", ErrCloseCode},
		{"2999", "0BB7", 2999, "", ErrCloseCode},
		{"65535", "FFFF", 65535, "", ErrCloseCode},
		{"utf8 reason", "03E8 CEBA E1BDB9 CF83 CEBC CEB5", CloseNormal, "\u03ba\u1f79\u03c3\u03bc\u03b5", nil},
		{"bad utf8 reason", "03E8 CEBA E1BD", CloseNormal, "", ErrCloseReason},
		{"surrogate reason", "03E8 EDA080", CloseNormal, "", ErrCloseReason},
		{"123-byte reason", "03E8 " + strings.Repeat("61", 123), CloseNormal, strings.Repeat("a", 123), nil},
		{"124-byte reason", "03E8 " + strings.Repeat("61", 124), CloseNormal, "", ErrControlTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClosePayload(wire(t, tt.in))
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.reason, reason)
			if tt.err == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.err)
			}
		})
	}
}

func TestCloseErrorsCodes(t *testing.T) {
	// The close code each rejection asks the connection to send.
	for err, code := range map[*Error]CloseCode{
		ErrClosePayload: CloseProtocolError,
		ErrCloseCode:    CloseProtocolError,
		ErrCloseReason:  CloseInvalidPayload,
	} {
		assert.Equal(t, code, err.Code, err.Reason)
	}
}

func TestAppendClosePayload(t *testing.T) {
	tests := []struct {
		name   string
		code   CloseCode
		reason string
		want   string
		err    error
	}{
		{"no status", CloseNoStatus, "", "", nil},
		{"zero", 0, "", "", nil},
		{"no status with reason", CloseNoStatus, "x", "", ErrReasonWithoutCode},
		{"zero with reason", 0, "x", "", ErrReasonWithoutCode},
		{"normal", CloseNormal, "", "03E8", nil},
		{"normal bye", CloseNormal, "bye", "03E8 627965", nil},
		{"123 bytes", CloseTooBig, strings.Repeat("z", 123), "03F1 " + strings.Repeat("7A", 123), nil},
		{"124 bytes", CloseTooBig, strings.Repeat("z", 124), "", ErrReasonTooLong},
		{"bad utf8", CloseNormal, "\xff", "", ErrCloseReason},
		{"abnormal", CloseAbnormal, "", "", ErrCloseCode},
		{"tls", CloseTLSHandshake, "", "", ErrCloseCode},
		{"5000", 5000, "", "", ErrCloseCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendClosePayload(dst, tt.code, tt.reason)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				assert.Equal(t, "keep", string(got))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, append([]byte("keep"), wire(t, tt.want)...), got)
			// Round trip.
			code, reason, err := ParseClosePayload(got[4:])
			require.NoError(t, err)
			if tt.code == 0 {
				assert.Equal(t, CloseNoStatus, code)
			} else {
				assert.Equal(t, tt.code, code)
			}
			assert.Equal(t, tt.reason, reason)
		})
	}
}

func TestParseClosePayloadZeroAllocs(t *testing.T) {
	p := []byte{0x03, 0xE8}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		_, _, _ = ParseClosePayload(p)
	}))
}

func FuzzClosePayload(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xe8})
	f.Add([]byte("\x03\xe9going away"))
	f.Add([]byte("\x0f\xa0\xed\xa0\x80"))
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClosePayload(p)
		var want error
		switch {
		case len(p) == 0:
		case len(p) == 1:
			want = ErrClosePayload
		case len(p) > MaxControlPayload:
			want = ErrControlTooLong
		case !CloseCode(uint16(p[0])<<8 | uint16(p[1])).ValidOnWire():
			want = ErrCloseCode
		case !utf8.Valid(p[2:]):
			want = ErrCloseReason
		}
		if err != want {
			t.Fatalf("ParseClosePayload(%x) error %v, want %v", p, err, want)
		}
		if err != nil {
			return
		}
		enc, err := AppendClosePayload(nil, code, reason)
		if err != nil || !bytes.Equal(enc, p) {
			t.Fatalf("re-encoded %x (%v), want %x", enc, err, p)
		}
	})
}
