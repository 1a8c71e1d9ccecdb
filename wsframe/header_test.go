package wsframe

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wire builds bytes from a readable notation shared by the header, reader
// and writer tests. Tokens are separated by spaces. A token containing '|'
// is one byte written as bit fields, e.g. "1|000|0001" (FIN, RSV1-3,
// opcode) or "1|0000101" (MASK, 7-bit length); any other token is hex,
// e.g. "0100" or "48656c6c6f".
func wire(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for _, tok := range strings.Fields(s) {
		if strings.Contains(tok, "|") {
			bitsStr := strings.ReplaceAll(tok, "|", "")
			require.Len(t, bitsStr, 8, "bit token %q", tok)
			var b byte
			for _, c := range bitsStr {
				require.Contains(t, "01", string(c), "bit token %q", tok)
				b = b<<1 | byte(c-'0')
			}
			out = append(out, b)
			continue
		}
		b, err := hex.DecodeString(tok)
		require.NoError(t, err, "hex token %q", tok)
		out = append(out, b...)
	}
	return out
}

// frameVector is one frame on the wire with its decoded header and
// unmasked payload. Vectors with a large Length carry no payload (the
// header tests use them alone).
type frameVector struct {
	name    string
	header  string // wire notation of the header
	h       Header
	minimal bool   // AppendHeader(h) must give exactly header
	payload string // unmasked payload (for the reader/writer tests); "" if none
	masked  string // wire notation of the payload as sent, when masked
}

var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

