package report

import (
	"fmt"
	"strings"
)

// Problem is one case that does not pass Check, or, with an empty Case, an
// agent or index that has no case results at all.
type Problem struct {
	Agent         string // agent name from the index
	Case          string // case id; empty for a problem with the whole agent or index
	Behavior      string // the case's behaviour verdict
	BehaviorClose string // the case's close verdict
	Why           string // why it fails, in words
}

// String formats the problem as one line: agent, case, verdicts and why.
func (p Problem) String() string {
	if p.Case == "" {
		if p.Agent == "" {
			return p.Why
		}
		return fmt.Sprintf("%s: %s", p.Agent, p.Why)
	}
	return fmt.Sprintf("%s %s: behavior=%s close=%s: %s", p.Agent, p.Case, p.Behavior, p.BehaviorClose, p.Why)
}

// Check evaluates an index and returns every problem, ordered by agent and
// then by case id. A case fails when its behaviour is FAILED or
// UNIMPLEMENTED, or NON-STRICT and not in allow, or not a known verdict, or
// when its close behaviour is anything but OK or INFORMATIONAL.
// INFORMATIONAL behaviour passes: the suite only records what happened.
// An index without any case result is a problem too, so that a run that
// tested nothing never passes.
func Check(idx Index, allow Allowlist) []Problem {
	var problems []Problem
	total := 0
	for _, agent := range SortedAgents(idx) {
		cases := idx[agent]
		total += len(cases)
		if len(cases) == 0 {
			problems = append(problems, Problem{Agent: agent, Why: "no case results for this agent"})
			continue
		}
		for _, id := range SortedCaseIDs(cases) {
			cr := cases[id]
			var why []string
			switch cr.Behavior {
			case OK, Informational:
			case NonStrict:
				if _, ok := allow.Reason(id); !ok {
					why = append(why, "NON-STRICT and not in the allowlist")
				}
			case Unimplemented:
				why = append(why, "UNIMPLEMENTED (an optional feature was declined)")
			case Failed:
				why = append(why, "FAILED")
			default:
				why = append(why, fmt.Sprintf("unknown behavior %q", cr.Behavior))
			}
			switch cr.BehaviorClose {
			case CloseOK, CloseInformational:
			default:
				why = append(why, fmt.Sprintf("close behaviour %s", cr.BehaviorClose))
			}
			if len(why) > 0 {
				problems = append(problems, Problem{
					Agent:         agent,
					Case:          id,
					Behavior:      cr.Behavior,
					BehaviorClose: cr.BehaviorClose,
					Why:           strings.Join(why, "; "),
				})
			}
		}
	}
	if total == 0 && len(idx) == 0 {
		problems = append(problems, Problem{Why: "the index has no agents"})
	}
	return problems
}
