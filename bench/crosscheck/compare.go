package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ws6455/ws6455/autobahn/report"
)

// verdicts are the two verdicts the cross-check compares.
type verdicts struct {
	Behavior, BehaviorClose string
}

func (v verdicts) String() string { return v.Behavior + "/" + v.BehaviorClose }

// diff is one case where our suite and the real suite disagree.
type diff struct {
	Folder, ID string
	Ref, Ours  verdicts
	// Why is our suite's own account of its verdicts (result and
	// resultClose), to start the investigation from.
	Why string
	// Explained is set when DISAGREEMENTS.md accounts for the case.
	Explained bool
}

// groupRow counts agreement for one group of one reference folder.
type groupRow struct {
	Group             string
	Agree, Disagree   int
	Missing           int // cases in our run that the reference lacks
	ExplainedDisagree int
}

// comparison is the outcome for one reference folder.
type comparison struct {
	Folder string
	Rows   []groupRow
	Diffs  []diff
}

// totals sums the rows.
func (c comparison) totals() groupRow {
	t := groupRow{Group: "all"}
	for _, r := range c.Rows {
		t.Agree += r.Agree
		t.Disagree += r.Disagree
		t.Missing += r.Missing
		t.ExplainedDisagree += r.ExplainedDisagree
	}
	return t
}

// compare matches our verdicts (case id -> verdicts, with why) against the
// reference index of one agent, group by group. Only the cases we ran are
// compared.
func compare(folder string, ref map[string]report.CaseResult, ours map[string]verdicts, why map[string]string, ex explanations) comparison {
	out := comparison{Folder: folder}
	rows := map[string]*groupRow{}
	ids := make([]string, 0, len(ours))
	for id := range ours {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, report.CompareCaseIDs)
	for _, id := range ids {
		top, _ := report.Group(id)
		row := rows[top]
		if row == nil {
			row = &groupRow{Group: top}
			rows[top] = row
		}
		got := ours[id]
		rc, ok := ref[id]
		if !ok {
			row.Missing++
			continue
		}
		want := verdicts{rc.Behavior, rc.BehaviorClose}
		if want == got {
			row.Agree++
			continue
		}
		row.Disagree++
		d := diff{Folder: folder, ID: id, Ref: want, Ours: got, Why: why[id], Explained: ex.covers(folder, id)}
		if d.Explained {
			row.ExplainedDisagree++
		}
		out.Diffs = append(out.Diffs, d)
	}
	for _, g := range report.StandardGroups() {
		if r := rows[g]; r != nil {
			out.Rows = append(out.Rows, *r)
			delete(rows, g)
		}
	}
	// Groups outside the standard list (none today) go last, sorted.
	var rest []string
	for g := range rows {
		rest = append(rest, g)
	}
	slices.Sort(rest)
	for _, g := range rest {
		out.Rows = append(out.Rows, *rows[g])
	}
	return out
}

// writeTable prints the agreement table of every folder in cs, then every
// disagreement (the cross-check calls it with one folder, as soon as that
// folder is done).
func writeTable(w io.Writer, cs []comparison) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reference\tgroup\tcases\tagree\tdisagree\texplained\t")
	compared := 0
	for _, c := range cs {
		for _, r := range append(c.Rows, c.totals()) {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", c.Folder, r.Group, r.Agree+r.Disagree, r.Agree, r.Disagree, r.ExplainedDisagree)
		}
		t := c.totals()
		compared += t.Agree + t.Disagree
	}
	tw.Flush()
	var diffs []diff
	for _, c := range cs {
		diffs = append(diffs, c.Diffs...)
		if t := c.totals(); t.Missing > 0 {
			fmt.Fprintf(w, "%s: %d cases have no reference verdict\n", c.Folder, t.Missing)
		}
	}
	if compared == 0 {
		fmt.Fprintln(w, "\nno case had a reference verdict to compare with")
		return
	}
	if len(diffs) == 0 {
		fmt.Fprintln(w, "\nevery case agrees with the real suite")
		return
	}
	fmt.Fprintf(w, "\n%d disagreements (reference vs ours):\n", len(diffs))
	for _, d := range diffs {
		mark := "UNEXPLAINED"
		if d.Explained {
			mark = "explained"
		}
		fmt.Fprintf(w, "  %-14s %-8s real %-30s ours %-30s %s\n", d.Folder, d.ID, d.Ref, d.Ours, mark)
		if d.Why != "" {
			fmt.Fprintf(w, "      ours says: %s\n", d.Why)
		}
	}
}