var frameVectors = []frameVector{
	// RFC 6455 section 5.7 examples.
	{name: "rfc unmasked text Hello", header: "1|000|0001 0|0000101",
		h: Header{Fin: true, Opcode: OpText, Length: 5}, minimal: true, payload: "Hello"},
	{name: "rfc masked text Hello", header: "1|000|0001 1|0000101 37fa213d",
		h: Header{Fin: true, Opcode: OpText, Masked: true, Mask: rfcKey, Length: 5}, minimal: true,
		payload: "Hello", masked: "7f9f4d5158"},
	{name: "rfc first fragment Hel", header: "0|000|0001 0|0000011",
		h: Header{Opcode: OpText, Length: 3}, minimal: true, payload: "Hel"},
	{name: "rfc last fragment lo", header: "1|000|0000 0|0000010",
		h: Header{Fin: true, Opcode: OpContinuation, Length: 2}, minimal: true, payload: "lo"},
	{name: "rfc unmasked ping", header: "1|000|1001 0|0000101",
		h: Header{Fin: true, Opcode: OpPing, Length: 5}, minimal: true, payload: "Hello"},
	{name: "rfc masked pong", header: "1|000|1010 1|0000101 37fa213d",
		h: Header{Fin: true, Opcode: OpPong, Masked: true, Mask: rfcKey, Length: 5}, minimal: true,
		payload: "Hello", masked: "7f9f4d5158"},
	{name: "rfc 256 bytes binary", header: "82 7E 0100",
		h: Header{Fin: true, Opcode: OpBinary, Length: 256}, minimal: true},
	{name: "rfc 64KiB binary", header: "82 7F 0000000000010000",
		h: Header{Fin: true, Opcode: OpBinary, Length: 65536}, minimal: true},

	// Every length form at its boundaries.
	{name: "len 0", header: "1|000|0010 0|0000000",
		h: Header{Fin: true, Opcode: OpBinary}, minimal: true},
	{name: "len 1", header: "1|000|0010 0|0000001",
		h: Header{Fin: true, Opcode: OpBinary, Length: 1}, minimal: true, payload: "x"},
	{name: "len 125 (7-bit max)", header: "1|000|0010 0|1111101",
		h: Header{Fin: true, Opcode: OpBinary, Length: 125}, minimal: true, payload: strings.Repeat("a", 125)},
	{name: "len 126 (16-bit min)", header: "1|000|0010 0|1111110 007E",
		h: Header{Fin: true, Opcode: OpBinary, Length: 126}, minimal: true, payload: strings.Repeat("b", 126)},
	{name: "len 65535 (16-bit max)", header: "1|000|0010 0|1111110 FFFF",
		h: Header{Fin: true, Opcode: OpBinary, Length: 65535}, minimal: true},
	{name: "len 65536 (64-bit min)", header: "1|000|0010 0|1111111 0000000000010000",
		h: Header{Fin: true, Opcode: OpBinary, Length: 65536}, minimal: true},
	{name: "len 2^32", header: "1|000|0010 0|1111111 0000000100000000",
		h: Header{Fin: true, Opcode: OpBinary, Length: 1 << 32}, minimal: true},
	{name: "len 2^63-1 (64-bit max)", header: "1|000|0010 0|1111111 7FFFFFFFFFFFFFFF",
		h: Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}, minimal: true},
	{name: "masked len 126", header: "1|000|0010 1|1111110 007E 01020304",
		h: Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 126}, minimal: true},
	{name: "masked len 65536", header: "1|000|0010 1|1111111 0000000000010000 A1B2C3D4",
		h: Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: [4]byte{0xA1, 0xB2, 0xC3, 0xD4}, Length: 65536}, minimal: true},
	{name: "masked len 0", header: "1|000|1001 1|0000000 DEADBEEF",
		h: Header{Fin: true, Opcode: OpPing, Masked: true, Mask: [4]byte{0xDE, 0xAD, 0xBE, 0xEF}}, minimal: true},

	// RSV bits are decoded, not judged.
	{name: "rsv1", header: "1|100|0001 0|0000010",
		h: Header{Fin: true, Rsv: RSV1, Opcode: OpText, Length: 2}, minimal: true, payload: "hi"},
	{name: "rsv2", header: "1|010|0001 0|0000000",
		h: Header{Fin: true, Rsv: RSV2, Opcode: OpText}, minimal: true},
	{name: "rsv3", header: "1|001|0001 0|0000000",
		h: Header{Fin: true, Rsv: RSV3, Opcode: OpText}, minimal: true},
	{name: "rsv all, no fin", header: "0|111|0010 0|0000000",
		h: Header{Rsv: RSV1 | RSV2 | RSV3, Opcode: OpBinary}, minimal: true},

	// Reserved opcodes are decoded too (Check rejects them).
	{name: "reserved opcode 3", header: "1|000|0011 0|0000000",
		h: Header{Fin: true, Opcode: 3}, minimal: true},
	{name: "reserved opcode F", header: "1|000|1111 0|0000000",
		h: Header{Fin: true, Opcode: 0xF}, minimal: true},
	{name: "close with code 1000", header: "1|000|1000 0|0000010",
		h: Header{Fin: true, Opcode: OpClose, Length: 2}, minimal: true, payload: "\x03\xe8"},

	// Non-minimal length encodings: accepted, but AppendHeader re-encodes
	// them in the short form.
	{name: "non-minimal 16-bit len 5", header: "1|000|0001 0|1111110 0005",
		h: Header{Fin: true, Opcode: OpText, Length: 5}, payload: "Hello"},
	{name: "non-minimal 64-bit len 0", header: "1|000|0010 0|1111111 0000000000000000",
		h: Header{Fin: true, Opcode: OpBinary}},
	{name: "non-minimal 64-bit len 300", header: "1|000|0010 1|1111111 000000000000012C 00000000",
		h: Header{Fin: true, Opcode: OpBinary, Masked: true, Length: 300}},
}

func TestParseHeaderVectors(t *testing.T) {
	for _, v := range frameVectors {
		t.Run(v.name, func(t *testing.T) {
			b := wire(t, v.header)
			// Trailing bytes belong to the payload and are not consumed.
			h, n, err := ParseHeader(append(b, 0xAA, 0xBB))
			require.NoError(t, err)
			assert.Equal(t, v.h, h)
			assert.Equal(t, len(b), n)
			if v.minimal {
				assert.Equal(t, len(b), h.Size())
			}
		})
	}
}

func TestAppendHeaderVectors(t *testing.T) {
	for _, v := range frameVectors {
		t.Run(v.name, func(t *testing.T) {
			got := AppendHeader(nil, v.h)
			assert.Equal(t, v.h.Size(), len(got))
			if v.minimal {
				assert.Equal(t, wire(t, v.header), got)
			}
			// Always decodes back to the same header.
			h, n, err := ParseHeader(got)
			require.NoError(t, err)
			assert.Equal(t, len(got), n)
			assert.Equal(t, v.h, h)
			// Appends after existing content.
			prefix := []byte("prefix")
			assert.Equal(t, append([]byte("prefix"), got...), AppendHeader(prefix, v.h))
		})
	}
}

