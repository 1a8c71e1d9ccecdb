package suite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ws6455/ws6455/autobahn/report"
)

// The HTML reports: index.html shows every agent side by side (a column
// per agent, a row per case, a summary row per group, cells coloured by
// verdict) and links each cell to the case's own page, which shows the
// description, the expectation, the verdicts with their reasons and the
// wire log as a table.

// groupTitles names the catalogue's groups in the reports.
var groupTitles = map[string]string{
	"1":  "Framing",
	"2":  "Pings and pongs",
	"3":  "Reserved bits",
	"4":  "Opcodes",
	"5":  "Fragmentation",
	"6":  "UTF-8 handling",
	"7":  "Close handling",
	"9":  "Limits and performance",
	"10": "Auto-fragmentation",
	"12": "Compression (permessage-deflate), payloads",
	"13": "Compression (permessage-deflate), parameters",
}

// Verdict classes. A group's summary takes the worst class of its cases,
// INFORMATIONAL counting as OK (it passes).
const (
	clsOK        = "ok"
	clsInfo      = "info"
	clsNonStrict = "nonstrict"
	clsUnimpl    = "unimpl"
	clsFailed    = "failed"
	clsMissing   = "missing"
)

var classRank = map[string]int{clsOK: 0, clsInfo: 0, clsNonStrict: 2, clsUnimpl: 3, clsMissing: 4, clsFailed: 5}

// behaviorClass is the class of a behaviour verdict.
func behaviorClass(v string) string {
	switch v {
	case report.OK:
		return clsOK
	case report.Informational:
		return clsInfo
	case report.NonStrict:
		return clsNonStrict
	case report.Unimplemented:
		return clsUnimpl
	}
	return clsFailed
}

// closeClass is the class of a close verdict.
func closeClass(v string) string {
	switch v {
	case report.CloseOK:
		return clsOK
	case report.CloseInformational:
		return clsInfo
	}
	return clsFailed
}

// cellClass is the class of a case for an agent: its behaviour's, unless
// the close verdict fails, which fails the case (as the checker says).
func cellClass(cr report.CaseResult) string {
	if closeClass(cr.BehaviorClose) == clsFailed {
		return clsFailed
	}
	return behaviorClass(cr.Behavior)
}

func caseHTMLName(jsonName string) string {
	return strings.TrimSuffix(jsonName, ".json") + ".html"
}

type indexCell struct {
	Agent    string
	Class    string
	Behavior string
	Close    string
	Duration int64
	Code     string
	Link     string
}

type indexRow struct {
	ID    string
	Cells []indexCell
}

type groupCell struct {
	Agent string
	Class string
	Text  string
}

type indexGroup struct {
	Name, Title string
	Summary     []groupCell
	Rows        []indexRow
}

type indexPage struct {
	Generated string
	Agents    []string
	Groups    []indexGroup
	Totals    []groupCell
}

// closeFailKey counts, among a group's verdicts, the cases whose close
// verdict fails (whatever their behaviour).
const closeFailKey = "\x00close"

