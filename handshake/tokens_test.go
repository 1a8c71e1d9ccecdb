package handshake

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHasToken(t *testing.T) {
	tests := []struct {
		list, token string
		want        bool
	}{
		{"Upgrade", "upgrade", true},
		{"keep-alive, Upgrade", "upgrade", true},
		{"keep-alive,Upgrade", "upgrade", true},
		{"  upgrade\t", "upgrade", true},
		{",,upgrade,,", "upgrade", true},
		{"UPGRADE, keep-alive", "upgrade", true},
		{"", "upgrade", false},
		{",", "upgrade", false},
		{"upgraded", "upgrade", false},
		{"up grade", "upgrade", false},
		{"keep-alive upgrade", "upgrade", false},
		{"\"upgrade\"", "upgrade", false},
		{"upgrade;q=1", "upgrade", false},
		{"websocket/13", "websocket", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hasToken(tt.list, tt.token), "%q", tt.list)
		assert.Equal(t, tt.want, hasToken([]byte(tt.list), tt.token), "[]byte %q", tt.list)
	}
	assert.True(t, headerHasToken([]string{"keep-alive", "x, Upgrade"}, "upgrade"))
	assert.False(t, headerHasToken(nil, "upgrade"))
}

func TestTrimOWS(t *testing.T) {
	for in, want := range map[string]string{"": "", " ": "", "\t a b \t": "a b", "a": "a", " a": "a", "a ": "a"} {
		assert.Equal(t, want, trimOWS(in), "%q", in)
	}
}

func TestPickSubprotocol(t *testing.T) {
	supported := []string{"v3", "v2", "v1"}
	tests := []struct {
		offered string
		best    int
		want    int
	}{
		{"v1, v2", -1, 1},
		{"v1", 1, 1},   // an earlier line already found something better
		{"v3", 1, 0},   // this line improves on it
		{"V3", -1, -1}, // case-sensitive
		{" , v1 ,", -1, 2},
		{"", -1, -1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, pickSubprotocol(tt.offered, supported, tt.best), "%q", tt.offered)
	}
}

func TestIsToken(t *testing.T) {
	assert.True(t, isToken("permessage-deflate"))
	assert.True(t, isToken("!#$%&'*+-.^_`|~09azAZ"))
	for _, s := range []string{"", "a b", "a,b", "a;b", "a=b", "\"a\"", "a/b", "é", "a\x00"} {
		assert.False(t, isToken(s), "%q", s)
	}
}