func TestAppendHeaderMasksOutOfRangeFields(t *testing.T) {
	// Only the low bits of Rsv and Opcode reach the wire; a negative
	// Length is written as 0.
	got := AppendHeader(nil, Header{Fin: true, Rsv: 0xFF, Opcode: 0xF1, Length: -5})
	assert.Equal(t, wire(t, "1|111|0001 0|0000000"), got)
}

func TestParseHeaderShort(t *testing.T) {
	for _, v := range frameVectors {
		t.Run(v.name, func(t *testing.T) {
			b := wire(t, v.header)
			// Every proper prefix is short; n says how many bytes to get
			// next, and following n reaches the full header in at most
			// two more steps.
			for i := 0; i < len(b); i++ {
				_, n, err := ParseHeader(b[:i])
				require.ErrorIs(t, err, ErrShortHeader, "prefix %d", i)
				require.Greater(t, n, i, "prefix %d", i)
				require.LessOrEqual(t, n, len(b), "prefix %d", i)
			}
			steps, have := 0, 0
			for {
				_, n, err := ParseHeader(b[:have])
				if err == nil {
					assert.Equal(t, len(b), n)
					break
				}
				require.ErrorIs(t, err, ErrShortHeader)
				have = n
				steps++
				require.LessOrEqual(t, steps, 2)
			}
		})
	}
}

func TestParseHeaderShortNeeds(t *testing.T) {
	tests := []struct {
		in   string
		need int
	}{
		{"", 2},
		{"81", 2},
		{"81 05", 0},
		{"81 85", 6},
		{"81 85 000000", 6},
		{"81 7E", 4},
		{"81 7E 00", 4},
		{"81 FE", 8},
		{"81 7F", 10},
		{"81 FF", 14},
		{"81 FF 0000000000000000 000000", 14},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, n, err := ParseHeader(wire(t, tt.in))
			if tt.need == 0 {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrShortHeader)
			assert.Equal(t, tt.need, n)
		})
	}
}

func TestParseHeaderLengthOverflow(t *testing.T) {
	for _, in := range []string{
		"82 7F 8000000000000000",
		"82 7F FFFFFFFFFFFFFFFF",
		"82 FF 8000000000000001 01020304",
	} {
		b := wire(t, in)
		_, n, err := ParseHeader(b)
		assert.ErrorIs(t, err, ErrLengthOverflow, in)
		assert.Equal(t, len(b), n, in)
		_, err = ReadHeader(bytes.NewReader(b))
		assert.ErrorIs(t, err, ErrLengthOverflow, in)
		var perr *Error
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, CloseProtocolError, perr.Code)
	}
}

func TestReadHeaderVectors(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, v := range frameVectors {
		for rname, wrap := range readers {
			t.Run(v.name+"/"+rname, func(t *testing.T) {
				b := wire(t, v.header)
				src := bytes.NewReader(append(b, "rest"...))
				h, err := ReadHeader(wrap(src))
				require.NoError(t, err)
				assert.Equal(t, v.h, h)
				// Not one byte past the header was read.
				rest, _ := io.ReadAll(src)
				assert.Equal(t, "rest", string(rest))
			})
		}
	}
}

func TestReadHeaderTruncated(t *testing.T) {
	_, err := ReadHeader(bytes.NewReader(nil))
	assert.ErrorIs(t, err, io.EOF)
	for _, v := range frameVectors {
		b := wire(t, v.header)
		for i := 1; i < len(b); i++ {
			_, err := ReadHeader(bytes.NewReader(b[:i]))
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s: prefix %d", v.name, i)
		}
	}
	boom := iotest.ErrReader(io.ErrClosedPipe)
	_, err = ReadHeader(boom)
	assert.ErrorIs(t, err, io.ErrClosedPipe)
}