// writeSummary prints the overall outcome at the end of a run: one line
// per folder done (the cases compared, and the disagreements explained and
// not) and the ids of the unexplained disagreements.
func writeSummary(w io.Writer, cs []comparison) {
	fmt.Fprintln(w, "summary:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reference\tcases\tagree\tdisagree\texplained\tunexplained\tno reference\t")
	var all groupRow
	var unexplained []string
	for _, c := range cs {
		t := c.totals()
		d := t.Disagree - t.ExplainedDisagree
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.Folder, t.Agree+t.Disagree, t.Agree, t.Disagree, t.ExplainedDisagree, d, t.Missing)
		all.Agree += t.Agree
		all.Disagree += t.Disagree
		all.ExplainedDisagree += t.ExplainedDisagree
		all.Missing += t.Missing
		for _, d := range c.Diffs {
			if !d.Explained {
				unexplained = append(unexplained, c.Folder+" "+d.ID)
			}
		}
	}
	if len(cs) > 1 {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", "all", all.Agree+all.Disagree, all.Agree, all.Disagree, all.ExplainedDisagree, all.Disagree-all.ExplainedDisagree, all.Missing)
	}
	tw.Flush()
	switch {
	case len(unexplained) > 0:
		fmt.Fprintf(w, "%d unexplained disagreements: %s\n", len(unexplained), strings.Join(unexplained, ", "))
	case all.Disagree > 0:
		fmt.Fprintln(w, "every disagreement is explained")
	case all.Agree > 0:
		fmt.Fprintln(w, "every case agrees with the real suite")
	default:
		fmt.Fprintln(w, "no case had a reference verdict to compare with")
	}
}

// explanations are the (folder, case pattern) pairs that DISAGREEMENTS.md
// explains. The file names them in lines of the form
//
//	Cases: gorilla-client 12.*, 13.1.*
//
// (a folder, then case ids or '*' patterns); the prose around the lines
// gives the root cause.
type explanations map[string][]string

var casesLine = regexp.MustCompile(`^Cases:\s+(\S+)\s+(.+)$`)

// parseExplanations reads the Cases lines of a DISAGREEMENTS.md.
func parseExplanations(r io.Reader) (explanations, error) {
	ex := explanations{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		m := casesLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		for _, p := range strings.Split(m[2], ",") {
			p = strings.Trim(strings.TrimSpace(p), "`")
			if p == "" {
				continue
			}
			if _, err := matchPattern(p, "1"); err != nil {
				return nil, fmt.Errorf("line %d: bad case pattern %q", line, p)
			}
			ex[m[1]] = append(ex[m[1]], p)
		}
	}
	return ex, sc.Err()
}

// readExplanations reads path; a missing file explains nothing.
func readExplanations(path string) (explanations, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return explanations{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseExplanations(f)
}

func (ex explanations) covers(folder, id string) bool {
	for _, p := range ex[folder] {
		if ok, _ := matchPattern(p, id); ok {
			return true
		}
	}
	return false
}

// matchPattern matches a case id against a pattern of digits, dots and
// '*' (any run of characters), as in the suite's -cases flag.
func matchPattern(pattern, id string) (bool, error) {
	for _, r := range pattern {
		if !(r == '*' || r == '.' || (r >= '0' && r <= '9')) {
			return false, fmt.Errorf("bad case pattern %q", pattern)
		}
	}
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, `.*`) + "$"
	return regexp.MatchString(re, id)
}
