// Package report reads, writes and judges Autobahn testsuite reports.
//
// The real Autobahn testsuite and this project's built-in suite both write an
// index.json that maps an agent name to case ids to a verdict. This package
// holds that layout ([Index], [CaseResult]), the verdict vocabulary, an
// allowlist of accepted NON-STRICT cases ([Allowlist]), the pass/fail rule
// ([Check]) and per-group counts for tables ([Summarize], [WriteTable]).
// The checker command (autobahn/check) is a thin wrapper around it.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Index is the layout of the suite's index.json: agent name -> case id
// ("1.1.1") -> result. The real suite and the built-in suite write the same
// layout, so every tool here reads both.
type Index map[string]map[string]CaseResult

// CaseResult is one case's entry in index.json: the verdicts and where the
// detailed per-case report lives.
type CaseResult struct {
	// Behavior is the verdict on the traffic: OK, NON-STRICT, INFORMATIONAL,
	// UNIMPLEMENTED or FAILED.
	Behavior string `json:"behavior"`
	// BehaviorClose is the verdict on the closing handshake: OK,
	// INFORMATIONAL, WRONG CODE, UNCLEAN, FAILED BY CLIENT or FAILED.
	BehaviorClose string `json:"behaviorClose"`
	// Duration is how long the case ran, in milliseconds.
	Duration int64 `json:"duration"`
	// RemoteCloseCode is the close code the peer sent; nil (JSON null) when
	// the peer sent none.
	RemoteCloseCode *int `json:"remoteCloseCode"`
	// ReportFile is the name of the per-case JSON report, relative to the
	// directory that holds index.json.
	ReportFile string `json:"reportfile"`
}

// Behaviour values, as written in CaseResult.Behavior.
const (
	// OK: the peer did what the RFC prefers.
	OK = "OK"
	// NonStrict: acceptable, but not what the RFC prefers (for example
	// failing invalid UTF-8 only at the end of a message).
	NonStrict = "NON-STRICT"
	// Informational: the suite only records what happened; it always passes.
	Informational = "INFORMATIONAL"
	// Unimplemented: the peer declined an optional feature (for example a
	// permessage-deflate parameter).
	Unimplemented = "UNIMPLEMENTED"
	// Failed: the peer broke the protocol.
	Failed = "FAILED"
)

// Close behaviour values used by the real suite in CaseResult.BehaviorClose.
const (
	// CloseOK: the closing handshake went as expected.
	CloseOK = "OK"
	// CloseInformational: the suite only records how the connection closed.
	CloseInformational = "INFORMATIONAL"
	// CloseWrongCode: the peer closed with a code the case did not expect.
	CloseWrongCode = "WRONG CODE"
	// CloseUnclean: the TCP connection ended without a clean close handshake.
	CloseUnclean = "UNCLEAN"
	// CloseFailedByClient: the suite had to fail the connection itself
	// because the peer did not.
	CloseFailedByClient = "FAILED BY CLIENT"
	// CloseFailed: the closing handshake failed outright.
	CloseFailed = "FAILED"
)

// MaxIndexSize bounds how many bytes ReadIndex accepts. A full run of the
// real suite writes about 120 KB per agent, so this is far above any real
// index while keeping a wrong path (say, a disk image) from being slurped.
const MaxIndexSize = 64 << 20

// maxCaseIDLen bounds the length of a case id; real ids are at most 8 bytes.
const maxCaseIDLen = 64

// ReadIndex reads and validates an index.json file. See ParseIndex for what
// is checked.
func ReadIndex(path string) (Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxIndexSize {
		return nil, fmt.Errorf("%s: larger than %d bytes, not an index.json", path, MaxIndexSize)
	}
	idx, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// ParseIndex decodes index.json content. Besides JSON syntax it checks the
// shape, so that a wrong file gives an error naming the place instead of a
// silently empty report: the top level and each agent must be JSON objects,
// each case an object with string verdicts that are present and non-empty,
// and each case id dot-separated decimal numbers ("1.1.1", "3.4").
// Unknown verdict values are accepted here and reported by Check.
func ParseIndex(data []byte) (Index, error) {
	var agents map[string]json.RawMessage
	if err := decodeObject(data, &agents, "index"); err != nil {
		return nil, err
	}
	idx := make(Index, len(agents))
	for agent, raw := range agents {
		var cases map[string]json.RawMessage
		if err := decodeObject(raw, &cases, fmt.Sprintf("agent %q", agent)); err != nil {
			return nil, err
		}
		results := make(map[string]CaseResult, len(cases))
		for id, raw := range cases {
			where := fmt.Sprintf("agent %q, case %q", agent, id)
			if err := validCaseID(id); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			var cr CaseResult
			if err := decodeObject(raw, &cr, where); err != nil {
				return nil, err
			}
			if cr.Behavior == "" {
				return nil, fmt.Errorf("%s: missing or empty \"behavior\"", where)
			}
			if cr.BehaviorClose == "" {
				return nil, fmt.Errorf("%s: missing or empty \"behaviorClose\"", where)
			}
			results[id] = cr
		}
		idx[agent] = results
	}
	return idx, nil
}

// decodeObject unmarshals data, which must be a single JSON object, into v,
// and words errors with where in the file the problem is.
func decodeObject(data []byte, v any, where string) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return fmt.Errorf("%s: empty, want a JSON object", where)
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return fmt.Errorf("%s: malformed JSON: %w", where, syntaxError(trimmed))
		}
		return fmt.Errorf("%s: want a JSON object, got %s", where, jsonKind(trimmed[0]))
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%s: malformed JSON at byte %d: %w", where, se.Offset, err)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "value"
			} else {
				field = strconv.Quote(field)
			}
			return fmt.Errorf("%s: %s is a JSON %s, want %s", where, field, te.Value, te.Type)
		default:
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// syntaxError returns the decoder's error for invalid JSON.
func syntaxError(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return errors.New("invalid JSON")
	}
	return err
}