func TestHeaderCheck(t *testing.T) {
	tests := []struct {
		name  string
		h     Header
		limit int64
		want  error
		code  CloseCode
	}{
		{"text ok", Header{Fin: true, Opcode: OpText, Length: 10}, 0, nil, 0},
		{"fragment ok", Header{Opcode: OpText, Length: 10}, 0, nil, 0},
		{"continuation ok", Header{Opcode: OpContinuation, Length: 10}, 0, nil, 0},
		{"rsv not judged", Header{Fin: true, Rsv: 7, Opcode: OpBinary}, 0, nil, 0},
		{"mask not judged", Header{Fin: true, Opcode: OpBinary, Masked: true}, 0, nil, 0},
		{"huge without limit", Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}, 0, nil, 0},
		{"at limit", Header{Fin: true, Opcode: OpBinary, Length: 100}, 100, nil, 0},
		{"over limit", Header{Fin: true, Opcode: OpBinary, Length: 101}, 100, ErrTooLarge, CloseTooBig},
		{"negative limit means none", Header{Fin: true, Opcode: OpBinary, Length: 101}, -1, nil, 0},
		{"continuation over limit", Header{Opcode: OpContinuation, Length: 1 << 40}, 1 << 20, ErrTooLarge, CloseTooBig},
		{"ping 125", Header{Fin: true, Opcode: OpPing, Length: 125}, 0, nil, 0},
		{"ping 126", Header{Fin: true, Opcode: OpPing, Length: 126}, 0, ErrControlTooLong, CloseProtocolError},
		{"close 126", Header{Fin: true, Opcode: OpClose, Length: 126}, 0, ErrControlTooLong, CloseProtocolError},
		{"pong huge", Header{Fin: true, Opcode: OpPong, Length: 1 << 40}, 0, ErrControlTooLong, CloseProtocolError},
		{"ping not final", Header{Opcode: OpPing}, 0, ErrControlFragmented, CloseProtocolError},
		{"close not final", Header{Opcode: OpClose, Length: 2}, 0, ErrControlFragmented, CloseProtocolError},
		{"control over small limit", Header{Fin: true, Opcode: OpPing, Length: 50}, 10, ErrTooLarge, CloseTooBig},
		{"negative length", Header{Fin: true, Opcode: OpBinary, Length: -1}, 0, ErrLengthOverflow, CloseProtocolError},
		{"reserved before length", Header{Opcode: 0xB, Length: 1000}, 0, ErrReservedOpcode, CloseProtocolError},
	}
	for op := Opcode(3); op <= 0xF; op++ {
		if op.IsReserved() {
			tests = append(tests, struct {
				name  string
				h     Header
				limit int64
				want  error
				code  CloseCode
			}{"reserved " + op.String(), Header{Fin: true, Opcode: op}, 0, ErrReservedOpcode, CloseProtocolError})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Check(tt.limit)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			var perr *Error
			require.ErrorAs(t, err, &perr)
			assert.Equal(t, tt.code, perr.Code)
		})
	}
}

func TestCheckOnWireRejections(t *testing.T) {
	// The rejections as they arrive: bytes in, close code out.
	tests := []struct {
		wire string
		want error
	}{
		{"1|000|0011 0|0000000", ErrReservedOpcode},
		{"1|000|0111 0|0000000", ErrReservedOpcode},
		{"1|000|1011 0|0000000", ErrReservedOpcode},
		{"1|000|1111 0|0000000", ErrReservedOpcode},
		{"1|000|1001 0|1111110 007E", ErrControlTooLong},
		{"1|000|1000 0|1111111 0000000000000200", ErrControlTooLong},
		{"0|000|1001 0|0000000", ErrControlFragmented},
		{"0|000|1010 0|0000001", ErrControlFragmented},
		{"1|000|0010 0|1111110 0401", ErrTooLarge}, // 1025 > 1024
	}
	for _, tt := range tests {
		h, _, err := ParseHeader(wire(t, tt.wire))
		require.NoError(t, err, tt.wire)
		assert.ErrorIs(t, h.Check(1024), tt.want, tt.wire)
	}
}

func TestErrorMessages(t *testing.T) {
	errs := []*Error{ErrReservedOpcode, ErrControlTooLong, ErrControlFragmented, ErrLengthOverflow,
		ErrTooLarge, ErrInvalidUTF8, ErrClosePayload, ErrCloseCode, ErrCloseReason}
	for _, e := range errs {
		assert.LessOrEqual(t, len(e.Reason), MaxCloseReason)
		assert.True(t, e.Code.ValidOnWire(), e.Reason)
		assert.Contains(t, e.Error(), e.Reason)
		// The reason fits a close frame as it is.
		_, err := AppendClosePayload(nil, e.Code, e.Reason)
		assert.NoError(t, err)
	}
	assert.Equal(t, "wsframe: reserved opcode (close code 1002)", ErrReservedOpcode.Error())
}

func TestHeaderZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, MaxHeaderSize)
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: rfcKey, Length: 1 << 20}
	var sink Header
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendHeader(buf[:0], h)
		sink, _, _ = ParseHeader(b)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, h, sink)
}

