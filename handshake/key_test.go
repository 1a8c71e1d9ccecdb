package handshake

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAcceptKey(t *testing.T) {
	tests := []struct{ key, accept string }{
		{rfcKey, rfcAccept}, // RFC 6455 §1.3
		{"x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="}, // RFC 6455 §1.2 (draft example, same algorithm)
		{"", "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w="},
		{strings.Repeat("k", 100), AcceptKey(strings.Repeat("k", 100))}, // long keys take the hash.Hash path
	}
	for _, tt := range tests {
		assert.Equal(t, tt.accept, AcceptKey(tt.key), tt.key)
		assert.Equal(t, tt.accept, string(appendAccept(nil, []byte(tt.key))), tt.key)
	}
	assert.Len(t, AcceptKey(strings.Repeat("k", 100)), acceptLen)
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		k := NewKey()
		raw, err := base64.StdEncoding.DecodeString(k)
		require.NoError(t, err)
		assert.Len(t, raw, 16)
		assert.True(t, validKey(k))
		assert.False(t, seen[k], "keys must not repeat")
		seen[k] = true
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{rfcKey, true},
		{"AAAAAAAAAAAAAAAAAAAAAA==", true},
		{"////////////////////++==", true},
		{"dGhlIHNhbXBsZSBub25jZR==", true}, // non-zero padding bits: decodes to 16 bytes in non-strict base64
		{"", false},
		{"dGhlIHNhbXBsZSBub25jZQ=", false},
		{"dGhlIHNhbXBsZSBub25jZQ===", false},
		{"dGhlIHNhbXBsZSBub25jZQ", false},
		{"dGhlIHNhbXBsZSBub25jZQ-=", false},
		{"dGhlIHNhbXBsZSBub25jZ===", false}, // 15 bytes + junk
		{"dGhlIHNhbXBsZSBub25j-_==", false}, // URL alphabet
		{"dGhlIHNhbXBsZSBub25j ZQ=", false},
		{"dGhlIHNhbXBsZSBub25jZSE=", false}, // 17 bytes
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, validKey(tt.key), "%q", tt.key)
		raw, err := base64.StdEncoding.DecodeString(tt.key)
		assert.Equal(t, tt.want, err == nil && len(raw) == 16, "validKey agrees with encoding/base64 on %q", tt.key)
	}
}

func TestAppendAcceptAllocs(t *testing.T) {
	key := []byte(rfcKey)
	buf := make([]byte, 0, acceptLen)
	allocs := testing.AllocsPerRun(100, func() { buf = appendAccept(buf[:0], key) })
	assert.Zero(t, allocs)
}

func ExampleAcceptKey() {
	fmt.Println(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="))
	// Output: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
}
