package report_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
)

// problem is the part of a report.Problem a table test pins down.
type problem struct{ agent, id, why string }

func problemsOf(ps []report.Problem) []problem {
	out := []problem{}
	for _, p := range ps {
		out = append(out, problem{p.Agent, p.Case, p.Why})
	}
	return out
}

func TestCheckTestdata(t *testing.T) {
	const unlisted = "NON-STRICT and not in the allowlist"
	tests := []struct {
		name  string
		file  string
		allow string // allowlist file under testdata, "" for none
		want  []problem
	}{
		{"all OK and INFORMATIONAL pass", "all-ok.json", "", []problem{}},
		{"one FAILED", "one-failed.json", "", []problem{
			{"testee", "5.2", "FAILED; close behaviour FAILED"},
		}},
		{"NON-STRICT without allowlist", "non-strict.json", "", []problem{
			{"testee", "6.4.1", unlisted},
			{"testee", "6.4.2", unlisted},
		}},
		{"NON-STRICT allowlisted by glob and exact id", "non-strict.json", "allow-6.4.txt", []problem{}},
		{"UNIMPLEMENTED always fails", "unimplemented.json", "allow-6.4.txt", []problem{
			{"testee", "13.3.1", "UNIMPLEMENTED (an optional feature was declined)"},
		}},
		{"bad close verdicts", "wrong-code.json", "", []problem{
			{"testee", "7.1.1", "close behaviour UNCLEAN"},
			{"testee", "7.5.1", "close behaviour WRONG CODE"},
			{"testee", "7.9.1", "close behaviour FAILED BY CLIENT"},
		}},
		{"unknown verdict", "unknown-verdict.json", "", []problem{
			{"testee", "1.1.1", `unknown behavior "GREAT"`},
		}},
		{"agent without cases", "no-cases.json", "", []problem{
			{"testee", "", "no case results for this agent"},
		}},
		{"empty index", "empty.json", "", []problem{
			{"", "", "the index has no agents"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := report.ReadIndex(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			var allow report.Allowlist
			if tt.allow != "" {
				allow, err = report.ReadAllowlist(filepath.Join("testdata", tt.allow))
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, problemsOf(report.Check(idx, allow)))
		})
	}
}

func TestProblemVerdictsAndString(t *testing.T) {
	idx, err := report.ReadIndex("testdata/one-failed.json")
	require.NoError(t, err)
	ps := report.Check(idx, nil)
	require.Len(t, ps, 1)
	assert.Equal(t, report.Failed, ps[0].Behavior)
	assert.Equal(t, report.CloseFailed, ps[0].BehaviorClose)
	assert.Equal(t, "testee 5.2: behavior=FAILED close=FAILED: FAILED; close behaviour FAILED", ps[0].String())
	assert.Equal(t, "a: x", report.Problem{Agent: "a", Why: "x"}.String())
	assert.Equal(t, "x", report.Problem{Why: "x"}.String())
}

func TestReadIndexErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // substrings of the error
	}{
		{"malformed.json", []string{"malformed.json", "index: malformed JSON", "unexpected end of JSON input"}},
		{"trailing-data.json", []string{"index: malformed JSON", "after top-level value"}},
		{"shape-array.json", []string{"index: want a JSON object, got array"}},
		{"shape-null.json", []string{"index: want a JSON object, got null"}},
		{"shape-agent-string.json", []string{`agent "testee": want a JSON object, got string`}},
		{"shape-case-null.json", []string{`agent "testee", case "1.1.1": want a JSON object, got null`}},
		{"shape-missing-behavior.json", []string{`case "1.1.1": missing or empty "behavior"`}},
		{"shape-duration-string.json", []string{`case "1.1.1": "duration" is a JSON string, want int64`}},
		{"shape-bad-case-id.json", []string{`case "1.x.1": case id must be numbers separated by dots`}},
		{"does-not-exist.json", []string{"no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			idx, err := report.ReadIndex(filepath.Join("testdata", tt.file))
			require.Error(t, err)
			assert.Nil(t, idx)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseIndexShapes(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty input", "", "index: empty, want a JSON object"},
		{"whitespace", " \n", "index: empty"},
		{"number", "17", "got number"},
		{"boolean", "true", "got boolean"},
		{"not JSON", "{x", "malformed JSON"},
		{"garbage", "<html>", "malformed JSON"},
		{"agent array", `{"a": []}`, `agent "a": want a JSON object, got array`},
		{"empty case id", `{"a": {"": {"behavior": "OK", "behaviorClose": "OK"}}}`, "empty case id"},
		{"empty component", `{"a": {"1..1": {"behavior": "OK", "behaviorClose": "OK"}}}`, "empty component"},
		{"long case id", `{"a": {"` + strings.Repeat("1.", 40) + `1": {"behavior": "OK", "behaviorClose": "OK"}}}`, "longer than 64"},
		{"missing close", `{"a": {"1": {"behavior": "OK"}}}`, `missing or empty "behaviorClose"`},
		{"close code string", `{"a": {"1": {"behavior": "OK", "behaviorClose": "OK", "remoteCloseCode": "1000"}}}`, `"remoteCloseCode" is a JSON string, want int`},
		{"behavior number", `{"a": {"1": {"behavior": 1, "behaviorClose": "OK"}}}`, `"behavior" is a JSON number, want string`},
		{"ok minimal", `{"a": {"1": {"behavior": "OK", "behaviorClose": "OK"}}}`, ""},
		{"ok unknown field", `{"a": {"1": {"behavior": "OK", "behaviorClose": "OK", "extra": [1]}}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := report.ParseIndex([]byte(tt.in))
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, report.OK, idx["a"]["1"].Behavior)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestReadIndexTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "index.json")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(report.MaxIndexSize+1)) // sparse: no real disk use
	require.NoError(t, f.Close())
	_, err = report.ReadIndex(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than")
}

func TestReadIndexValues(t *testing.T) {
	idx, err := report.ReadIndex("testdata/one-failed.json")
	require.NoError(t, err)
	code := 1000
	assert.Equal(t, report.Index{"testee": {
		"1.1.1": {Behavior: "OK", BehaviorClose: "OK", Duration: 3, RemoteCloseCode: &code, ReportFile: "t_case_1_1_1.json"},
		"5.2":   {Behavior: "FAILED", BehaviorClose: "FAILED", Duration: 3, RemoteCloseCode: nil, ReportFile: "t_case_5_2.json"},
		"7.1.1": {Behavior: "OK", BehaviorClose: "OK", Duration: 3, RemoteCloseCode: &code, ReportFile: "t_case_7_1_1.json"},
	}}, idx)
}

func TestMarshalIndexBytes(t *testing.T) {
	code := 1002
	tests := []struct {
		name string
		idx  report.Index
		want string
	}{
		{"nil", nil, "{}"},
		{"agent without cases", report.Index{"a": nil}, "{\n   \"a\": {}\n}"},
		{
			"sorted keys, null code, no HTML or trailing newline",
			report.Index{"a<b>&": {
				"2.1":  {Behavior: "OK", BehaviorClose: "OK", Duration: 1, ReportFile: "x.json"},
				"10.1": {Behavior: "FAILED", BehaviorClose: "WRONG CODE", RemoteCloseCode: &code},
			}},
			`{
   "a<b>&": {
      "10.1": {
         "behavior": "FAILED",
         "behaviorClose": "WRONG CODE",
         "duration": 0,
         "remoteCloseCode": 1002,
         "reportfile": ""
      },
      "2.1": {
         "behavior": "OK",
         "behaviorClose": "OK",
         "duration": 1,
         "remoteCloseCode": null,
         "reportfile": "x.json"
      }
   }
}`,
		},
		{"non-ASCII escaped like Python", report.Index{"tëst😀": {}}, "{\n   \"t\\u00ebst\\ud83d\\ude00\": {}\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := report.MarshalIndex(tt.idx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			back, err := report.ParseIndex(got)
			require.NoError(t, err)
			assert.Len(t, back, len(tt.idx))
		})
	}
}

func TestWriteIndexRoundTrip(t *testing.T) {
	idx, err := report.ReadIndex("testdata/wrong-code.json")
	require.NoError(t, err)
	dir := t.TempDir()
	p := filepath.Join(dir, "index.json")
	require.NoError(t, os.WriteFile(p, []byte("old content"), 0o644))
	require.NoError(t, report.WriteIndex(p, idx))
	back, err := report.ReadIndex(p)
	require.NoError(t, err)
	assert.Equal(t, idx, back)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")

	err = report.WriteIndex(filepath.Join(dir, "missing", "index.json"), idx)
	assert.Error(t, err)
}

func TestCompareCaseIDs(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.9", "1.2.10", -1},
		{"1.2.10", "1.2.9", 1},
		{"9.8.6", "10.1.1", -1},
		{"3", "3.1", -1},
		{"3.4", "3.1", 1},
		{"12.1.1", "2.1", 1},
		{"1.1.1", "1.1.1", 0},
		{"1.01", "1.1", -1}, // numerically equal: byte order decides, never 0
		{"1.x", "1.2", 1},   // non-numbers after numbers
		{"1.a", "1.b", -1},
		{"99999999999999999999999", "100000000000000000000000", -1}, // no overflow
		{"", "1", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, report.CompareCaseIDs(tt.a, tt.b))
			assert.Equal(t, -tt.want, report.CompareCaseIDs(tt.b, tt.a), "antisymmetric")
		})
	}
}

func TestSortedCaseIDs(t *testing.T) {
	want := []string{"1.1.1", "1.1.2", "1.1.10", "2.1", "3.4", "5.9", "5.10", "6.4.1", "9.1.1", "10.1.1", "12.1.1", "12.1.18", "13.7.18"}
	m := map[string]report.CaseResult{}
	for _, id := range want {
		m[id] = report.CaseResult{}
	}
	assert.Equal(t, want, report.SortedCaseIDs(m))

	shuffled := slices.Clone(want)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	slices.SortFunc(shuffled, report.CompareCaseIDs)
	assert.Equal(t, want, shuffled)
}

func TestGroup(t *testing.T) {
	tests := []struct{ id, top, sub string }{
		{"1.1.1", "1", "1.1"},
		{"12.3.10", "12", "12.3"},
		{"3.4", "3", "3"},
		{"5", "5", "5"},
		{"1.2.3.4", "1", "1.2"},
	}
	for _, tt := range tests {
		top, sub := report.Group(tt.id)
		assert.Equal(t, tt.top, top, tt.id)
		assert.Equal(t, tt.sub, sub, tt.id)
	}
}

func TestParseAllowlist(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    report.Allowlist
		wantErr string
	}{
		{"empty", "", report.Allowlist{}, ""},
		{"comments and blanks", "# header\n\n   # indented comment\n\t\n", report.Allowlist{}, ""},
		{"spaces, tabs, glob", "6.4.1   fails at the end\n6.4.*\tper message\r\n 7.1.[0-9]  indented ok \n",
			report.Allowlist{"6.4.1": "fails at the end", "6.4.*": "per message", "7.1.[0-9]": "indented ok"}, ""},
		{"missing reason", "6.4.1  ok\n6.4.2\n", nil, `line 2: "6.4.2" has no reason`},
		{"reason only blanks", "6.4.2 \t \n", nil, `line 1: "6.4.2" has no reason`},
		{"letters", "abc reason\n", nil, `line 1: "abc": byte 'a' is not allowed`},
		{"bad glob", "6.[ reason\n", nil, `line 1: "6.[": bad glob`},
		{"slash", "6/4 reason\n", nil, `byte '/' is not allowed`},
		{"duplicate", "6.4.1 a\n6.4.1 b\n", nil, `line 2: "6.4.1" is listed twice`},
		{"too long pattern", strings.Repeat("1", 65) + " r\n", nil, "longer than 64 bytes"},
		{"too long line", "6.4.1 " + strings.Repeat("r", 5000) + "\n", nil, "line 1: longer than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := report.ParseAllowlist(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadAllowlistFiles(t *testing.T) {
	_, err := report.ReadAllowlist("testdata/allow-no-reason.txt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `allow-no-reason.txt: line 3: "6.4.2" has no reason`)

	_, err = report.ReadAllowlist("testdata/none.txt")
	assert.ErrorIs(t, err, os.ErrNotExist)

	// The project's own allowlist parses and, by policy, allows nothing.
	allow, err := report.ReadAllowlist("../allowlist.txt")
	require.NoError(t, err)
	assert.Empty(t, allow)
}

func TestAllowlistReason(t *testing.T) {
	allow := report.Allowlist{"6.4.*": "glob", "6.4.2": "exact", "6.*": "wide", "7.1.?": "one char"}
	tests := []struct {
		id, want string
		ok       bool
	}{
		{"6.4.2", "exact", true}, // exact beats globs
		{"6.4.1", "wide", true},  // globs are tried in byte order, and "6.*" < "6.4.*"
		{"6.5.1", "wide", true},
		{"7.1.6", "one char", true},
		{"7.1.10", "", false},
		{"1.1.1", "", false},
	}
	for _, tt := range tests {
		got, ok := allow.Reason(tt.id)
		assert.Equal(t, tt.ok, ok, tt.id)
		assert.Equal(t, tt.want, got, tt.id)
	}
	var none report.Allowlist
	_, ok := none.Reason("6.4.1")
	assert.False(t, ok)
}

func TestSummarize(t *testing.T) {
	idx := report.Index{
		"b": {
			"1.1.1":  {Behavior: report.OK, BehaviorClose: report.CloseOK},
			"1.1.2":  {Behavior: report.NonStrict, BehaviorClose: report.CloseOK},
			"7.1.6":  {Behavior: report.Informational, BehaviorClose: report.CloseInformational},
			"7.5.1":  {Behavior: report.Failed, BehaviorClose: report.CloseWrongCode},
			"13.3.1": {Behavior: report.Unimplemented, BehaviorClose: report.CloseOK},
			"8.1":    {Behavior: "ODD", BehaviorClose: report.CloseUnclean},
		},
		"a": {},
	}
	s := report.Summarize(idx)
	require.Len(t, s, 2)
	assert.Equal(t, "a", s[0].Agent)
	assert.Equal(t, 0, s[0].Total.Cases)
	assert.Len(t, s[0].Groups, len(report.StandardGroups()))

	b := s[1]
	var groups []string
	for _, g := range b.Groups {
		groups = append(groups, g.Group)
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "13"}, groups, "standard rows plus the odd group 8, in order")
	assert.Equal(t, 6, b.Total.Cases)
	assert.Equal(t, 1, b.Total.OtherBehavior())
	assert.Equal(t, 2, b.Total.OtherClose())
	g7 := b.Groups[6]
	assert.Equal(t, "7", g7.Group)
	assert.Equal(t, 2, g7.Cases)
	assert.Equal(t, map[string]int{report.Informational: 1, report.Failed: 1}, g7.Behavior)
	assert.Equal(t, map[string]int{report.CloseInformational: 1, report.CloseWrongCode: 1}, g7.Close)
}

func TestWriteTable(t *testing.T) {
	idx, err := report.ReadIndex("testdata/one-failed.json")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, report.WriteTable(&buf, report.Summarize(idx)[0]))
	want := `  group  cases  OK  NON-STRICT  INFORMATIONAL  UNIMPLEMENTED  FAILED  other  close OK  close INFO  close other
      1      1   1           0              0              0       0      0         1           0            0
      2      0   0           0              0              0       0      0         0           0            0
      3      0   0           0              0              0       0      0         0           0            0
      4      0   0           0              0              0       0      0         0           0            0
      5      1   0           0              0              0       1      0         0           0            1
      6      0   0           0              0              0       0      0         0           0            0
      7      1   1           0              0              0       0      0         1           0            0
      9      0   0           0              0              0       0      0         0           0            0
     10      0   0           0              0              0       0      0         0           0            0
     12      0   0           0              0              0       0      0         0           0            0
     13      0   0           0              0              0       0      0         0           0            0
  total      3   2           0              0              0       1      0         2           0            1
`
	assert.Equal(t, want, buf.String())
}

func TestWriteReport(t *testing.T) {
	idx, err := report.ReadIndex("testdata/non-strict.json")
	require.NoError(t, err)
	allow := report.Allowlist{"6.4.1": "checked per message", "9.*": "unused entry"}
	var buf bytes.Buffer
	problems, err := report.WriteReport(&buf, idx, allow)
	require.NoError(t, err)
	require.Len(t, problems, 1)
	out := buf.String()
	assert.True(t, strings.HasPrefix(out, "agent testee: 3 cases\n  group  cases"), out)
	assert.Contains(t, out, "allowlisted NON-STRICT (1):\n  testee 6.4.1: checked per message\n\n")
	assert.Contains(t, out, "allowlist entries that matched no NON-STRICT case (consider removing): 9.*\n")
	assert.Contains(t, out, "problems (1):\n  testee 6.4.2: behavior=NON-STRICT close=OK: NON-STRICT and not in the allowlist\n")
	assert.True(t, strings.HasSuffix(out, "\nFAIL: 1 problems in 3 cases\n"), out)

	idx, err = report.ReadIndex("testdata/all-ok.json")
	require.NoError(t, err)
	buf.Reset()
	problems, err = report.WriteReport(&buf, idx, nil)
	require.NoError(t, err)
	assert.Empty(t, problems)
	assert.True(t, strings.HasSuffix(buf.String(), "\n\nPASS: 5 cases\n"), buf.String())

	_, err = report.WriteReport(failWriter{}, idx, nil)
	assert.Error(t, err)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestLoadIndexes(t *testing.T) {
	dir := t.TempDir()
	other, err := report.ReadIndex("testdata/all-ok.json")
	require.NoError(t, err)
	require.NoError(t, report.WriteIndex(filepath.Join(dir, "index.json"), report.Index{"other": other["testee"]}))

	idx, err := report.LoadIndexes([]string{"testdata/one-failed.json", dir})
	require.NoError(t, err)
	assert.Equal(t, []string{"other", "testee"}, report.SortedAgents(idx))
	assert.Len(t, idx["other"], 5)
	assert.Len(t, idx["testee"], 3)

	_, err = report.LoadIndexes([]string{"testdata/one-failed.json", "testdata/all-ok.json"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `agent "testee" is in both testdata/one-failed.json and testdata/all-ok.json`)

	_, err = report.LoadIndexes(nil)
	assert.EqualError(t, err, "no index files given")

	_, err = report.LoadIndexes([]string{"testdata"}) // a directory without index.json
	assert.ErrorIs(t, err, os.ErrNotExist)

	_, err = report.LoadIndexes([]string{"testdata/malformed.json"})
	assert.ErrorContains(t, err, "malformed JSON")

	sel, err := report.SelectAgent(idx, "other")
	require.NoError(t, err)
	assert.Equal(t, []string{"other"}, report.SortedAgents(sel))
	_, err = report.SelectAgent(idx, "nobody")
	assert.EqualError(t, err, `agent "nobody" not found; the index has: other, testee`)
}

// TestConfigs checks the real suite's config files: every case, no
// exclusions, the agent and ports the README documents, reports under
// autobahn/reports/.
func TestConfigs(t *testing.T) {
	type server struct {
		Agent string `json:"agent"`
		URL   string `json:"url"`
	}
	type config struct {
		URL               string              `json:"url"`
		Outdir            string              `json:"outdir"`
		Servers           []server            `json:"servers"`
		Cases             []string            `json:"cases"`
		ExcludeCases      []string            `json:"exclude-cases"`
		ExcludeAgentCases map[string][]string `json:"exclude-agent-cases"`
	}
	read := func(name string) config {
		data, err := os.ReadFile(filepath.Join("..", "config", name))
		require.NoError(t, err)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var c config
		require.NoError(t, dec.Decode(&c), name)
		assert.Equal(t, []string{"*"}, c.Cases, name)
		assert.Empty(t, c.ExcludeCases, name)
		assert.NotNil(t, c.ExcludeCases, name)
		assert.Empty(t, c.ExcludeAgentCases, name)
		return c
	}
	fc := read("fuzzingclient.json")
	assert.Equal(t, "./reports/server", fc.Outdir)
	assert.Equal(t, []server{{Agent: "ws6455", URL: "ws://127.0.0.1:9001"}}, fc.Servers)

	fs := read("fuzzingserver.json")
	assert.Equal(t, "./reports/client", fs.Outdir)
	assert.Equal(t, "ws://127.0.0.1:9002", fs.URL)
	assert.Empty(t, fs.Servers)
}
