package handshake

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		name     string
		origins  []string
		host     string
		patterns []string
		skip     bool
		status   int
	}{
		{name: "no origin", host: "example.com"},
		{name: "same host", origins: []string{"https://example.com"}, host: "example.com"},
		{name: "same host and port", origins: []string{"http://example.com:8080"}, host: "example.com:8080"},
		{name: "case-insensitive", origins: []string{"HTTPS://Example.COM"}, host: "example.com"},
		{name: "trailing slash", origins: []string{"https://example.com/"}, host: "example.com"},
		{name: "port differs", origins: []string{"http://example.com:8081"}, host: "example.com:8080", status: 403},
		{name: "default port not implied", origins: []string{"https://example.com"}, host: "example.com:443", status: 403},
		{name: "other host", origins: []string{"https://evil.com"}, host: "example.com", status: 403},
		{name: "suffix trick", origins: []string{"https://evilexample.com"}, host: "example.com", patterns: []string{"*.example.com"}, status: 403},
		{name: "null", origins: []string{"null"}, host: "example.com", status: 403},
		{name: "no scheme", origins: []string{"example.com"}, host: "example.com", status: 403},
		{name: "path", origins: []string{"https://example.com/x"}, host: "example.com", status: 403},
		{name: "userinfo", origins: []string{"https://evil.com@example.com"}, host: "example.com", status: 403},
		{name: "empty host", origins: []string{"https://"}, host: "example.com", status: 403},
		{name: "two origins", origins: []string{"https://example.com", "https://example.com"}, host: "example.com", status: 403},
		{name: "pattern subdomain", origins: []string{"https://app.example.com"}, host: "api.example.com", patterns: []string{"*.example.com"}},
		{name: "pattern ignores port", origins: []string{"http://app.example.com:3000"}, host: "api.example.com", patterns: []string{"*.EXAMPLE.com"}},
		{name: "pattern with port", origins: []string{"http://localhost:3000"}, host: "api.example.com", patterns: []string{"localhost:3000"}},
		{name: "pattern with port mismatch", origins: []string{"http://localhost:3001"}, host: "api.example.com", patterns: []string{"localhost:3000"}, status: 403},
		{name: "pattern port wildcard", origins: []string{"http://localhost:3001"}, host: "api.example.com", patterns: []string{"localhost:*"}},
		{name: "bad pattern", origins: []string{"http://x.com"}, host: "api.example.com", patterns: []string{"[x"}, status: 500},
		{name: "skip", origins: []string{"null"}, host: "example.com", skip: true},
		{name: "skip many", origins: []string{"a", "b"}, host: "example.com", skip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &ServerOptions{OriginPatterns: tt.patterns, InsecureSkipOriginCheck: tt.skip}
			first := ""
			if len(tt.origins) > 0 {
				first = tt.origins[0]
			}
			status, reason := checkOrigin(len(tt.origins), first, tt.host, opts)
			assert.Equal(t, tt.status, status, reason)
			bstatus, _ := checkOrigin(len(tt.origins), []byte(first), []byte(tt.host), opts)
			assert.Equal(t, status, bstatus, "same answer for []byte")
		})
	}
}
