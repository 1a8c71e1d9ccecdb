package wsframe

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// utf8Case is one input with the expected verdict: bad is the index of the
// first byte that can neither begin nor continue a valid sequence (-1 if
// none), and incomplete means the input ends inside a sequence.
type utf8Case struct {
	name       string
	in         string // wire notation (hex)
	bad        int
	incomplete bool
}

// The categories of Markus Kuhn's "UTF-8 decoder capability and stress
// test", with the index each must fail at.
var utf8Cases = []utf8Case{
	// 1. Some correct UTF-8 text.
	{"kosme", "CEBA E1BDB9 CF83 CEBC CEB5", -1, false},
	{"empty", "", -1, false},
	{"ascii", "48656c6c6f2c20776f726c6421", -1, false},

	// 2.1 First possible sequence of a certain length.
	{"first 1-byte U+0000", "00", -1, false},
	{"first 2-byte U+0080", "C280", -1, false},
	{"first 3-byte U+0800", "E0A080", -1, false},
	{"first 4-byte U+10000", "F0908080", -1, false},
	{"first 5-byte", "F888808080", 0, false},
	{"first 6-byte", "FC8480808080", 0, false},
	// 2.2 Last possible sequence of a certain length.
	{"last 1-byte U+007F", "7F", -1, false},
	{"last 2-byte U+07FF", "DFBF", -1, false},
	{"last 3-byte U+FFFF", "EFBFBF", -1, false},
	{"last 4-byte U+1FFFFF", "F7BFBFBF", 0, false},
	{"last 5-byte", "FBBFBFBFBF", 0, false},
	{"last 6-byte", "FDBFBFBFBFBF", 0, false},
	// 2.3 Other boundary conditions.
	{"U+D7FF", "ED9FBF", -1, false},
	{"U+E000", "EE8080", -1, false},
	{"U+FFFD", "EFBFBD", -1, false},
	{"U+10FFFF", "F48FBFBF", -1, false},
	{"U+110000", "F4908080", 1, false},

	// 3.1 Unexpected continuation bytes.
	{"first continuation 0x80", "80", 0, false},
	{"last continuation 0xBF", "BF", 0, false},
	{"2 continuations", "80BF", 0, false},
	{"3 continuations", "80BF80", 0, false},
	{"7 continuations", "80BF80BF80BF80", 0, false},
	{"all 64 continuations", "808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F" +
		"A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF", 0, false},
	{"continuation after ascii", "41 80", 1, false},
	{"continuation after complete 2-byte", "C3A9 A9", 2, false},
	{"continuation after complete 4-byte", "F09F9880 80", 4, false},
	// 3.2 Lonely start characters followed by a space.
	{"lonely C0", "C020", 0, false},
	{"lonely C2", "C220", 1, false},
	{"lonely DF", "DF20", 1, false},
	{"lonely E0", "E020", 1, false},
	{"lonely EF", "EF20", 1, false},
	{"lonely F0", "F020", 1, false},
	{"lonely F4", "F420", 1, false},
	{"lonely F8", "F820", 0, false},
	{"lonely FC", "FC20", 0, false},
	{"two lonely starts", "C220C320", 1, false},
	// 3.3 Sequences with the last continuation byte missing.
	{"2-byte missing last", "C2", -1, true},
	{"3-byte missing last", "E0A0", -1, true},
	{"4-byte missing last", "F09080", -1, true},
	{"3-byte missing two", "E1", -1, true},
	{"4-byte missing three", "F1", -1, true},
	{"U+07FF missing last", "DF", -1, true},
	{"U+FFFF missing last", "EFBF", -1, true},
	{"U+10FFFF missing last", "F48FBF", -1, true},
	{"truncated then ascii", "E0A0 41", 2, false},
	{"truncated 4-byte then ascii", "F09080 41", 3, false},
	// 3.4 Concatenation of incomplete sequences.
	{"incomplete 2 then 3", "C2 E0A0", 1, false},
	{"incomplete 3 then 4", "E0A0 F09080", 2, false},
	{"incomplete 4 then 2", "F09080 C2", 3, false},
	// 3.5 Impossible bytes.
	{"FE", "FE", 0, false},
	{"FF", "FF", 0, false},
	{"FEFEFFFF", "FEFEFFFF", 0, false},
	{"F5", "F5808080", 0, false},
	{"after text FF", "616263 FF", 3, false},

	// 4.1 Overlong ASCII '/'.
	{"overlong / 2-byte", "C0AF", 0, false},
	{"overlong / 3-byte", "E080AF", 1, false},
	{"overlong / 4-byte", "F08080AF", 1, false},
	{"overlong / 5-byte", "F8808080AF", 0, false},
	{"overlong / 6-byte", "FC80808080AF", 0, false},
	// 4.2 Maximum overlong sequences.
	{"max overlong 2-byte", "C1BF", 0, false},
	{"max overlong 3-byte", "E09FBF", 1, false},
	{"max overlong 4-byte", "F08FBFBF", 1, false},
	// 4.3 Overlong NUL.
	{"overlong NUL 2-byte", "C080", 0, false},
	{"overlong NUL 3-byte", "E08080", 1, false},
	{"overlong NUL 4-byte", "F0808080", 1, false},

	// 5.1 Single UTF-16 surrogates.
	{"U+D800", "EDA080", 1, false},
	{"U+DB7F", "EDADBF", 1, false},
	{"U+DB80", "EDAE80", 1, false},
	{"U+DBFF", "EDAFBF", 1, false},
	{"U+DC00", "EDB080", 1, false},
	{"U+DF80", "EDBE80", 1, false},
	{"U+DFFF", "EDBFBF", 1, false},
	// 5.2 Paired surrogates.
	{"U+D800 U+DC00", "EDA080EDB080", 1, false},
	{"U+DBFF U+DFFF", "EDAFBFEDBFBF", 1, false},
	// 5.3 Noncharacters are valid UTF-8.
	{"U+FFFE", "EFBFBE", -1, false},
	{"U+FDD0", "EFB790", -1, false},
	{"U+10FFFE", "F48FBFBE", -1, false},

	// Beyond U+10FFFF.
	{"F4 90", "F490", 1, false},
	{"F4 BF", "F4BFBFBF", 1, false},
	{"F7", "F7BFBFBF", 0, false},

	// Positions that exercise the ASCII fast path.
	{"bad after 16 ascii", "30313233343536373839414243444546 FF", 16, false},
	{"bad after 24 ascii", "303132333435363738394142434445464748494A4B4C4D4E C0", 24, false},
	{"bad inside 16-byte block", "3031323334353637 38 C280 3941424344 80 46", 16, false},
	{"valid 40 mixed", "3031323334353637 C3A9 E282AC F09F9880 38393A3B3C3D3E3F404142434445464748", -1, false},
}

