package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ws6455/ws6455/conn"
)

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in   string
		want conn.CompressionMode
		ok   bool
	}{
		{"disabled", conn.CompressionDisabled, true},
		{"no-context-takeover", conn.CompressionNoContextTakeover, true},
		{"context-takeover", conn.CompressionContextTakeover, true},
		{"on", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseCompression(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}
