package suite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/ws6455/ws6455/autobahn/report"
)

func parseHTMLFile(t *testing.T, path string) *html.Node {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	doc, err := html.Parse(f)
	require.NoError(t, err)
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	return class == "" || strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

// findAll returns the elements named tag with class (any when "") under n,
// in document order.
func findAll(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && hasClass(n, class) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

// children returns n's element children named tag.
func children(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag {
			out = append(out, c)
		}
	}
	return out
}

func byID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode && attr(n, "id") == id {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := byID(c, id); f != nil {
			return f
		}
	}
	return nil
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

func texts(ns []*html.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = textOf(n)
	}
	return out
}

// fakeResult is a finished case with the given verdicts and a short wire
// log (handshake octets, a frame each way, a timer).
func fakeResult(id, behavior, closeVerdict string, code int) *Result {
	c := caseByID(id)
	res := &Result{
		ID: id, Description: c.Description, Expectation: c.Expectation,
		Behavior: behavior, BehaviorClose: closeVerdict, Result: "result of " + id, ResultClose: "close result of " + id,
		Duration: 7, Expected: map[string][][]any{"OK": {{"message", "Hello", false}}}, Received: [][]any{{"message", "Hello", false}},
		ExpectedClose: map[string]any{"closedByMe": true, "closeCode": []int{1000}, "requireClean": true},
		Wirelog: []any{
			[]any{"TO", []any{5, "474554202f"}, false},
			[]any{"TF", []any{5, "Hello"}, 1, true, 0, "01020304", nil, nil, false},
			[]any{"RF", []any{5, "Hello"}, 1, true, 0, false, nil},
			[]any{"KL", 1.5},
		},
		RxFrameStats: map[string]int{"1": 1}, TxFrameStats: map[string]int{"1": 1, "8": 1},
	}
	if code != 0 {
		res.RemoteCloseCode = &code
	}
	return res
}

// TestIndexHTMLSideBySide checks the structure of index.html for two
// agents that ran different cases: one column per agent in both tables,
// one row per case with a cell per agent classed by its verdict (missing
// cases included), and per-group summaries that take the worst verdict.
func TestIndexHTMLSideBySide(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteReports(dir, "alpha", []*Result{
		fakeResult("1.1.1", report.OK, report.CloseOK, 1000),
		fakeResult("2.5", report.Failed, report.CloseOK, 1002),
		fakeResult("6.4.1", report.NonStrict, report.CloseOK, 1007),
	}))
	require.NoError(t, WriteReports(dir, "beta", []*Result{
		fakeResult("1.1.1", report.OK, report.CloseWrongCode, 1001),
		fakeResult("2.5", report.OK, report.CloseOK, 1002),
		fakeResult("7.1.6", report.Informational, report.CloseInformational, 1000),
		fakeResult("12.1.1", report.Unimplemented, report.CloseOK, 1000),
	}))
	doc := parseHTMLFile(t, filepath.Join(dir, "index.html"))
	agents := []string{"alpha", "beta"}

	cases := byID(doc, "cases")
	require.NotNil(t, cases)
	require.Equal(t, agents, texts(findAll(cases, "th", "agent")))
	want := map[string][2]string{
		"1.1.1":  {"ok", "failed"}, // beta's close code is wrong
		"2.5":    {"failed", "ok"},
		"6.4.1":  {"nonstrict", "missing"},
		"7.1.6":  {"missing", "info"},
		"12.1.1": {"missing", "unimpl"},
	}
	rows := findAll(cases, "tr", "case")
	require.Len(t, rows, len(want))
	var order []string
	for _, row := range rows {
		id := attr(row, "data-case")
		order = append(order, id)
		tds := children(row, "td")
		require.Len(t, tds, 1+len(agents), "case %s: one cell per agent", id)
		require.Equal(t, id, textOf(tds[0]))
		for i, a := range agents {
			cell := tds[1+i]
			require.Equal(t, a, attr(cell, "data-agent"))
			require.True(t, hasClass(cell, "verdict"), id)
			require.True(t, hasClass(cell, want[id][i]), "case %s agent %s: class %q, want %q", id, a, attr(cell, "class"), want[id][i])
			links := findAll(cell, "a", "")
			if want[id][i] == "missing" {
				require.Empty(t, links)
				require.Contains(t, textOf(cell), "MISSING")
				continue
			}
			require.Len(t, links, 1)
			href := attr(links[0], "href")
			require.Equal(t, ReportFileName(a, id)[:len(ReportFileName(a, id))-len(".json")]+".html", href)
			_, err := os.Stat(filepath.Join(dir, href))
			require.NoError(t, err)
		}
	}
	require.Equal(t, []string{"1.1.1", "2.5", "6.4.1", "7.1.6", "12.1.1"}, order, "catalogue order")

	// Group rows in the cases table and in the summary.
	groups := findAll(cases, "tbody", "group")
	require.Equal(t, []string{"1", "2", "6", "7", "12"}, attrs(groups, "data-group"))
	wantGroup := map[string][2]string{"1": {"ok", "failed"}, "2": {"failed", "ok"}, "6": {"nonstrict", "missing"}, "7": {"missing", "ok"}, "12": {"missing", "unimpl"}}
	summary := byID(doc, "summary")
	require.Equal(t, agents, texts(findAll(summary, "th", "agent")))
	srows := findAll(summary, "tr", "group-summary")
	require.Len(t, srows, len(groups))
	for i, g := range groups {
		name := attr(g, "data-group")
		head := findAll(g, "tr", "group-head")
		require.Len(t, head, 1)
		for _, tr := range []*html.Node{head[0], srows[i]} {
			tds := children(tr, "td")
			if tr == srows[i] {
				require.Equal(t, name, attr(tr, "data-group"))
				tds = tds[1:]
			}
			require.Len(t, tds, len(agents))
			for j := range agents {
				require.True(t, hasClass(tds[j], wantGroup[name][j]), "group %s agent %s: %q", name, agents[j], attr(tds[j], "class"))
			}
		}
	}
	total := findAll(summary, "tr", "total")
	require.Len(t, total, 1)
	tds := children(total[0], "td")
	require.Equal(t, []string{"1 OK, 1 NON-STRICT, 1 FAILED, 2 missing", "2 OK, 1 INFORMATIONAL, 1 UNIMPLEMENTED, 1 close failed, 1 missing"}, texts(tds))
	require.True(t, hasClass(tds[0], "failed"))
	require.True(t, hasClass(tds[1], "failed"), "beta's wrong close code fails its total")
}