// utf8Prefixes holds every proper prefix of every valid encoding: the
// sequences a validator must accept while waiting for more bytes.
var utf8Prefixes = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool)
	var buf [4]byte
	for r := rune(0x80); r <= utf8.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		n := utf8.EncodeRune(buf[:], r)
		for l := 1; l < n; l++ {
			m[string(buf[:l])] = true
		}
	}
	return m
})

// utf8Oracle is a slow reference for the validator, built on
// unicode/utf8: it returns the first bad index (-1 if none) and whether
// the input ends inside a sequence.
func utf8Oracle(p []byte) (bad int, incomplete bool) {
	prefixes := utf8Prefixes()
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		k := 0
		for k < 3 && i+k < len(p) && prefixes[string(p[i:i+k+1])] {
			k++
		}
		if i+k == len(p) {
			return -1, true
		}
		return i + k, false
	}
	return -1, false
}

// validateChunks feeds p to a fresh validator cut at the given offsets and
// returns the global index of the first bad byte (-1 if none) and Done's
// verdict. It checks the validator's contract at every step.
func validateChunks(t *testing.T, p []byte, cuts []int) (bad int, done error) {
	t.Helper()
	var v UTF8Validator
	start := 0
	bad = -1
	for i := 0; i <= len(cuts); i++ {
		end := len(p)
		if i < len(cuts) {
			end = cuts[i]
		}
		chunk := p[start:end]
		n, err := v.Write(chunk)
		if bad >= 0 {
			require.Zero(t, n)
			require.ErrorIs(t, err, ErrInvalidUTF8)
		} else if err != nil {
			require.ErrorIs(t, err, ErrInvalidUTF8)
			require.Less(t, n, len(chunk))
			bad = start + n
		} else {
			require.Equal(t, len(chunk), n)
			wantBad, wantIncomplete := utf8Oracle(p[:end])
			require.Equal(t, -1, wantBad)
			require.Equal(t, !wantIncomplete, v.Complete(), "after %d bytes", end)
		}
		if bad >= 0 {
			require.False(t, v.Complete())
		}
		start = end
	}
	return bad, v.Done()
}