func FuzzParseHeader(f *testing.F) {
	for _, v := range frameVectors {
		f.Add(wire(f, v.header))
	}
	f.Add([]byte{})
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseHeader(data)
		if errors.Is(err, ErrShortHeader) {
			if n <= len(data) || n > MaxHeaderSize {
				t.Fatalf("short header: need %d with %d bytes", n, len(data))
			}
			// ReadHeader agrees that the stream ends inside the header.
			if _, err := ReadHeader(bytes.NewReader(data)); err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("ReadHeader on short input: %v", err)
			}
			return
		}
		if n < 2 || n > len(data) || n > MaxHeaderSize {
			t.Fatalf("n = %d for %d bytes", n, len(data))
		}
		src := bytes.NewReader(data)
		rh, rerr := ReadHeader(src)
		if !errors.Is(rerr, err) && rerr != err {
			t.Fatalf("ReadHeader error %v, ParseHeader error %v", rerr, err)
		}
		if read := len(data) - src.Len(); read != n {
			t.Fatalf("ReadHeader read %d bytes, header is %d", read, n)
		}
		if err != nil {
			if !errors.Is(err, ErrLengthOverflow) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if rh != h {
			t.Fatalf("ReadHeader %+v, ParseHeader %+v", rh, h)
		}
		_ = h.Check(1 << 20)
		enc := AppendHeader(nil, h)
		if len(enc) != h.Size() || len(enc) > n {
			t.Fatalf("re-encoded in %d bytes (Size %d), parsed from %d", len(enc), h.Size(), n)
		}
		h2, n2, err := ParseHeader(enc)
		if err != nil || h2 != h || n2 != len(enc) {
			t.Fatalf("round trip: %+v %d %v, want %+v", h2, n2, err, h)
		}
		// A minimal encoding is reproduced byte for byte.
		if len(enc) == n && !bytes.Equal(enc, data[:n]) {
			t.Fatalf("encode(decode(%x)) = %x", data[:n], enc)
		}
		// Reading the whole input as a frame stream never panics or loops,
		// and the copying and the peeking paths of Reader agree.
		var results [2][]Header
		for k, src := range []io.Reader{bytes.NewReader(data), bufio.NewReaderSize(bytes.NewReader(data), 16)} {
			fr := NewReader(src)
			buf := make([]byte, 7)
			for i := 0; i < len(data)+2; i++ {
				h, err := fr.Next()
				if err != nil {
					break
				}
				results[k] = append(results[k], h)
				for j := 0; j <= len(data); j++ {
					if _, err := fr.Read(buf); err != nil {
						break
					}
				}
			}
		}
		if len(results[0]) != len(results[1]) {
			t.Fatalf("copying reader saw %d frames, peeking reader %d", len(results[0]), len(results[1]))
		}
		for i := range results[0] {
			if results[0][i] != results[1][i] {
				t.Fatalf("frame %d: %v vs %v", i, results[0][i], results[1][i])
			}
		}
	})
}

var benchHeaders = []struct {
	name string
	h    Header
}{
	{"7bit", Header{Fin: true, Opcode: OpText, Length: 100}},
	{"16bit-masked", Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: rfcKey, Length: 1000}},
	{"64bit-masked", Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: rfcKey, Length: 1 << 20}},
}

func BenchmarkAppendHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, MaxHeaderSize)
			for b.Loop() {
				buf = AppendHeader(buf[:0], bh.h)
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			b.ReportAllocs()
			enc := AppendHeader(nil, bh.h)
			var h Header
			for b.Loop() {
				h, _, _ = ParseHeader(enc)
			}
			if h != bh.h {
				b.Fatal("mismatch")
			}
		})
	}
}

func TestHeaderString(t *testing.T) {
	tests := map[string]Header{
		"text fin masked(37fa213d) len=5": {Fin: true, Opcode: OpText, Masked: true, Mask: rfcKey, Length: 5},
		"continuation len=0":              {},
		"binary rsv1 rsv3 len=70000":      {Rsv: RSV1 | RSV3, Opcode: OpBinary, Length: 70000},
		"reserved(0xb) fin rsv2 len=1":    {Fin: true, Rsv: RSV2, Opcode: 0xB, Length: 1},
	}
	for want, h := range tests {
		assert.Equal(t, want, h.String())
	}
}
