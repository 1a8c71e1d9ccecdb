package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ws6455/ws6455/autobahn/report"
)

// reportPrefix makes an agent name safe for file names, the way the real
// suite does: lower case letters and digits, everything else '_'.
func reportPrefix(agent string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(agent)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), "_")
	if s == "" {
		s = "agent"
	}
	return s
}

// ReportFileName is the name of a case's JSON report: the agent's name,
// "_case_" and the case id with dots as underscores, like the real suite's
// "gorilla_m_case_1_1_1.json".
func ReportFileName(agent, caseID string) string {
	return reportPrefix(agent) + "_case_" + strings.ReplaceAll(caseID, ".", "_") + ".json"
}

// WriteReports writes the reports of one agent's run into dir, as the real
// suite does: per case a JSON file and an HTML page (description,
// expectation, verdicts, wire log), index.json in the real suite's layout
// (merged with an existing index.json there, so several agents can share
// a directory), and index.html with every agent of index.json side by
// side.
func WriteReports(dir, agent string, results []*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	idxPath := filepath.Join(dir, "index.json")
	idx := report.Index{}
	if _, err := os.Stat(idxPath); err == nil {
		old, err := report.ReadIndex(idxPath)
		if err != nil {
			return fmt.Errorf("suite: existing %s: %w", idxPath, err)
		}
		idx = old
	}
	cases := idx[agent]
	if cases == nil {
		cases = map[string]report.CaseResult{}
		idx[agent] = cases
	}
	for _, res := range results {
		if res == nil {
			continue
		}
		res.ReportFile = ReportFileName(agent, res.ID)
		b, err := json.MarshalIndent(res, "", "   ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, res.ReportFile), b, 0o644); err != nil {
			return err
		}
		if err := writeCaseHTML(filepath.Join(dir, caseHTMLName(res.ReportFile)), res); err != nil {
			return err
		}
		cases[res.ID] = report.CaseResult{
			Behavior:        res.Behavior,
			BehaviorClose:   res.BehaviorClose,
			Duration:        res.Duration,
			RemoteCloseCode: res.RemoteCloseCode,
			ReportFile:      res.ReportFile,
		}
	}
	if err := report.WriteIndex(idxPath, idx); err != nil {
		return err
	}
	return writeIndexHTML(filepath.Join(dir, "index.html"), idx, dir)
}