// jsonKind names the JSON type that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

// validCaseID reports whether id is one or more dot-separated decimal numbers.
func validCaseID(id string) error {
	if id == "" {
		return errors.New("empty case id")
	}
	if len(id) > maxCaseIDLen {
		return fmt.Errorf("case id longer than %d bytes", maxCaseIDLen)
	}
	for part := range strings.SplitSeq(id, ".") {
		if part == "" {
			return errors.New("case id has an empty component, want numbers separated by dots")
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return errors.New("case id must be numbers separated by dots")
			}
		}
	}
	return nil
}

// WriteIndex writes idx to path in the real suite's formatting: JSON
// indented by three spaces, keys in sorted order, non-ASCII escaped, no
// trailing newline. Reading a real suite's index.json and writing it back
// gives the same bytes. The file is replaced atomically (written beside it
// and renamed), so a reader never sees half an index.
func WriteIndex(path string, idx Index) error {
	data, err := MarshalIndex(idx)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".index-*.json")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmpName, path)
}

// MarshalIndex returns the bytes WriteIndex writes. A nil or empty index
// encodes as "{}", and an agent without cases as "{}".
func MarshalIndex(idx Index) ([]byte, error) {
	if idx == nil {
		idx = Index{}
	}
	for _, cases := range idx {
		if cases == nil {
			idx = cloneWithEmptyAgents(idx)
			break
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "   ")
	if err := enc.Encode(idx); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return escapeNonASCII(out), nil
}

// cloneWithEmptyAgents copies idx, turning nil case maps into empty ones so
// that they encode as {} rather than null.
func cloneWithEmptyAgents(idx Index) Index {
	out := make(Index, len(idx))
	for agent, cases := range idx {
		if cases == nil {
			cases = map[string]CaseResult{}
		}
		out[agent] = cases
	}
	return out
}

// escapeNonASCII rewrites every non-ASCII rune of encoded JSON as a \uXXXX
// escape (a surrogate pair above U+FFFF), as Python's json module does by
// default. Outside strings JSON is pure ASCII, so a byte-level pass is safe.
func escapeNonASCII(b []byte) []byte {
	if !slices.ContainsFunc(b, func(c byte) bool { return c >= utf8.RuneSelf }) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			out = append(out, c)
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r > 0xFFFF {
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// CompareCaseIDs orders case ids numerically per dot-separated component, so
// "1.2.10" sorts after "1.2.9" and "10.1.1" after "9.8.6"; a shorter id sorts
// before the longer ids it prefixes ("3" < "3.1"). Components that are not
// numbers sort after numeric ones, as strings. It returns -1, 0 or +1 and is
// a total order (0 only for equal strings), so it can be passed to
// slices.SortFunc. It is used for every listing in this package.
func CompareCaseIDs(a, b string) int {
	if a == b {
		return 0
	}
	ra, rb := a, b
	for ra != "" && rb != "" {
		var pa, pb string
		pa, ra, _ = strings.Cut(ra, ".")
		pb, rb, _ = strings.Cut(rb, ".")
		if c := compareComponent(pa, pb); c != 0 {
			return c
		}
	}
	switch {
	case ra == "" && rb != "":
		return -1
	case ra != "" && rb == "":
		return 1
	}
	// Numerically equal ("01" vs "1", or a trailing dot): fall back to bytes.
	return strings.Compare(a, b)
}

// compareComponent compares one component of a case id: numbers by value
// (without overflow, so any length works), numbers before non-numbers, and
// non-numbers as strings.
func compareComponent(a, b string) int {
	na, nb := isDigits(a), isDigits(b)
	switch {
	case na && nb:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case na:
		return -1
	case nb:
		return 1
	default:
		return strings.Compare(a, b)
	}
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// SortedCaseIDs returns the keys of m in CompareCaseIDs order.
func SortedCaseIDs(m map[string]CaseResult) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, CompareCaseIDs)
	return ids
}

// SortedAgents returns the agent names of idx in byte order.
func SortedAgents(idx Index) []string {
	agents := make([]string, 0, len(idx))
	for a := range idx {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	return agents
}

// Group returns the case's group ("1", "12", ...) and its second-level group
// ("1.1" for "1.1.3"). A case id with fewer than three components has no
// second level of its own, so its sub-group is its group: Group("3.4")
// returns ("3", "3").
func Group(id string) (top, sub string) {
	top, rest, ok := strings.Cut(id, ".")
	if !ok {
		return top, top
	}
	second, _, ok := strings.Cut(rest, ".")
	if !ok {
		return top, top
	}
	return top, top + "." + second
}
