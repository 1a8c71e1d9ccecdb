package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
)

// referenceDir holds the real suite's results for other libraries. It sits
// in shared/, beside the clone of this repository (in CI too).
const referenceDir = "../../../shared/autobahn/reference"

// referenceIndex reads one reference folder's index.json, or skips the test
// when shared/ is not beside the clone.
func referenceIndex(t *testing.T, folder string) (report.Index, []byte) {
	t.Helper()
	p := filepath.Join(referenceDir, folder, "index.json")
	data, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		t.Skipf("reference results not present at %s", p)
	}
	require.NoError(t, err)
	idx, err := report.ReadIndex(p)
	require.NoError(t, err)
	return idx, data
}

// TestReferenceResults reads the real suite's index files and checks the
// counts that shared/autobahn/README.md states, the checker's verdict on
// them, and that writing an index back gives the real suite's exact bytes.
func TestReferenceResults(t *testing.T) {
	tests := []struct {
		folder, agent string
		behavior      map[string]int
		close         map[string]int
		problems      int
	}{
		{
			folder: "gorilla-server", agent: "gorilla-m",
			behavior: map[string]int{report.OK: 510, report.NonStrict: 4, report.Informational: 3},
			close:    map[string]int{report.CloseOK: 514, report.CloseInformational: 3},
			problems: 4,
		},
		{
			folder: "coder-server", agent: "coder",
			behavior: map[string]int{report.OK: 402, report.Informational: 3, report.Unimplemented: 36, report.Failed: 76},
			close:    map[string]int{report.CloseOK: 426, report.CloseInformational: 3, report.CloseFailed: 75, report.CloseFailedByClient: 12, report.CloseWrongCode: 1},
			problems: 36 + 76 + 12, // the 12 FAILED BY CLIENT cases have behaviour OK
		},
		{
			folder: "coder-client", agent: "coder-client",
			behavior: map[string]int{report.OK: 366, report.Informational: 3, report.Unimplemented: 72, report.Failed: 76},
			close:    map[string]int{report.CloseOK: 438, report.CloseInformational: 3, report.CloseFailed: 75, report.CloseWrongCode: 1},
			problems: 72 + 76,
		},
		{
			folder: "gorilla-client", agent: "gorilla-client",
			behavior: map[string]int{report.OK: 330, report.NonStrict: 4, report.Informational: 3, report.Unimplemented: 72, report.Failed: 108},
			close:    map[string]int{report.CloseOK: 406, report.CloseInformational: 3, report.CloseFailed: 108},
			problems: 4 + 72 + 108,
		},
	}
	for _, tt := range tests {
		t.Run(tt.folder, func(t *testing.T) {
			idx, raw := referenceIndex(t, tt.folder)
			require.Equal(t, []string{tt.agent}, report.SortedAgents(idx))
			assert.Len(t, idx[tt.agent], 517)

			s := report.Summarize(idx)
			require.Len(t, s, 1)
			assert.Equal(t, 517, s[0].Total.Cases)
			assert.Equal(t, tt.behavior, s[0].Total.Behavior)
			assert.Equal(t, tt.close, s[0].Total.Close)
			require.Len(t, s[0].Groups, len(report.StandardGroups()), "only the standard groups")
			for _, g := range s[0].Groups {
				assert.NotZero(t, g.Cases, "group %s present", g.Group)
			}

			assert.Len(t, report.Check(idx, nil), tt.problems)

			out, err := report.MarshalIndex(idx)
			require.NoError(t, err)
			assert.Equal(t, string(raw), string(out), "byte-identical to the real suite's index.json")
		})
	}
}

// TestReferenceDetails pins the README's statements about which cases carry
// which verdict.
func TestReferenceDetails(t *testing.T) {
	t.Run("gorilla-server NON-STRICT is 6.4.1-6.4.4, allowlistable", func(t *testing.T) {
		idx, _ := referenceIndex(t, "gorilla-server")
		var ids []string
		for _, p := range report.Check(idx, nil) {
			assert.Equal(t, report.NonStrict, p.Behavior)
			ids = append(ids, p.Case)
		}
		assert.Equal(t, []string{"6.4.1", "6.4.2", "6.4.3", "6.4.4"}, ids)
		assert.Empty(t, report.Check(idx, report.Allowlist{"6.4.*": "UTF-8 checked per message"}))
	})
	t.Run("coder-server UNIMPLEMENTED is 13.3 and 13.5", func(t *testing.T) {
		idx, _ := referenceIndex(t, "coder-server")
		for id, cr := range idx["coder"] {
			_, sub := report.Group(id)
			if cr.Behavior == report.Unimplemented {
				assert.Contains(t, []string{"13.3", "13.5"}, sub, id)
			}
		}
	})
	t.Run("gorilla-client fails all of 12 and 13.1", func(t *testing.T) {
		idx, _ := referenceIndex(t, "gorilla-client")
		for id, cr := range idx["gorilla-client"] {
			top, sub := report.Group(id)
			if top == "12" || sub == "13.1" {
				assert.Equal(t, report.Failed, cr.Behavior, id)
			}
		}
	})
	t.Run("INFORMATIONAL cases are 7.1.6, 7.13.1, 7.13.2 everywhere", func(t *testing.T) {
		for _, folder := range []string{"gorilla-server", "coder-server", "coder-client", "gorilla-client"} {
			idx, _ := referenceIndex(t, folder)
			for _, cases := range idx {
				var ids []string
				for _, id := range report.SortedCaseIDs(cases) {
					if cases[id].Behavior == report.Informational {
						ids = append(ids, id)
					}
				}
				assert.Equal(t, []string{"7.1.6", "7.13.1", "7.13.2"}, ids, folder)
			}
		}
	})
}
