package report_test

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ws6455/ws6455/autobahn/report"
)

// Check a small index: an allowlisted NON-STRICT case passes, a FAILED one
// and a bad close verdict do not.
func ExampleCheck() {
	idx := report.Index{"my-server": {
		"1.1.1": {Behavior: report.OK, BehaviorClose: report.CloseOK},
		"6.4.1": {Behavior: report.NonStrict, BehaviorClose: report.CloseOK},
		"7.1.6": {Behavior: report.Informational, BehaviorClose: report.CloseInformational},
		"7.5.1": {Behavior: report.Failed, BehaviorClose: report.CloseWrongCode},
		"7.9.1": {Behavior: report.OK, BehaviorClose: report.CloseFailedByClient},
	}}
	allow := report.Allowlist{"6.4.*": "UTF-8 is checked per message"}
	for _, p := range report.Check(idx, allow) {
		fmt.Println(p)
	}
	// Output:
	// my-server 7.5.1: behavior=FAILED close=WRONG CODE: FAILED; close behaviour WRONG CODE
	// my-server 7.9.1: behavior=OK close=FAILED BY CLIENT: close behaviour FAILED BY CLIENT
}

// Case ids sort numerically per component.
func ExampleCompareCaseIDs() {
	ids := []string{"12.1.1", "1.2.10", "9.1.1", "1.2.9", "3.4"}
	slices.SortFunc(ids, report.CompareCaseIDs)
	fmt.Println(ids)
	// Output: [1.2.9 1.2.10 3.4 9.1.1 12.1.1]
}

// Group splits a case id into its table rows.
func ExampleGroup() {
	for _, id := range []string{"6.4.1", "12.3.10", "3.4"} {
		top, sub := report.Group(id)
		fmt.Println(id, top, sub)
	}
	// Output:
	// 6.4.1 6 6.4
	// 12.3.10 12 12.3
	// 3.4 3 3
}

// Parse an allowlist and look up why a case is accepted.
func ExampleParseAllowlist() {
	allow, err := report.ParseAllowlist(strings.NewReader(`
# accepted NON-STRICT verdicts
6.4.*   UTF-8 is checked once per message
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	reason, ok := allow.Reason("6.4.3")
	fmt.Println(ok, reason)
	_, ok = allow.Reason("6.5.1")
	fmt.Println(ok)

	_, err = report.ParseAllowlist(strings.NewReader("6.4.1\n"))
	fmt.Println(err)
	// Output:
	// true UTF-8 is checked once per message
	// false
	// line 1: "6.4.1" has no reason; every entry needs one
}

// Write an index in the real suite's layout.
func ExampleMarshalIndex() {
	code := 1000
	data, err := report.MarshalIndex(report.Index{"ws6455": {
		"1.1.1": {Behavior: report.OK, BehaviorClose: report.CloseOK, Duration: 2, RemoteCloseCode: &code, ReportFile: "ws6455_case_1_1_1.json"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data))
	// Output:
	// {
	//    "ws6455": {
	//       "1.1.1": {
	//          "behavior": "OK",
	//          "behaviorClose": "OK",
	//          "duration": 2,
	//          "remoteCloseCode": 1000,
	//          "reportfile": "ws6455_case_1_1_1.json"
	//       }
	//    }
	// }
}

// Print the checker's report for an index file.
func ExampleWriteReport() {
	idx, err := report.ReadIndex("testdata/all-ok.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	problems, err := report.WriteReport(os.Stdout, idx, nil)
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(len(problems), "problems")
	// Output:
	// agent testee: 5 cases
	//   group  cases  OK  NON-STRICT  INFORMATIONAL  UNIMPLEMENTED  FAILED  other  close OK  close INFO  close other
	//       1      2   2           0              0              0       0      0         2           0            0
	//       2      1   1           0              0              0       0      0         1           0            0
	//       3      0   0           0              0              0       0      0         0           0            0
	//       4      0   0           0              0              0       0      0         0           0            0
	//       5      0   0           0              0              0       0      0         0           0            0
	//       6      0   0           0              0              0       0      0         0           0            0
	//       7      1   0           0              1              0       0      0         0           1            0
	//       9      0   0           0              0              0       0      0         0           0            0
	//      10      0   0           0              0              0       0      0         0           0            0
	//      12      1   1           0              0              0       0      0         1           0            0
	//      13      0   0           0              0              0       0      0         0           0            0
	//   total      5   4           0              1              0       0      0         4           1            0
	//
	// PASS: 5 cases
	// 0 problems
}