func attrs(ns []*html.Node, key string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = attr(n, key)
	}
	return out
}

// TestCaseHTML checks a case page: the texts, the verdicts with their
// classes, and a wire log row per entry with direction and frame details.
func TestCaseHTML(t *testing.T) {
	dir := t.TempDir()
	res := fakeResult("2.5", report.Failed, report.CloseWrongCode, 1002)
	require.NoError(t, WriteReports(dir, "alpha", []*Result{res}))
	doc := parseHTMLFile(t, filepath.Join(dir, "alpha_case_2_5.html"))
	v := byID(doc, "verdict")
	require.NotNil(t, v)
	require.Equal(t, res.Description, textOf(findAll(v, "td", "description")[0]))
	require.Equal(t, res.Expectation, textOf(findAll(v, "td", "expectation")[0]))
	failed := findAll(v, "td", "failed")
	require.Len(t, failed, 2, "behaviour and close cells")
	require.Contains(t, textOf(failed[0]), "FAILED: result of 2.5")
	require.Contains(t, textOf(failed[1]), "WRONG CODE: close result of 2.5")

	rows := findAll(byID(doc, "wirelog"), "tr", "")
	rows = rows[1:] // header
	require.Len(t, rows, 4)
	cells := func(r *html.Node) []string { return texts(children(r, "td")) }
	require.Equal(t, []string{"0", "sent", "octets", "", "5 bytes", "474554202f"}, cells(rows[0]))
	require.Equal(t, []string{"1", "sent", "frame 1 (text)", "FIN, mask 01020304", "5 bytes", "Hello"}, cells(rows[1]))
	require.Equal(t, []string{"2", "received", "frame 1 (text)", "FIN", "5 bytes", "Hello"}, cells(rows[2]))
	require.Equal(t, []string{"3", "", "timer", "fail the connection after 1.5 s", "", ""}, cells(rows[3]))
	require.True(t, hasClass(rows[1], "sent"))
	require.True(t, hasClass(rows[2], "received"))
	require.Contains(t, textOf(doc), "1 text, 1 close")
	pres := texts(findAll(doc, "pre", ""))
	require.Equal(t, "OK:\n  [\"message\",\"Hello\",false]", pres[0], "expected events, one a line")
	require.Equal(t, `["message","Hello",false]`, pres[1], "received events")
	links := findAll(doc, "a", "")
	require.Equal(t, []string{"index.html", "alpha_case_2_5.json"}, attrs(links, "href"))
}
