package handshake

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
)

// GUID is the fixed string RFC 6455 §1.3 appends to the client's key before
// hashing. It proves that the server understood the WebSocket handshake and is
// not some other HTTP service echoing headers back.
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// keyLen is the length of a valid Sec-WebSocket-Key: base64 of 16 bytes.
const keyLen = 24

// acceptLen is the length of Sec-WebSocket-Accept: base64 of a SHA-1 sum.
const acceptLen = 28

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key:
// base64(SHA-1(key + GUID)). Servers send it, clients compare against it.
// For the RFC's example key "dGhlIHNhbXBsZSBub25jZQ==" it returns
// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
func AcceptKey(key string) string {
	var b [acceptLen]byte
	return string(appendAccept(b[:0], key))
}

// appendAccept appends AcceptKey(key) to dst. For keys of the usual size it
// hashes from a stack buffer and does not allocate.
func appendAccept[T text](dst []byte, key T) []byte {
	var sum [sha1.Size]byte
	var buf [keyLen + len(GUID)]byte
	if len(key)+len(GUID) <= len(buf) {
		n := copy(buf[:], key)
		n += copy(buf[n:], GUID)
		sum = sha1.Sum(buf[:n])
	} else {
		h := sha1.New()
		h.Write([]byte(key))
		h.Write([]byte(GUID))
		h.Sum(sum[:0])
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// NewKey returns a fresh Sec-WebSocket-Key: base64 of 16 bytes from
// crypto/rand. Clients need a new unpredictable key per handshake so that a
// caching intermediary cannot replay an old answer (RFC 6455 §10.3).
func NewKey() string {
	var raw [16]byte
	rand.Read(raw[:]) // never fails since Go 1.24 (it crashes the program instead)
	var b [keyLen]byte
	return string(base64.StdEncoding.AppendEncode(b[:0], raw[:]))
}

// validKey reports whether k is base64 (standard alphabet, padded) of exactly
// 16 bytes, as RFC 6455 §4.2.1 requires: 22 alphabet characters followed by
// "==". Like encoding/base64 in its default (non-strict) mode, it does not
// insist that the unused low bits of the last character are zero.
func validKey[T text](k T) bool {
	if len(k) != keyLen || k[22] != '=' || k[23] != '=' {
		return false
	}
	for i := 0; i < 22; i++ {
		c := k[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
