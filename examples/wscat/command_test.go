package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/wsframe"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want command
		err  string
	}{
		{"hello", command{kind: cmdSend, text: "hello"}, ""},
		{"", command{kind: cmdSend, text: ""}, ""},
		{"//ping", command{kind: cmdSend, text: "/ping"}, ""},
		{"/ping", command{kind: cmdPing}, ""},
		{"/ping x", command{}, "/ping takes no arguments"},
		{"/binary", command{kind: cmdBinary}, ""},
		{"/text", command{kind: cmdText}, ""},
		{"/help", command{kind: cmdHelp}, ""},
		{"/close", command{kind: cmdClose, code: wsframe.CloseNormal}, ""},
		{"/close 4000", command{kind: cmdClose, code: 4000}, ""},
		{"/close 1001 going  away ", command{kind: cmdClose, code: 1001, reason: "going  away"}, ""},
		{"/close 1000, done", command{kind: cmdClose, code: 1000, reason: "done"}, ""},
		{"/close 1000 , done", command{kind: cmdClose, code: 1000, reason: "done"}, ""},
		{"/close 3000 " + strings.Repeat("r", 123), command{kind: cmdClose, code: 3000, reason: strings.Repeat("r", 123)}, ""},
		{"/close 3000 " + strings.Repeat("r", 124), command{}, "the reason is 124 bytes, at most 123"},
		{"/close 1005", command{}, "code 1005 may not be sent"},
		{"/close 999", command{}, "code 999 may not be sent"},
		{"/close 5000", command{}, "code 5000 may not be sent"},
		{"/close 70000", command{}, "want a close code first"},
		{"/close bye", command{}, `want a close code first, got "bye"`},
		{"/close 3000 \xff", command{}, "not valid UTF-8"},
		{"/quit", command{}, `unknown command "/quit"`},
	}
	for _, tt := range tests {
		got, err := parseCommand(tt.line)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.line)
			continue
		}
		assert.NoError(t, err, tt.line)
		assert.Equal(t, tt.want, got, tt.line)
	}
}

// TestIsTerminal: a pipe and a regular file are not terminals, so output
// to them is raw by default.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, isTerminal(r))
	assert.False(t, isTerminal(w))
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f))
}

// TestTerminalDefaults: slash commands are on when input is a terminal
// (never for -x/-file), output is decorated when output is a terminal;
// the flags override both.
func TestTerminalDefaults(t *testing.T) {
	tests := []struct {
		args          []string
		inTTY, outTTY bool
		slash, raw    bool
		count         int
	}{
		{nil, false, false, false, true, 0},
		{nil, true, true, true, false, 0},
		{[]string{"-x", "a"}, true, true, false, false, 1},
		{[]string{"-slash=false"}, true, false, false, true, 0},
		{[]string{"-slash", "-output", "pretty"}, false, false, true, false, 0},
		{[]string{"-output", "raw", "-count", "0", "-x", "a"}, false, true, false, true, 0},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		s := streams{stdin: strings.NewReader(""), stdinTTY: tt.inTTY, stdoutTTY: tt.outTTY}
		cfg, err := parseArgs(append(tt.args, "ws://h/"), s, &stderr)
		require.NoError(t, err, tt.args)
		assert.Equal(t, tt.slash, cfg.slash, "slash %v in=%v", tt.args, tt.inTTY)
		assert.Equal(t, tt.raw, cfg.raw, "raw %v out=%v", tt.args, tt.outTTY)
		assert.Equal(t, tt.count, cfg.count, "count %v", tt.args)
	}
}