// summaryText counts verdicts in a fixed order: "16 OK", "14 OK, 2 FAILED",
// "7 OK, 7 close failed".
func summaryText(counts map[string]int, missing int) string {
	var parts []string
	for _, v := range []string{report.OK, report.NonStrict, report.Informational, report.Unimplemented, report.Failed} {
		if n := counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	for v, n := range counts {
		switch v {
		case report.OK, report.NonStrict, report.Informational, report.Unimplemented, report.Failed, closeFailKey:
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	if n := counts[closeFailKey]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d close failed", n))
	}
	if missing > 0 {
		parts = append(parts, fmt.Sprintf("%d missing", missing))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// buildIndexPage lays out idx: a row per case any agent ran, a column per
// agent. dir is where the case pages are looked for (a case without one
// links to its JSON report).
func buildIndexPage(idx report.Index, dir string) indexPage {
	page := indexPage{Generated: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Agents: report.SortedAgents(idx)}
	union := map[string]report.CaseResult{}
	for _, a := range page.Agents {
		for id, cr := range idx[a] {
			union[id] = cr
		}
	}
	totals := make([]map[string]int, len(page.Agents))
	totalMissing := make([]int, len(page.Agents))
	totalClass := make([]string, len(page.Agents))
	for i := range totals {
		totals[i] = map[string]int{}
		totalClass[i] = clsOK
	}
	var cur *indexGroup
	var counts []map[string]int
	var missing []int
	flush := func() {
		if cur == nil {
			return
		}
		for i, a := range page.Agents {
			cur.Summary[i] = groupCell{Agent: a, Class: cur.Summary[i].Class, Text: summaryText(counts[i], missing[i])}
		}
		page.Groups = append(page.Groups, *cur)
	}
	for _, id := range report.SortedCaseIDs(union) {
		top, _ := report.Group(id)
		if cur == nil || cur.Name != top {
			flush()
			title := groupTitles[top]
			if title == "" {
				title = "Group " + top
			}
			cur = &indexGroup{Name: top, Title: title, Summary: make([]groupCell, len(page.Agents))}
			counts = make([]map[string]int, len(page.Agents))
			missing = make([]int, len(page.Agents))
			for i := range counts {
				counts[i] = map[string]int{}
				cur.Summary[i].Class = clsOK
			}
		}
		row := indexRow{ID: id}
		for i, a := range page.Agents {
			cr, ok := idx[a][id]
			var cell indexCell
			if !ok {
				cell = indexCell{Agent: a, Class: clsMissing, Behavior: "MISSING"}
				missing[i]++
				totalMissing[i]++
			} else {
				cell = indexCell{Agent: a, Class: cellClass(cr), Behavior: cr.Behavior, Close: cr.BehaviorClose, Duration: cr.Duration}
				if cr.RemoteCloseCode != nil {
					cell.Code = fmt.Sprint(*cr.RemoteCloseCode)
				}
				if cr.ReportFile != "" {
					cell.Link = cr.ReportFile
					if _, err := os.Stat(filepath.Join(dir, caseHTMLName(cr.ReportFile))); err == nil {
						cell.Link = caseHTMLName(cr.ReportFile)
					}
				}
				counts[i][cr.Behavior]++
				totals[i][cr.Behavior]++
				if closeClass(cr.BehaviorClose) == clsFailed {
					counts[i][closeFailKey]++
					totals[i][closeFailKey]++
				}
			}
			if classRank[cell.Class] > classRank[cur.Summary[i].Class] {
				cur.Summary[i].Class = cell.Class
			}
			if classRank[cell.Class] > classRank[totalClass[i]] {
				totalClass[i] = cell.Class
			}
			row.Cells = append(row.Cells, cell)
		}
		cur.Rows = append(cur.Rows, row)
	}
	flush()
	for i, a := range page.Agents {
		page.Totals = append(page.Totals, groupCell{Agent: a, Class: totalClass[i], Text: summaryText(totals[i], totalMissing[i])})
	}
	return page
}

// writeIndexHTML writes index.html for every agent in idx.
func writeIndexHTML(path string, idx report.Index, dir string) error {
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, buildIndexPage(idx, dir)); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// wireRow is one wire log entry made readable.
type wireRow struct {
	N         int
	Dir       string // "sent", "received" or "" (a timer or a note)
	Kind      string
	Detail    string
	Data      string
	DataBytes string
}

var opcodeNames = map[int]string{0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

func num(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), true
	case int:
		return x, true
	}
	return 0, false
}

// dataOf renders a logged payload ([length, text-or-hex]).
func dataOf(v any) (length, text string) {
	p, ok := v.([]any)
	if !ok || len(p) != 2 {
		return "", fmt.Sprint(v)
	}
	n, _ := num(p[0])
	return fmt.Sprintf("%d bytes", n), fmt.Sprint(p[1])
}

func flag(name string, v any) string {
	if b, ok := v.(bool); ok && b {
		return name
	}
	return ""
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func secondsText(v any) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%g s", f)
	}
	return fmt.Sprint(v)
}

// wireRows turns a wire log (as read back from JSON, or as built by a run)
// into table rows.
func wireRows(log []any) []wireRow {
	var rows []wireRow
	for i, w := range log {
		e, ok := w.([]any)
		if !ok || len(e) == 0 {
			continue
		}
		r := wireRow{N: i}
		tag, _ := e[0].(string)
		arg := func(k int) any {
			if k < len(e) {
				return e[k]
			}
			return nil
		}
		switch tag {
		case "TO", "RO":
			r.Dir = map[string]string{"TO": "sent", "RO": "received"}[tag]
			r.Kind = "octets"
			r.DataBytes, r.Data = dataOf(arg(1))
			if tag == "TO" {
				r.Detail = flag("written on its own", arg(2))
			}
		case "TF", "RF":
			r.Dir = map[string]string{"TF": "sent", "RF": "received"}[tag]
			op, _ := num(arg(2))
			name := opcodeNames[op]
			if name == "" {
				name = "reserved"
			}
			r.Kind = fmt.Sprintf("frame %d (%s)", op, name)
			r.DataBytes, r.Data = dataOf(arg(1))
			rsv, _ := num(arg(4))
			fin := "FIN"
			if b, ok := arg(3).(bool); ok && !b {
				fin = "not FIN"
			}
			var rsvText, mask string
			if rsv != 0 {
				rsvText = fmt.Sprintf("RSV %03b", rsv)
			}
			if tag == "TF" {
				if m, ok := arg(5).(string); ok && m != "" {
					mask = "mask " + m
				}
				var rep, chop string
				if n, ok := num(arg(6)); ok {
					rep = fmt.Sprintf("payload repeated to %d bytes", n)
				}
				if n, ok := num(arg(7)); ok {
					chop = fmt.Sprintf("written in pieces of %d bytes", n)
				}
				r.Detail = joinNonEmpty(fin, rsvText, mask, rep, chop, flag("written on its own", arg(8)))
			} else {
				if m, ok := arg(6).(string); ok && m != "" {
					mask = "mask " + m
				} else if b, ok := arg(5).(bool); ok && b {
					mask = "masked"
				}
				r.Detail = joinNonEmpty(fin, rsvText, mask)
			}
		case "KL":
			r.Kind, r.Detail = "timer", "fail the connection after "+secondsText(arg(1))
		case "KLE":
			r.Kind, r.Detail = "timer", "time is up: failing the connection"
		case "TI":
			r.Kind, r.Detail = "timer", "close after "+secondsText(arg(1))
		case "TIE":
			r.Kind, r.Detail = "timer", "time is up: closing"
		case "CT":
			r.Kind, r.Detail = "timer", "continue after "+secondsText(arg(1))
			if t := arg(2); t != nil {
				r.Detail += fmt.Sprintf(" (%v)", t)
			}
		case "CTE":
			r.Kind, r.Detail = "timer", "continuing"
			if t := arg(1); t != nil {
				r.Detail += fmt.Sprintf(" (%v)", t)
			}
		case "WLM":
			r.Kind = "note"
			if b, ok := arg(1).(bool); ok && b {
				r.Detail = "wire log on again"
			} else {
				r.Detail = "wire log off (bulk traffic is not logged)"
			}
		default:
			r.Kind, r.Detail = tag, fmt.Sprint(e[1:]...)
		}
		rows = append(rows, r)
	}
	return rows
}

type casePage struct {
	Res          *Result
	Group        string
	BehaviorCls  string
	CloseCls     string
	Expected     string
	Received     string
	ExpClose     string
	Wire         []wireRow
	JSONName     string
	RxStats      string
	TxStats      string
	NotCleanWhy  string
	LocalReason  string
	RemoteReason string
}

// eventLines renders events one compact JSON array a line.
func eventLines(evs [][]any, indent string) string {
	if len(evs) == 0 {
		return indent + "(none)"
	}
	var lines []string
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			b = []byte(fmt.Sprint(e))
		}
		lines = append(lines, indent+string(b))
	}
	return strings.Join(lines, "\n")
}

