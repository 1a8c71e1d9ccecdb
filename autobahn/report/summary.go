package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// StandardGroups returns the top-level groups of the Autobahn case
// catalogue in table order: 1 framing, 2 ping/pong, 3 reserved bits,
// 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 limits and performance,
// 10 auto-fragmentation, 12 and 13 permessage-deflate. Tables always show
// these rows, so a group missing from a run stands out as zeros.
func StandardGroups() []string {
	return []string{"1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"}
}

// Counts tallies the verdicts of a set of cases.
type Counts struct {
	Cases    int            // number of cases counted
	Behavior map[string]int // behaviour value -> number of cases
	Close    map[string]int // close behaviour value -> number of cases
}

// add counts one case.
func (c *Counts) add(cr CaseResult) {
	if c.Behavior == nil {
		c.Behavior = map[string]int{}
		c.Close = map[string]int{}
	}
	c.Cases++
	c.Behavior[cr.Behavior]++
	c.Close[cr.BehaviorClose]++
}

// OtherBehavior is the number of cases whose behaviour is none of the five
// known values.
func (c Counts) OtherBehavior() int {
	n := c.Cases
	for _, b := range []string{OK, NonStrict, Informational, Unimplemented, Failed} {
		n -= c.Behavior[b]
	}
	return n
}

// OtherClose is the number of cases whose close behaviour is neither OK nor
// INFORMATIONAL, that is, the close verdicts that fail Check.
func (c Counts) OtherClose() int {
	return c.Cases - c.Close[CloseOK] - c.Close[CloseInformational]
}

// GroupCounts is the tally of one top-level group ("1", "12", ...).
type GroupCounts struct {
	Group  string // top-level group, as Group returns it
	Counts        // the group's tally
}

// AgentSummary is one agent's tally, per group and in total.
type AgentSummary struct {
	Agent string // agent name from the index
	// Groups has a row for every standard group (zero if absent) and then
	// any other group found in the index, in CompareCaseIDs order.
	Groups []GroupCounts
	Total  Counts // all of the agent's cases
}

// Summary is the per-agent tally of an index, agents in byte order.
type Summary []AgentSummary

// Summarize counts each agent's behaviour and close verdicts per group.
func Summarize(idx Index) Summary {
	var s Summary
	for _, agent := range SortedAgents(idx) {
		as := AgentSummary{Agent: agent}
		rows := map[string]*Counts{}
		order := StandardGroups()
		for _, g := range order {
			rows[g] = &Counts{Behavior: map[string]int{}, Close: map[string]int{}}
		}
		as.Total = Counts{Behavior: map[string]int{}, Close: map[string]int{}}
		for _, id := range SortedCaseIDs(idx[agent]) {
			cr := idx[agent][id]
			top, _ := Group(id)
			row, ok := rows[top]
			if !ok {
				row = &Counts{}
				rows[top] = row
				order = append(order, top)
			}
			row.add(cr)
			as.Total.add(cr)
		}
		slices.SortStableFunc(order, CompareCaseIDs)
		for _, g := range order {
			as.Groups = append(as.Groups, GroupCounts{Group: g, Counts: *rows[g]})
		}
		s = append(s, as)
	}
	return s
}

// WriteTable prints one agent's tally as an aligned text table: a row per
// group and a total row; columns count each behaviour value, then the close
// verdicts OK, INFORMATIONAL and any other (which fail Check).
func WriteTable(w io.Writer, as AgentSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "group\tcases\tOK\tNON-STRICT\tINFORMATIONAL\tUNIMPLEMENTED\tFAILED\tother\tclose OK\tclose INFO\tclose other\t\n")
	row := func(name string, c Counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, c.Cases,
			c.Behavior[OK], c.Behavior[NonStrict], c.Behavior[Informational],
			c.Behavior[Unimplemented], c.Behavior[Failed], c.OtherBehavior(),
			c.Close[CloseOK], c.Close[CloseInformational], c.OtherClose())
	}
	for _, g := range as.Groups {
		row(g.Group, g.Counts)
	}
	row("total", as.Total)
	return tw.Flush()
}

// WriteReport prints the checker's report for idx: a table per agent, the
// NON-STRICT cases accepted by allow with their reasons, allowlist entries
// that matched no NON-STRICT case (stale entries to delete), every problem,
// and a closing PASS or FAIL line. It returns the problems (Check's result).
func WriteReport(w io.Writer, idx Index, allow Allowlist) ([]Problem, error) {
	ew := &errWriter{w: w}
	total := 0
	for _, as := range Summarize(idx) {
		total += as.Total.Cases
		fmt.Fprintf(ew, "agent %s: %d cases\n", as.Agent, as.Total.Cases)
		if err := WriteTable(ew, as); err != nil {
			return nil, err
		}
		fmt.Fprintln(ew)
	}

	var allowed []string
	used := map[string]bool{}
	for _, agent := range SortedAgents(idx) {
		for _, id := range SortedCaseIDs(idx[agent]) {
			if idx[agent][id].Behavior != NonStrict {
				continue
			}
			if reason, ok := allow.Reason(id); ok {
				allowed = append(allowed, fmt.Sprintf("  %s %s: %s", agent, id, reason))
				for p := range allow {
					if m, _ := path.Match(p, id); m || p == id {
						used[p] = true
					}
				}
			}
		}
	}
	if len(allowed) > 0 {
		fmt.Fprintf(ew, "allowlisted NON-STRICT (%d):\n%s\n\n", len(allowed), strings.Join(allowed, "\n"))
	}
	var stale []string
	for p := range allow {
		if !used[p] {
			stale = append(stale, p)
		}
	}
	if len(stale) > 0 {
		slices.SortFunc(stale, CompareCaseIDs)
		fmt.Fprintf(ew, "allowlist entries that matched no NON-STRICT case (consider removing): %s\n\n", strings.Join(stale, ", "))
	}

	problems := Check(idx, allow)
	if len(problems) > 0 {
		fmt.Fprintf(ew, "problems (%d):\n", len(problems))
		for _, p := range problems {
			fmt.Fprintf(ew, "  %s\n", p)
		}
		fmt.Fprintf(ew, "\nFAIL: %d problems in %d cases\n", len(problems), total)
	} else {
		fmt.Fprintf(ew, "PASS: %d cases\n", total)
	}
	return problems, ew.err
}

// errWriter remembers the first write error so the report code can print
// freely and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// LoadIndexes reads one or more index files and merges them into one Index.
// A path that is a directory stands for the index.json inside it, so the
// outdir of a suite run can be passed as is. The same agent in two files is
// an error, since their verdicts could not both be reported.
func LoadIndexes(paths []string) (Index, error) {
	if len(paths) == 0 {
		return nil, errors.New("no index files given")
	}
	merged := Index{}
	from := map[string]string{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			p = filepath.Join(p, "index.json")
		}
		idx, err := ReadIndex(p)
		if err != nil {
			return nil, err
		}
		for agent, cases := range idx {
			if prev, dup := from[agent]; dup {
				return nil, fmt.Errorf("agent %q is in both %s and %s", agent, prev, p)
			}
			from[agent] = p
			merged[agent] = cases
		}
	}
	return merged, nil
}

// SelectAgent returns an index holding only the named agent, or an error
// listing the agents present when it is missing.
func SelectAgent(idx Index, agent string) (Index, error) {
	cases, ok := idx[agent]
	if !ok {
		return nil, fmt.Errorf("agent %q not found; the index has: %s", agent, strings.Join(SortedAgents(idx), ", "))
	}
	return Index{agent: cases}, nil
}