func checkUTF8(t *testing.T, p []byte, wantBad int, wantIncomplete bool) {
	t.Helper()
	check := func(cuts []int) {
		t.Helper()
		bad, done := validateChunks(t, p, cuts)
		require.Equal(t, wantBad, bad, "cuts %v", cuts)
		if wantBad >= 0 || wantIncomplete {
			require.ErrorIs(t, done, ErrInvalidUTF8, "cuts %v", cuts)
		} else {
			require.NoError(t, done, "cuts %v", cuts)
		}
	}
	check(nil)
	for i := 0; i <= len(p); i++ {
		check([]int{i})
	}
	if len(p) <= 48 {
		for i := 0; i <= len(p); i++ {
			for j := i; j <= len(p); j++ {
				check([]int{i, j})
			}
		}
	}
	ones := make([]int, 0, len(p))
	for i := 1; i < len(p); i++ {
		ones = append(ones, i)
	}
	check(ones)
}

func TestUTF8StressCases(t *testing.T) {
	asciiPrefix := strings.Repeat("p", 37)
	for _, tt := range utf8Cases {
		t.Run(tt.name, func(t *testing.T) {
			p := wire(t, tt.in)
			// The table agrees with the oracle and with utf8.Valid.
			bad, incomplete := utf8Oracle(p)
			require.Equal(t, tt.bad, bad, "oracle")
			require.Equal(t, tt.incomplete, incomplete, "oracle")
			require.Equal(t, tt.bad < 0 && !tt.incomplete, utf8.Valid(p))

			checkUTF8(t, p, tt.bad, tt.incomplete)

			// Behind a long ASCII run (the fast path) and before more
			// text, the index shifts and a truncation becomes a bad byte.
			long := append([]byte(asciiPrefix), p...)
			long = append(long, "abc"...)
			wantBad := tt.bad
			switch {
			case wantBad >= 0:
				wantBad += len(asciiPrefix)
			case tt.incomplete:
				wantBad = len(asciiPrefix) + len(p)
			}
			checkUTF8(t, long, wantBad, false)
		})
	}
}

func TestUTF8AllTwoByteInputs(t *testing.T) {
	// Every pair of bytes, and every pair behind a valid 3-byte
	// character, against the oracle.
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			for _, p := range [][]byte{{byte(a), byte(b)}, {0xE2, 0x82, 0xAC, byte(a), byte(b)}} {
				wantBad, wantIncomplete := utf8Oracle(p)
				bad, done := validateChunks(t, p, nil)
				require.Equal(t, wantBad, bad, "%x", p)
				require.Equal(t, wantBad >= 0 || wantIncomplete, done != nil, "%x", p)
				bad, _ = validateChunks(t, p, []int{len(p) - 1})
				require.Equal(t, wantBad, bad, "%x split", p)
			}
		}
	}
}

