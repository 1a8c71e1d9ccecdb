package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testdata     = "../report/testdata"
	referenceDir = "../../../shared/autobahn/reference"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // substrings of stdout
		wantStderr string   // substring of stderr
	}{
		{"no arguments", nil, 2, nil, "usage: check"},
		{"bad flag", []string{"-nope", "x"}, 2, nil, "flag provided but not defined"},
		{"missing file", []string{testdata + "/nothing.json"}, 2, nil, "no such file"},
		{"malformed", []string{testdata + "/malformed.json"}, 2, nil, "malformed JSON"},
		{"wrong shape", []string{testdata + "/shape-array.json"}, 2, nil, "want a JSON object, got array"},
		{"all OK", []string{testdata + "/all-ok.json"}, 0, []string{"agent testee: 5 cases", "PASS: 5 cases"}, ""},
		{"one FAILED", []string{testdata + "/one-failed.json"}, 1,
			[]string{"testee 5.2: behavior=FAILED close=FAILED: FAILED; close behaviour FAILED", "FAIL: 1 problems in 3 cases"}, ""},
		{"NON-STRICT unlisted", []string{testdata + "/non-strict.json"}, 1,
			[]string{"testee 6.4.1: behavior=NON-STRICT close=OK: NON-STRICT and not in the allowlist"}, ""},
		{"NON-STRICT allowlisted", []string{"-allow", testdata + "/allow-6.4.txt", testdata + "/non-strict.json"}, 0,
			[]string{"allowlisted NON-STRICT (2):", "testee 6.4.2: listed exactly as well", "PASS: 3 cases"}, ""},
		{"project allowlist is empty", []string{"-allow", "../allowlist.txt", testdata + "/non-strict.json"}, 1, []string{"problems (2):"}, ""},
		{"allowlist without reason", []string{"-allow", testdata + "/allow-no-reason.txt", testdata + "/all-ok.json"}, 2, nil, "has no reason"},
		{"missing allowlist", []string{"-allow", testdata + "/none.txt", testdata + "/all-ok.json"}, 2, nil, "no such file"},
		{"UNIMPLEMENTED", []string{testdata + "/unimplemented.json"}, 1, []string{"13.3.1: behavior=UNIMPLEMENTED"}, ""},
		{"WRONG CODE", []string{testdata + "/wrong-code.json"}, 1, []string{"7.5.1: behavior=OK close=WRONG CODE"}, ""},
		{"empty index", []string{testdata + "/empty.json"}, 1, []string{"the index has no agents"}, ""},
		{"duplicate agent", []string{testdata + "/all-ok.json", testdata + "/one-failed.json"}, 2, nil, `agent "testee" is in both`},
		{"agent selected", []string{"-agent", "testee", testdata + "/all-ok.json"}, 0, []string{"PASS"}, ""},
		{"agent missing", []string{"-agent", "other", testdata + "/all-ok.json"}, 2, nil, `agent "other" not found; the index has: testee`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			for _, w := range tt.wantOut {
				assert.Contains(t, stdout.String(), w)
			}
			if tt.wantStderr != "" {
				assert.Contains(t, stderr.String(), tt.wantStderr)
			} else {
				assert.Empty(t, stderr.String())
			}
		})
	}
}

// TestRunDirectoriesAndSeveralFiles passes a suite output directory and a
// second index at once; both agents get a table.
func TestRunDirectoriesAndSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(testdata, "all-ok.json"))
	require.NoError(t, err)
	renamed := strings.Replace(string(data), `"testee"`, `"second"`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte(renamed), 0o644))

	var stdout, stderr bytes.Buffer
	code := run([]string{dir, testdata + "/one-failed.json"}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Empty(t, stderr.String())
	out := stdout.String()
	assert.Contains(t, out, "agent second: 5 cases")
	assert.Contains(t, out, "agent testee: 3 cases")
	assert.Less(t, strings.Index(out, "agent second"), strings.Index(out, "agent testee"), "agents in order")
	assert.Contains(t, out, "FAIL: 1 problems in 8 cases")
}

// TestRunReference runs the checker on the real suite's results for other
// libraries (shared/autobahn/reference), as the README there describes them.
func TestRunReference(t *testing.T) {
	if _, err := os.Stat(referenceDir); err != nil {
		t.Skipf("reference results not present: %v", err)
	}
	allow := filepath.Join(t.TempDir(), "allow.txt")
	require.NoError(t, os.WriteFile(allow, []byte("6.4.*  gorilla checks UTF-8 per message\n"), 0o644))

	tests := []struct {
		folder   string
		args     []string
		wantCode int
		want     []string
	}{
		{"gorilla-server", nil, 1, []string{
			"agent gorilla-m: 517 cases",
			"  total    517  510           4              3              0       0      0       514           3            0\n",
			"FAIL: 4 problems in 517 cases",
		}},
		{"gorilla-server", []string{"-allow", allow}, 0, []string{"allowlisted NON-STRICT (4):", "PASS: 517 cases"}},
		{"coder-server", nil, 1, []string{
			"  total    517  402           0              3             36      76      0       426           3           88\n",
			"FAIL: 124 problems in 517 cases",
		}},
		{"coder-client", nil, 1, []string{
			"  total    517  366           0              3             72      76      0       438           3           76\n",
			"FAIL: 148 problems in 517 cases",
		}},
		{"gorilla-client", nil, 1, []string{
			"  total    517  330           4              3             72     108      0       406           3          108\n",
			"FAIL: 184 problems in 517 cases",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.folder+strings.Join(tt.args, "_"), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(append([]string{}, tt.args...), filepath.Join(referenceDir, tt.folder))
			code := run(args, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code)
			assert.Empty(t, stderr.String())
			for _, w := range tt.want {
				assert.Contains(t, stdout.String(), w)
			}
		})
	}
}
