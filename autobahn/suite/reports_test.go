package suite

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
)

func TestReportFileName(t *testing.T) {
	for _, tc := range []struct{ agent, id, want string }{
		{"gorilla-m", "1.1.1", "gorilla_m_case_1_1_1.json"},
		{"Coder", "13.7.18", "coder_case_13_7_18.json"},
		{"  ws://127.0.0.1:9001  ", "2.1", "ws___127_0_0_1_9001_case_2_1.json"},
		{"../..", "2.1", "agent_case_2_1.json"},
	} {
		require.Equal(t, tc.want, ReportFileName(tc.agent, tc.id))
	}
}

// TestWriteReports runs a few cases and checks the three kinds of output:
// index.json in the real layout (readable by the checker's package, and
// merged with other agents already there), one JSON per case with the
// wire log, and the HTML page with a table and a section per case.
func TestWriteReports(t *testing.T) {
	s := startEcho(t, utf8AtEnd, false)
	cases, err := Select("1.1.1,2.5,6.4.1", "")
	require.NoError(t, err)
	res, err := FuzzingClient(context.Background(), s.url(), cases, &Options{Parallel: 1, Timeouts: testTimeouts})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, WriteReports(dir, "first", res[:1]))
	require.NoError(t, WriteReports(dir, "my server", res))

	idx, err := report.ReadIndex(filepath.Join(dir, "index.json"))
	require.NoError(t, err)
	require.Len(t, idx, 2, "agents are merged")
	got := idx["my server"]
	require.Equal(t, report.OK, got["1.1.1"].Behavior)
	require.Equal(t, report.NonStrict, got["6.4.1"].Behavior)
	require.Equal(t, "my_server_case_6_4_1.json", got["6.4.1"].ReportFile)
	require.NotNil(t, got["2.5"].RemoteCloseCode)
	require.Equal(t, 1002, *got["2.5"].RemoteCloseCode)

	b, err := os.ReadFile(filepath.Join(dir, "my_server_case_6_4_1.json"))
	require.NoError(t, err)
	var one map[string]any
	require.NoError(t, json.Unmarshal(b, &one))
	require.Equal(t, "6.4.1", one["id"])
	require.Equal(t, []any{[]any{"timeout", "A"}, []any{"timeout", "B"}}, one["received"])
	require.Contains(t, one["expected"], "NON-STRICT")
	wl := one["wirelog"].([]any)
	require.NotEmpty(t, wl)
	require.Equal(t, "TO", wl[0].([]any)[0], "the wire log starts with the opening handshake")

	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	html := string(page)
	for _, want := range []string{"Agent my server", "Group 6", `href="#my_server_6_4_1"`, `id="my_server_6_4_1"`, "NON-STRICT", "sent frame: opcode 1", "Agent first"} {
		require.True(t, strings.Contains(html, want), "page lacks %q", want)
	}

	// A broken index.json is reported, not overwritten.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o644))
	require.Error(t, WriteReports(dir, "x", res))
}
