package suite

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
// wire log, and the HTML pages (index.html and one per case).
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

	// index.html has both agents side by side; each case has its page.
	doc := parseHTMLFile(t, filepath.Join(dir, "index.html"))
	require.Equal(t, []string{"first", "my server"}, texts(findAll(byID(doc, "cases"), "th", "agent")))
	for _, name := range []string{"my_server_case_6_4_1.html", "my_server_case_1_1_1.html", "first_case_1_1_1.html"} {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
	}
	casePage := parseHTMLFile(t, filepath.Join(dir, "my_server_case_6_4_1.html"))
	require.Contains(t, textOf(casePage), "NON-STRICT")
	require.NotEmpty(t, findAll(byID(casePage, "wirelog"), "tr", "sent"))

	// A broken index.json is reported, not overwritten.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o644))
	require.Error(t, WriteReports(dir, "x", res))
}