func TestUTF8ValidatorReset(t *testing.T) {
	var v UTF8Validator
	assert.True(t, v.Complete())
	assert.NoError(t, v.Done())

	_, err := v.Write([]byte{0xE2, 0x82})
	require.NoError(t, err)
	assert.False(t, v.Complete())
	assert.ErrorIs(t, v.Done(), ErrInvalidUTF8)

	v.Reset()
	assert.True(t, v.Complete())
	n, err := v.Write([]byte("ok\xff"))
	assert.Equal(t, 2, n)
	assert.ErrorIs(t, err, ErrInvalidUTF8)
	n, err = v.Write([]byte("fine"))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ErrInvalidUTF8)
	assert.ErrorIs(t, v.Done(), ErrInvalidUTF8)

	v.Reset()
	n, err = v.Write([]byte("fine"))
	assert.Equal(t, 4, n)
	assert.NoError(t, err)
	assert.NoError(t, v.Done())

	var perr *Error
	require.ErrorAs(t, ErrInvalidUTF8, &perr)
	assert.Equal(t, CloseInvalidPayload, perr.Code)
}

func TestUTF8ValidatorEmptyWrites(t *testing.T) {
	var v UTF8Validator
	_, _ = v.Write([]byte{0xF0})
	for i := 0; i < 3; i++ {
		n, err := v.Write(nil)
		assert.Zero(t, n)
		assert.NoError(t, err)
	}
	n, err := v.Write([]byte{0x9F, 0x98, 0x80})
	assert.Equal(t, 3, n)
	assert.NoError(t, err)
	assert.NoError(t, v.Done())
}

func TestUTF8ValidatorZeroAllocs(t *testing.T) {
	text := []byte(strings.Repeat("h\u00e9llo w\u00f6rld \u20ac \U0001F600 ", 50))
	var v UTF8Validator
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		v.Reset()
		_, _ = v.Write(text[:77])
		_, _ = v.Write(text[77:])
	}))
	assert.NoError(t, v.Done())
}

func FuzzUTF8(f *testing.F) {
	for _, tt := range utf8Cases {
		f.Add(wire(f, tt.in), uint64(len(tt.in)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Cut data into chunks of pseudo-random sizes drawn from seed.
		var cuts []int
		s := seed
		for at := 0; at < len(data); {
			s = s*6364136223846793005 + 1442695040888963407
			at += int(s>>59) + 1 // 1..32
			if at < len(data) {
				cuts = append(cuts, at)
			}
		}
		bad, done := validateChunks(t, data, cuts)
		wantBad, _ := utf8Oracle(data)
		if bad != wantBad {
			t.Fatalf("first bad byte %d, oracle %d (cuts %v)", bad, wantBad, cuts)
		}
		if valid := utf8.Valid(data); valid != (done == nil) {
			t.Fatalf("utf8.Valid %v, Done %v", valid, done)
		}
	})
}

// BenchmarkUTF8 measures UTF8Validator next to unicode/utf8.Valid on the
// same input (compare with benchstat -col /impl).
func BenchmarkUTF8(b *testing.B) {
	inputs := []struct {
		name string
		text []byte
	}{
		{"ascii", []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1500))[:64<<10]},
		{"mixed", []byte(strings.Repeat("Fran\u00e7ais, \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e, emoji \U0001F600 and ascii. ", 1000))[:64<<10]},
	}
	for _, in := range inputs {
		// Trim to a character boundary so that both accept the input.
		text := in.text
		for !utf8.Valid(text) {
			text = text[:len(text)-1]
		}
		b.Run("text="+in.name+"/impl=validator", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			var v UTF8Validator
			for b.Loop() {
				v.Reset()
				if _, err := v.Write(text); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("text="+in.name+"/impl=utf8.Valid", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if !utf8.Valid(text) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
