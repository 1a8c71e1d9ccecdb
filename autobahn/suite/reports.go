package suite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
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

// WriteReports writes the reports of one agent's run into dir: one JSON
// file per case, index.json in the real suite's layout (merged with an
// existing index.json there, so several agents can share a directory), and
// index.html, a static summary with a table per group and a section per
// case.
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
	return writeHTML(filepath.Join(dir, "index.html"), idx, dir)
}

type htmlCase struct {
	ID, Behavior, BehaviorClose string
	Duration                    int64
	Anchor                      string
	Res                         *Result
	Wire                        []string
}

type htmlGroup struct {
	Name  string
	Cases []htmlCase
}

type htmlAgent struct {
	Name   string
	Counts map[string]int
	Groups []htmlGroup
}

// writeHTML renders the summary page for every agent in idx, reading the
// per-case reports back from dir for the case sections.
func writeHTML(path string, idx report.Index, dir string) error {
	var agents []htmlAgent
	for _, name := range report.SortedAgents(idx) {
		a := htmlAgent{Name: name, Counts: map[string]int{}}
		byGroup := map[string]*htmlGroup{}
		var order []string
		for _, id := range report.SortedCaseIDs(idx[name]) {
			cr := idx[name][id]
			top, _ := report.Group(id)
			g := byGroup[top]
			if g == nil {
				g = &htmlGroup{Name: top}
				byGroup[top] = g
				order = append(order, top)
			}
			hc := htmlCase{ID: id, Behavior: cr.Behavior, BehaviorClose: cr.BehaviorClose, Duration: cr.Duration,
				Anchor: reportPrefix(name) + "_" + strings.ReplaceAll(id, ".", "_")}
			if b, err := os.ReadFile(filepath.Join(dir, cr.ReportFile)); err == nil {
				var res Result
				if json.Unmarshal(b, &res) == nil {
					hc.Res = &res
					hc.Wire = wireLines(res.Wirelog)
				}
			}
			g.Cases = append(g.Cases, hc)
			a.Counts[cr.Behavior]++
		}
		for _, top := range order {
			a.Groups = append(a.Groups, *byGroup[top])
		}
		agents = append(agents, a)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, agents); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// wireLines renders a wire log for people, one entry a line.
func wireLines(log []any) []string {
	var out []string
	for i, w := range log {
		e, ok := w.([]any)
		if !ok || len(e) == 0 {
			continue
		}
		var s string
		switch e[0] {
		case "TO", "RO":
			s = fmt.Sprintf("%s %v", map[any]string{"TO": "sent octets", "RO": "received octets"}[e[0]], e[1])
		case "TF":
			if len(e) >= 9 {
				s = fmt.Sprintf("sent frame: opcode %v fin %v rsv %v mask %v repeat %v chop %v sync %v payload %v", e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[1])
			}
		case "RF":
			if len(e) >= 7 {
				s = fmt.Sprintf("received frame: opcode %v fin %v rsv %v masked %v payload %v", e[2], e[3], e[4], e[5], e[1])
			}
		case "KL":
			s = fmt.Sprintf("fail the connection after %v s", e[1:])
		case "KLE":
			s = "failing the connection"
		case "TI":
			s = fmt.Sprintf("close after %v s", e[1:])
		case "TIE":
			s = "closing"
		case "CT":
			s = fmt.Sprintf("continue after %v s", e[1:])
		case "CTE":
			s = fmt.Sprintf("continuing %v", e[1:])
		case "WLM":
			s = fmt.Sprintf("wire log on: %v", e[1:])
		default:
			s = fmt.Sprint(e...)
		}
		out = append(out, fmt.Sprintf("%03d %s", i, s))
	}
	return out
}

var verdictClass = map[string]string{
	report.OK: "ok", report.NonStrict: "nonstrict", report.Informational: "info",
	report.Unimplemented: "unimpl", report.Failed: "failed",
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"class": func(v string) string {
		if c, ok := verdictClass[v]; ok {
			return c
		}
		return "failed"
	},
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"sortedKeys": func(m map[string]int) []string {
		var k []string
		for s := range m {
			k = append(k, s)
		}
		slices.Sort(k)
		return k
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>WebSocket conformance report</title>
<style>
body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.ok{background:#cfc}.nonstrict{background:#ffc}.info{background:#ccf}.unimpl{background:#eee}.failed{background:#fcc}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%}
</style></head><body>
<h1>WebSocket conformance report</h1>
<p>Built-in Autobahn-style suite of ws6455. Behaviour verdicts: OK, NON-STRICT (acceptable, not what the RFC prefers), INFORMATIONAL (recorded only), UNIMPLEMENTED (optional feature declined), FAILED.</p>
{{range .}}{{$agent := .Name}}{{$counts := .Counts}}
<h2>Agent {{.Name}}</h2>
<p>{{range $k := sortedKeys .Counts}}{{$k}}: {{index $counts $k}} &nbsp; {{end}}</p>
{{range .Groups}}<h3>Group {{.Name}}</h3>
<table><tr><th>Case</th><th>Behaviour</th><th>Close</th><th>ms</th></tr>
{{range .Cases}}<tr><td><a href="#{{.Anchor}}">{{.ID}}</a></td><td class="{{class .Behavior}}">{{.Behavior}}</td><td class="{{class .BehaviorClose}}">{{.BehaviorClose}}</td><td>{{.Duration}}</td></tr>
{{end}}</table>
{{end}}
{{range .Groups}}{{range .Cases}}<section id="{{.Anchor}}"><h3>{{$agent}}: case {{.ID}}</h3>
{{with .Res}}<p><b>What it does:</b> {{.Description}}</p><p><b>Expected:</b> {{.Expectation}}</p>
<p><b>Behaviour:</b> <span class="{{class .Behavior}}">{{.Behavior}}</span> &mdash; {{.Result}}<br>
<b>Close:</b> <span class="{{class .BehaviorClose}}">{{.BehaviorClose}}</span> &mdash; {{.ResultClose}}</p>
<p><b>Expected events:</b> <code>{{json .Expected}}</code><br><b>Received events:</b> <code>{{json .Received}}</code><br>
<b>Expected close:</b> <code>{{json .ExpectedClose}}</code><br>
<b>Closed by suite:</b> {{.ClosedByMe}}, <b>TCP dropped by suite:</b> {{.DroppedByMe}}, <b>clean:</b> {{.WasClean}}, <b>peer's close code:</b> {{if .RemoteCloseCode}}{{.RemoteCloseCode}}{{else}}none{{end}}</p>
{{end}}<pre>{{range .Wire}}{{.}}
{{end}}</pre></section>
{{end}}{{end}}
{{end}}
</body></html>
`))