// expectedLines renders the expected outcomes: each behaviour, then its
// events.
func expectedLines(m map[string][][]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+":\n"+eventLines(m[k], "  "))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, "\n")
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func statsText(m map[string]int) string {
	var parts []string
	for _, op := range []int{0, 1, 2, 8, 9, 10} {
		if n := m[fmt.Sprint(op)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, opcodeNames[op]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// writeCaseHTML writes the page of one case.
func writeCaseHTML(path string, res *Result) error {
	// The wire log holds Go values after a run and JSON values after a
	// read; a JSON round trip makes them the same.
	var wl []any
	if b, err := json.Marshal(res.Wirelog); err == nil {
		json.Unmarshal(b, &wl)
	}
	top, _ := report.Group(res.ID)
	p := casePage{
		Res: res, Group: top, BehaviorCls: behaviorClass(res.Behavior), CloseCls: closeClass(res.BehaviorClose),
		Expected: expectedLines(res.Expected), Received: eventLines(res.Received, ""), ExpClose: compactJSON(res.ExpectedClose),
		Wire: wireRows(wl), JSONName: res.ReportFile, RxStats: statsText(res.RxFrameStats), TxStats: statsText(res.TxFrameStats),
		NotCleanWhy: deref(res.WasNotCleanReason), LocalReason: deref(res.LocalCloseReason), RemoteReason: deref(res.RemoteCloseReason),
	}
	var buf bytes.Buffer
	if err := caseTemplate.Execute(&buf, p); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

const reportCSS = `
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}
table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}
a{color:inherit}
.ok{background:#a6e3a1}.info{background:#a8c7fa}.nonstrict{background:#f9e2af}
.unimpl{background:#d0d0d0}.failed{background:#f38ba8}.missing{background:#fff;color:#888}
td.verdict{white-space:nowrap;font-size:90%}
td.verdict small{color:#333}
tr.group-head th{background:#ddd;font-size:105%}
tr.group-head td{font-size:90%}
table.legend td{font-size:90%}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%;margin:0}
table.wire td{font-family:ui-monospace,monospace;font-size:80%}
table.wire td.data{word-break:break-all;max-width:60em}
tr.sent td.dir{color:#1e66f5}tr.received td.dir{color:#d20f39}
table.facts th{width:14em}
`

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>WebSocket conformance report</title>
<style>` + reportCSS + `</style></head><body>
<h1>WebSocket conformance report</h1>
<p>Written {{.Generated}} by the built-in Autobahn-style suite of ws6455 (wstest): {{len .Agents}} agent(s), {{len .Groups}} group(s). Each cell links to the case's own page.</p>
<table class="legend"><tr>
<td class="ok">OK: passed</td>
<td class="nonstrict">NON-STRICT: passed, but not the way the RFC prefers</td>
<td class="info">INFORMATIONAL: recorded only</td>
<td class="unimpl">UNIMPLEMENTED: optional feature declined</td>
<td class="failed">FAILED: failed (or the connection was not closed properly)</td>
<td class="missing">MISSING: not run for this agent</td>
</tr></table>
<h2>Summary</h2>
<table id="summary">
<thead><tr><th>Group</th>{{range .Agents}}<th class="agent">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Groups}}<tr class="group-summary" data-group="{{.Name}}"><td><a href="#group-{{.Name}}">{{.Name}} {{.Title}}</a></td>{{range .Summary}}<td class="{{.Class}}" data-agent="{{.Agent}}">{{.Text}}</td>{{end}}</tr>
{{end}}<tr class="total"><th>All cases</th>{{range .Totals}}<td class="{{.Class}}" data-agent="{{.Agent}}">{{.Text}}</td>{{end}}</tr>
</tbody></table>
<h2>Cases</h2>
<table id="cases">
<thead><tr><th>Case</th>{{range .Agents}}<th class="agent">{{.}}</th>{{end}}</tr></thead>
{{range .Groups}}<tbody id="group-{{.Name}}" class="group" data-group="{{.Name}}">
<tr class="group-head"><th>{{.Name}} {{.Title}}</th>{{range .Summary}}<td class="{{.Class}}" data-agent="{{.Agent}}">{{.Text}}</td>{{end}}</tr>
{{range .Rows}}<tr class="case" data-case="{{.ID}}"><td>{{.ID}}</td>{{range .Cells}}<td class="verdict {{.Class}}" data-agent="{{.Agent}}">{{if .Link}}<a href="{{.Link}}">{{.Behavior}}</a>{{else}}{{.Behavior}}{{end}}{{if .Close}}{{if ne .Close "OK"}} <small>close {{.Close}}</small>{{end}} <small>{{.Duration}} ms{{if .Code}}, {{.Code}}{{end}}</small>{{end}}</td>{{end}}</tr>
{{end}}</tbody>
{{end}}</table>
</body></html>
`))

var caseTemplate = template.Must(template.New("case").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Case {{.Res.ID}}, agent {{.Res.Agent}}</title>
<style>` + reportCSS + `</style></head><body>
<p><a href="index.html">All cases</a> · <a href="{{.JSONName}}">this case as JSON</a></p>
<h1>Case {{.Res.ID}} <small>agent {{.Res.Agent}}</small></h1>
<table class="facts" id="verdict">
<tr><th>What the suite does</th><td class="description">{{.Res.Description}}</td></tr>
<tr><th>What it expects</th><td class="expectation">{{.Res.Expectation}}</td></tr>
<tr><th>Behaviour</th><td class="{{.BehaviorCls}}"><b>{{.Res.Behavior}}</b>: {{.Res.Result}}</td></tr>
<tr><th>Close</th><td class="{{.CloseCls}}"><b>{{.Res.BehaviorClose}}</b>: {{.Res.ResultClose}}</td></tr>
<tr><th>Started, duration</th><td>{{.Res.Started}}, {{.Res.Duration}} ms</td></tr>
<tr><th>Suite played</th><td>{{if .Res.IsServer}}the server (a client was tested){{else}}the client (a server was tested){{end}}</td></tr>
</table>
<h2>Events</h2>
<table class="facts">
<tr><th>Expected</th><td><pre>{{.Expected}}</pre></td></tr>
<tr><th>Received</th><td><pre>{{.Received}}</pre></td></tr>
<tr><th>Expected close</th><td><pre>{{.ExpClose}}</pre></td></tr>
</table>
<h2>Closing</h2>
<table class="facts">
<tr><th>Closing handshake started by the suite</th><td>{{.Res.ClosedByMe}}</td></tr>
<tr><th>Connection failed by the suite</th><td>{{.Res.FailedByMe}}</td></tr>
<tr><th>TCP closed by the suite</th><td>{{.Res.DroppedByMe}}</td></tr>
<tr><th>Clean</th><td>{{.Res.WasClean}}{{if .NotCleanWhy}}: {{.NotCleanWhy}}{{end}}</td></tr>
<tr><th>Timeouts</th><td>opening handshake {{.Res.WasOpenHandshakeTimeout}}, closing handshake {{.Res.WasCloseHandshakeTimeout}}, server drop {{.Res.WasServerConnectionDropTimeout}}</td></tr>
<tr><th>Suite's close code, reason</th><td>{{with .Res.LocalCloseCode}}{{.}}{{else}}none{{end}}{{if .LocalReason}}, {{printf "%q" .LocalReason}}{{end}}</td></tr>
<tr><th>Peer's close code, reason</th><td>{{with .Res.RemoteCloseCode}}{{.}}{{else}}none{{end}}{{if .RemoteReason}}, {{printf "%q" .RemoteReason}}{{end}}</td></tr>
<tr><th>Frames received</th><td>{{.RxStats}}</td></tr>
<tr><th>Frames sent</th><td>{{.TxStats}}</td></tr>
</table>
<h2>Opening handshake</h2>
<table class="facts">
<tr><th>Request</th><td><pre>{{.Res.HTTPRequest}}</pre></td></tr>
<tr><th>Response</th><td><pre>{{.Res.HTTPResponse}}</pre></td></tr>
</table>
<h2>Wire log</h2>
<table class="wire" id="wirelog">
<thead><tr><th>#</th><th>Way</th><th>What</th><th>Details</th><th>Length</th><th>Payload (text, or hex after 0x)</th></tr></thead>
<tbody>
{{range .Wire}}<tr class="{{if .Dir}}{{.Dir}}{{else}}mark{{end}}"><td>{{.N}}</td><td class="dir">{{.Dir}}</td><td>{{.Kind}}</td><td>{{.Detail}}</td><td>{{.DataBytes}}</td><td class="data">{{.Data}}</td></tr>
{{end}}</tbody></table>
</body></html>
`))
