package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/autobahn/report"
)

// FuzzParseIndex feeds arbitrary bytes to ParseIndex. It must never panic;
// whatever it accepts must survive Check, Summarize and WriteReport, and
// must encode and decode back to the same index.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"a": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1000, "reportfile": "a.json"}}}`))
	f.Add([]byte(`{"a": {"6.4.1": {"behavior": "NON-STRICT", "behaviorClose": "OK", "remoteCloseCode": null}}, "b": {}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[1]`))
	f.Add([]byte(`{"a": {"1.x": {}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := report.ParseIndex(data)
		if err != nil {
			if idx != nil {
				t.Fatalf("error %v with a non-nil index", err)
			}
			return
		}
		_ = report.Check(idx, report.Allowlist{"6.*": "fuzz"})
		_ = report.Summarize(idx)
		var buf bytes.Buffer
		if _, err := report.WriteReport(&buf, idx, nil); err != nil {
			t.Fatal(err)
		}
		out, err := report.MarshalIndex(idx)
		if err != nil {
			t.Fatal(err)
		}
		back, err := report.ParseIndex(out)
		if err != nil {
			t.Fatalf("re-reading our own output: %v\n%s", err, out)
		}
		again, err := report.MarshalIndex(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("encoding is not stable:\n%s\n---\n%s", out, again)
		}
	})
}

// FuzzParseAllowlist feeds arbitrary text to ParseAllowlist. It must never
// panic, and every accepted entry must have a non-empty reason and a
// pattern that Reason can use.
func FuzzParseAllowlist(f *testing.F) {
	f.Add("# comment\n6.4.*  reason\n6.4.1\tother reason\n")
	f.Add("6.4.1\n")
	f.Add("6.[ x\n")
	f.Add("\r\n \t \n7.1.[0-9] ok\n")
	f.Fuzz(func(t *testing.T, text string) {
		allow, err := report.ParseAllowlist(strings.NewReader(text))
		if err != nil {
			return
		}
		for p, reason := range allow {
			if strings.TrimSpace(reason) == "" || reason != strings.TrimSpace(reason) {
				t.Fatalf("pattern %q has reason %q", p, reason)
			}
			if got, ok := allow.Reason(p); !ok || got == "" {
				t.Fatalf("pattern %q does not match itself", p)
			}
		}
	})
}
