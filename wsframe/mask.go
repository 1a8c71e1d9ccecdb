package wsframe

import (
	"encoding/binary"
	"math/bits"
)

// Mask XORs b in place with the masking key, as RFC 6455 section 5.3
// defines it, starting at key byte pos&3, and returns the key position for
// the next chunk of the same payload, (pos+len(b))&3. Masking and
// unmasking are the same operation, so a payload that arrives in pieces
// is unmasked by feeding each piece the position returned for the last:
//
//	pos := 0
//	for each chunk { pos = Mask(key, pos, chunk) }
//
// The result is always that of the byte-by-byte definition
// b[i] ^= key[(pos+i)&3]; the work is done 8 bytes at a time, 64 bytes
// per loop iteration. Mask does not allocate, and its stack frame is small:
// it runs deep in a connection's read path, whose goroutine keeps any stack
// it grows. (A vectorised variant XORing 1 KiB blocks of repeated key with
// crypto/subtle.XORBytes was slower on the development machine, and its
// key block was 1 KiB of stack.)
func Mask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	next := (pos + len(b)) & 3
	if len(b) < 8 {
		for i := range b {
			b[i] ^= key[(pos+i)&3]
		}
		return next
	}
	// The key as a little-endian word, rotated so that its lowest byte is
	// key[pos]: the byte that masks b[0]. Every 8-byte step keeps the key
	// phase, since 8 is a multiple of 4.
	k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos)
	k := uint64(k32)<<32 | uint64(k32)
	i := 0
	for ; len(b)-i >= 64; i += 64 {
		q := b[i : i+64 : i+64]
		binary.LittleEndian.PutUint64(q[0:8], binary.LittleEndian.Uint64(q[0:8])^k)
		binary.LittleEndian.PutUint64(q[8:16], binary.LittleEndian.Uint64(q[8:16])^k)
		binary.LittleEndian.PutUint64(q[16:24], binary.LittleEndian.Uint64(q[16:24])^k)
		binary.LittleEndian.PutUint64(q[24:32], binary.LittleEndian.Uint64(q[24:32])^k)
		binary.LittleEndian.PutUint64(q[32:40], binary.LittleEndian.Uint64(q[32:40])^k)
		binary.LittleEndian.PutUint64(q[40:48], binary.LittleEndian.Uint64(q[40:48])^k)
		binary.LittleEndian.PutUint64(q[48:56], binary.LittleEndian.Uint64(q[48:56])^k)
		binary.LittleEndian.PutUint64(q[56:64], binary.LittleEndian.Uint64(q[56:64])^k)
	}
	for ; len(b)-i >= 8; i += 8 {
		q := b[i : i+8 : i+8]
		binary.LittleEndian.PutUint64(q, binary.LittleEndian.Uint64(q)^k)
	}
	p := b[i:]
	// Fewer than 8 bytes left, still in key phase: byte i takes the i-th
	// byte of the rotated key.
	for i := range p {
		p[i] ^= byte(k >> (8 * uint(i)))
	}
	return next
}
