package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// Allowlist maps a case id ("6.4.1") or a glob over case ids ("6.4.*", in
// path.Match syntax) to the reason a NON-STRICT verdict is accepted for it.
// Only NON-STRICT can be allowlisted: FAILED, UNIMPLEMENTED and bad close
// verdicts always fail. A nil Allowlist allows nothing.
type Allowlist map[string]string

// maxAllowlistLine bounds one line of an allowlist file.
const maxAllowlistLine = 4096

// ReadAllowlist reads an allowlist file. See ParseAllowlist for the format.
func ReadAllowlist(path string) (Allowlist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	allow, err := ParseAllowlist(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return allow, nil
}

// ParseAllowlist reads the allowlist format: one entry per line, a case id
// or glob, white space, then the reason in free text ("6.4.*  UTF-8 is
// checked per message"). Blank lines and lines starting with '#' are
// ignored. Every entry needs a reason, a pattern must be well-formed and use
// only digits, dots and the glob characters * ? [ ] -, and no pattern may be
// listed twice; any violation is an error naming the line.
func ParseAllowlist(r io.Reader) (Allowlist, error) {
	allow := Allowlist{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxAllowlistLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		pattern, reason := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			pattern, reason = text[:i], strings.TrimSpace(text[i+1:])
		}
		if err := validPattern(pattern); err != nil {
			return nil, fmt.Errorf("line %d: %q: %w", line, pattern, err)
		}
		if reason == "" {
			return nil, fmt.Errorf("line %d: %q has no reason; every entry needs one", line, pattern)
		}
		if _, dup := allow[pattern]; dup {
			return nil, fmt.Errorf("line %d: %q is listed twice", line, pattern)
		}
		allow[pattern] = reason
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", line+1, maxAllowlistLine)
		}
		return nil, err
	}
	return allow, nil
}

// validPattern checks an allowlist key: glob characters and case-id
// characters only, and a pattern path.Match accepts.
func validPattern(p string) error {
	if len(p) > maxCaseIDLen {
		return fmt.Errorf("longer than %d bytes", maxCaseIDLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= '0' && c <= '9' || strings.IndexByte(".*?[]-", c) >= 0) {
			return fmt.Errorf("byte %q is not allowed in a case id or glob", c)
		}
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad glob: %w", err)
	}
	return nil
}

// Reason returns the reason recorded for case id: an exact entry wins,
// otherwise the first matching glob in sorted order (so the answer does not
// depend on map order).
func (a Allowlist) Reason(id string) (reason string, ok bool) {
	if r, ok := a[id]; ok {
		return r, true
	}
	patterns := make([]string, 0, len(a))
	for p := range a {
		patterns = append(patterns, p)
	}
	slices.Sort(patterns)
	for _, p := range patterns {
		if m, _ := path.Match(p, id); m {
			return a[p], true
		}
	}
	return "", false
}
