package wsframe

import "encoding/binary"

// UTF8Validator checks text for valid UTF-8 as it arrives, in chunks of
// any size split at any byte, so that a text message can be failed at its
// first bad byte instead of after the whole message has been buffered
// (RFC 6455 section 8.1 asks for the connection to fail "immediately").
//
// Validity is that of the Unicode standard and of unicode/utf8.Valid: no
// overlong forms, no surrogates (U+D800-U+DFFF), nothing above U+10FFFF.
// The zero value is ready to use; a validator is a few bytes and does not
// allocate.
type UTF8Validator struct {
	need   uint8 // continuation bytes still expected
	lo, hi uint8 // allowed range of the next continuation byte, when need > 0
	failed bool
}

// Leading-byte classes: the low nibble is the number of continuation bytes
// (0 for ASCII), the high nibble an index into utf8Ranges for the first
// continuation byte. A class of 0xFF means "cannot start a sequence".
const invalidLead = 0xFF

// utf8Ranges holds the allowed range of the first continuation byte; the
// narrow ranges exclude overlongs (E0, F0), surrogates (ED) and code
// points above U+10FFFF (F4).
// (The array has 16 entries so that indexing it with a nibble needs no
// bounds check.)
var utf8Ranges = [16]byteRange{
	{0x80, 0xBF},
	{0xA0, 0xBF}, // after E0
	{0x80, 0x9F}, // after ED
	{0x90, 0xBF}, // after F0
	{0x80, 0x8F}, // after F4
}

// byteRange is an inclusive range of byte values.
type byteRange struct{ lo, hi uint8 }

var utf8Leads = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c < 0x80:
			t[c] = 0
		case c < 0xC2: // continuation bytes, and C0/C1 (always overlong)
			t[c] = invalidLead
		case c < 0xE0:
			t[c] = 1
		case c == 0xE0:
			t[c] = 1<<4 | 2
		case c == 0xED:
			t[c] = 2<<4 | 2
		case c < 0xF0:
			t[c] = 2
		case c == 0xF0:
			t[c] = 3<<4 | 3
		case c < 0xF4:
			t[c] = 3
		case c == 0xF4:
			t[c] = 4<<4 | 3
		default: // F5-FF would encode beyond U+10FFFF
			t[c] = invalidLead
		}
	}
	return t
}()

// asciiMask selects the high bit of every byte of a little-endian word.
const asciiMask = 0x8080808080808080

// load64 reads 8 bytes as a little-endian word.
func load64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// Write feeds the next chunk of text. It returns the number of bytes of p
// that are valid before the first invalid byte, and ErrInvalidUTF8 at that
// byte: the first byte that can neither begin nor continue a valid
// sequence (for example the ASCII byte that interrupts a multi-byte
// sequence, the second byte of an overlong form, or a stray continuation
// byte). Once Write has failed it keeps failing, with n = 0, until Reset.
//
// Write never allocates. Runs of ASCII are checked 8 bytes at a time, 32 per
// loop iteration.
func (v *UTF8Validator) Write(p []byte) (n int, err error) {
	if v.failed {
		return 0, ErrInvalidUTF8
	}
	i := 0
	// Finish a sequence left open by the previous chunk.
	for v.need > 0 {
		if i == len(p) {
			return i, nil
		}
		if c := p[i]; c < v.lo || c > v.hi {
			v.failed = true
			return i, ErrInvalidUTF8
		}
		v.lo, v.hi = 0x80, 0xBF
		v.need--
		i++
	}
	q := p[i:len(p):len(p)]
	for len(q) > 0 {
		c := q[0]
		if c < 0x80 {
			// ASCII fast path: text that has one ASCII byte usually has
			// a run of them, so skip whole words without a high bit.
			// The strict > leaves q non-empty after each step, which
			// lets the compiler drop an end-of-array adjustment.
			q = q[1:]
			if len(q) > 8 && load64(q)&asciiMask == 0 {
				q = q[8:]
				for len(q) > 32 && (load64(q)|load64(q[8:])|load64(q[16:])|load64(q[24:]))&asciiMask == 0 {
					q = q[32:]
				}
			}
			continue
		}
		class := utf8Leads[c]
		if class == invalidLead {
			v.failed = true
			return len(p) - len(q), ErrInvalidUTF8
		}
		need := int(class & 0xF)
		r := utf8Ranges[class>>4]
		if len(q) > need {
			// The whole sequence is in this chunk.
			switch need {
			case 1:
				if q[1] < r.lo || r.hi < q[1] {
					return v.fail(p, q)
				}
				q = q[2:]
			case 2:
				if q[1] < r.lo || r.hi < q[1] || q[2] < 0x80 || 0xBF < q[2] {
					return v.fail(p, q)
				}
				q = q[3:]
			case 3:
				if q[1] < r.lo || r.hi < q[1] || q[2] < 0x80 || 0xBF < q[2] || q[3] < 0x80 || 0xBF < q[3] {
					return v.fail(p, q)
				}
				q = q[4:]
			}
			continue
		}
		// The sequence continues in the next chunk: check the bytes that
		// are here and remember what the rest must be.
		lo, hi := r.lo, r.hi
		for k := 1; k < len(q); k++ {
			if q[k] < lo || q[k] > hi {
				return v.fail(p, q)
			}
			lo, hi = 0x80, 0xBF
		}
		v.need = uint8(need - (len(q) - 1))
		v.lo, v.hi = lo, hi
		return len(p), nil
	}
	return len(p), nil
}

// fail records the failure of the sequence that starts at q[0], which is a
// valid leading byte, and returns the index in p of its first bad byte.
// It is off the fast path of Write, so it may take its time.
func (v *UTF8Validator) fail(p, q []byte) (int, error) {
	v.failed = true
	class := utf8Leads[q[0]]
	r := utf8Ranges[class>>4]
	k := 1
	for ; k < len(q) && q[k] >= r.lo && q[k] <= r.hi; k++ {
		r = byteRange{0x80, 0xBF}
	}
	return len(p) - len(q) + k, ErrInvalidUTF8
}

// Done reports ErrInvalidUTF8 if the text ended inside a multi-byte
// sequence or an earlier Write failed, and nil otherwise. Call it at the
// end of a message.
func (v *UTF8Validator) Done() error {
	if v.failed || v.need > 0 {
		return ErrInvalidUTF8
	}
	return nil
}

// Complete reports whether the text so far is valid and ends on a
// character boundary, with no sequence left open. It is false after a
// failure.
func (v *UTF8Validator) Complete() bool {
	return !v.failed && v.need == 0
}

// Reset returns v to its zero state, ready for a new message.
func (v *UTF8Validator) Reset() {
	*v = UTF8Validator{}
}
