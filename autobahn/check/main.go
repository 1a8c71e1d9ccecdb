// Command check judges Autobahn testsuite reports (the real suite's or the
// built-in suite's index.json): it prints a per-group table of verdicts for
// each agent, lists every case that fails, and exits 1 if any does.
//
// Usage:
//
//	go run ./autobahn/check [-allow autobahn/allowlist.txt] [-agent NAME] path/to/index.json|dir ...
//
// A case fails when its behaviour is FAILED or UNIMPLEMENTED, or NON-STRICT
// and not in the allowlist, or when its close behaviour is anything but OK
// or INFORMATIONAL. Exit status: 0 all pass, 1 problems found, 2 usage or
// read error.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ws6455/ws6455/autobahn/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, apart from the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowPath := fs.String("allow", "", "allowlist file of accepted NON-STRICT cases (\"ID  reason\" per line)")
	agent := fs.String("agent", "", "check only this agent")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: check [-allow FILE] [-agent NAME] INDEX.json|DIR ...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	idx, err := report.LoadIndexes(fs.Args())
	if err == nil && *agent != "" {
		idx, err = report.SelectAgent(idx, *agent)
	}
	var allow report.Allowlist
	if err == nil && *allowPath != "" {
		allow, err = report.ReadAllowlist(*allowPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	problems, err := report.WriteReport(stdout, idx, allow)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}
