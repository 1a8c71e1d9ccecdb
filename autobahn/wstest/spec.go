package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/autobahn/suite"
)

// A spec is a parsed spec file of the real suite (wstest -s FILE): the
// keys its fuzzingclient and fuzzingserver modes read. Keys this tool
// cannot honour are rejected when the file is read, never ignored.
type spec struct {
	// Mode is fuzzingclient or fuzzingserver.
	Mode string
	// OutDir is where the reports go ("outdir"; the real suite's default
	// is ./reports/servers or ./reports/clients).
	OutDir string
	// Servers are the servers to test, in order (fuzzingclient).
	Servers []specServer
	// URL is where the fuzzing server listens (fuzzingserver).
	URL string
	// Listen is the host:port taken from URL.
	Listen string
	// TLS, for a wss:// URL, holds the certificate and key of the files
	// named by "cert" and "key" (fuzzingserver).
	TLS *tls.Config
	// WebPort, when > 0, serves the report directory over HTTP on that
	// port (fuzzingserver "webport").
	WebPort int
	// Protocols are the subprotocols the fuzzing server accepts.
	Protocols []string
	// Cases are the selected cases in catalogue order ("cases" minus
	// "exclude-cases").
	Cases []*suite.Case
	// Excluded are the "exclude-agent-cases" rules.
	Excluded []agentExclusion
	// Timeouts come from "options" (and a server's own "options").
	Timeouts suite.Timeouts
	// Warnings are things worth telling the user that do not stop the
	// run (a case pattern that matches no case).
	Warnings []string
}

// specServer is one entry of "servers".
type specServer struct {
	Agent     string
	URL       string
	Origin    string
	Protocols []string
	Timeouts  suite.Timeouts
}

// agentExclusion is one "exclude-agent-cases" entry: cases matching any
// of Cases are skipped for agents matching Agent.
type agentExclusion struct {
	AgentPattern string
	Agent        *regexp.Regexp
	Cases        []*regexp.Regexp
}

// excludes reports whether case id is excluded for agent.
func (s *spec) excludes(agent, id string) bool {
	for _, e := range s.Excluded {
		if !e.Agent.MatchString(agent) {
			continue
		}
		for _, c := range e.Cases {
			if c.MatchString(id) {
				return true
			}
		}
	}
	return false
}

// Keys each mode reads. A key of the other mode is rejected with a
// message saying so.
var (
	clientKeys = []string{"options", "outdir", "servers", "cases", "exclude-cases", "exclude-agent-cases"}
	serverKeys = []string{"url", "key", "cert", "options", "outdir", "webport", "protocols", "cases", "exclude-cases", "exclude-agent-cases"}
	serverItem = []string{"agent", "url", "origin", "protocols", "options"}
)

// unsupportedKeys are keys the real suite reads that this tool cannot
// honour, with the reason given when a spec uses them (none today).
var unsupportedKeys = map[string]string{}

// Protocol options ("options" at the top and per server). The ones listed
// here are honoured; any other option the real suite knows is rejected
// with its reason, and an option nobody knows is rejected as unknown.
var unsupportedOptions = map[string]string{
	"utf8validateIncoming":        "the suite always validates UTF-8 the way its cases require",
	"applyMask":                   "the suite masks exactly as each case specifies",
	"maskServerFrames":            "the suite masks exactly as each case specifies",
	"requireMaskedClientFrames":   "the suite checks masking as each case specifies",
	"maxFramePayloadSize":         "the suite has no frame size limit (cases set their own)",
	"maxMessagePayloadSize":       "the suite has no message size limit (cases set their own)",
	"autoFragmentSize":            "the suite fragments exactly as each case specifies",
	"echoCloseCodeReason":         "the suite answers close frames as the cases specify",
	"autoPingInterval":            "the suite sends pings only where a case does",
	"autoPingTimeout":             "the suite sends pings only where a case does",
	"autoPingSize":                "the suite sends pings only where a case does",
	"perMessageCompressionAccept": "compression is negotiated by the cases of groups 12 and 13",
	"perMessageCompressionOffers": "compression is negotiated by the cases of groups 12 and 13",
	"trustXForwardedFor":          "not applicable to the fuzzing suite",
	"allowedOrigins":              "the fuzzing server accepts any Origin",
	"allowedOriginsPatterns":      "the fuzzing server accepts any Origin",
	"allowNullOrigin":             "the fuzzing server accepts any Origin",
	"allowHixie76":                "only RFC 6455 (version 13) is supported",
}

// readSpec reads and checks a spec file for mode.
func readSpec(path, mode string) (*spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := parseSpec(data, mode)
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	return s, nil
}

// decodeObject decodes a JSON object into raw values, rejecting
// anything after it and duplicate keys.
func decodeObject(data []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s must be a JSON object", what)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		k := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s, key %q: %w", what, k, err)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: key %q appears twice", what, k)
		}
		out[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the JSON object", what)
	}
	return out, nil
}

// checkKeys rejects keys not in allowed, naming each.
func checkKeys(obj map[string]json.RawMessage, allowed []string, what, mode string) error {
	var bad []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	k := bad[0]
	if why, ok := unsupportedKeys[k]; ok {
		return fmt.Errorf("%s: key %q is not supported: %s", what, k, why)
	}
	other := serverKeys
	otherMode := "fuzzingserver"
	if mode == "fuzzingserver" {
		other, otherMode = clientKeys, "fuzzingclient"
	}
	if what == "spec" && slices.Contains(other, k) {
		return fmt.Errorf("%s: key %q belongs to %s specs, not %s", what, k, otherMode, mode)
	}
	return fmt.Errorf("%s: unknown key %q (known: %s)", what, k, strings.Join(allowed, ", "))
}

func parseSpec(data []byte, mode string) (*spec, error) {
	if mode != "fuzzingclient" && mode != "fuzzingserver" {
		return nil, fmt.Errorf("mode %q does not read a spec: use fuzzingclient or fuzzingserver", mode)
	}
	obj, err := decodeObject(data, "spec")
	if err != nil {
		return nil, err
	}
	allowed := clientKeys
	if mode == "fuzzingserver" {
		allowed = serverKeys
	}
	if err := checkKeys(obj, allowed, "spec", mode); err != nil {
		return nil, err
	}
	s := &spec{Mode: mode}
	if s.Timeouts, err = parseOptions(obj["options"], "options", suite.Timeouts{}); err != nil {
		return nil, err
	}
	s.OutDir = "./reports/servers"
	if mode == "fuzzingserver" {
		s.OutDir = "./reports/clients"
	}
	if raw, ok := obj["outdir"]; ok {
		if err := json.Unmarshal(raw, &s.OutDir); err != nil || s.OutDir == "" {
			return nil, fmt.Errorf("outdir must be a non-empty string")
		}
	}
	switch mode {
	case "fuzzingclient":
		if err := s.parseServers(obj["servers"]); err != nil {
			return nil, err
		}
	case "fuzzingserver":
		if err := s.parseServerMode(obj); err != nil {
			return nil, err
		}
	}
	if err := s.parseCases(obj); err != nil {
		return nil, err
	}
	if err := s.parseAgentExclusions(obj["exclude-agent-cases"]); err != nil {
		return nil, err
	}
	return s, nil
}

// parseOptions applies an "options" object over base.
func parseOptions(raw json.RawMessage, what string, base suite.Timeouts) (suite.Timeouts, error) {
	t := base
	if raw == nil {
		return t, nil
	}
	obj, err := decodeObject(raw, what)
	if err != nil {
		return t, err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seconds := func(k string) (time.Duration, error) {
		var f float64
		if err := json.Unmarshal(obj[k], &f); err != nil || f <= 0 || math.IsInf(f, 0) || f > 3600 {
			return 0, fmt.Errorf("%s: %q must be a number of seconds above 0 (at most 3600)", what, k)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	for _, k := range keys {
		switch k {
		case "version":
			var v int
			if err := json.Unmarshal(obj[k], &v); err != nil {
				return t, fmt.Errorf("%s: \"version\" must be a number", what)
			}
			// The real suite names RFC 6455 as hybi draft 13 to 18; all
			// of them speak Sec-WebSocket-Version 13 on the wire.
			if v < 13 || v > 18 {
				return t, fmt.Errorf("%s: \"version\" %d is not supported: only RFC 6455 (13 to 18, which all mean Sec-WebSocket-Version 13)", what, v)
			}
		case "failByDrop":
			var b bool
			if err := json.Unmarshal(obj[k], &b); err != nil {
				return t, fmt.Errorf("%s: \"failByDrop\" must be true or false", what)
			}
			t.FailByDrop = b
		case "tcpNoDelay":
			var b bool
			if err := json.Unmarshal(obj[k], &b); err != nil {
				return t, fmt.Errorf("%s: \"tcpNoDelay\" must be true or false", what)
			}
			if !b {
				return t, fmt.Errorf("%s: \"tcpNoDelay\": false is not supported: the suite always sets TCP_NODELAY", what)
			}
		case "openHandshakeTimeout":
			if t.Open, err = seconds(k); err != nil {
				return t, err
			}
		case "closeHandshakeTimeout":
			if t.CloseHandshake, err = seconds(k); err != nil {
				return t, err
			}
		case "serverConnectionDropTimeout":
			if t.ServerDrop, err = seconds(k); err != nil {
				return t, err
			}
		default:
			if why, ok := unsupportedOptions[k]; ok {
				return t, fmt.Errorf("%s: option %q is not supported: %s", what, k, why)
			}
			return t, fmt.Errorf("%s: unknown option %q (supported: version, failByDrop, tcpNoDelay, openHandshakeTimeout, closeHandshakeTimeout, serverConnectionDropTimeout)", what, k)
		}
	}
	return t, nil
}

func parseStrings(raw json.RawMessage, what string) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s must be a list of strings", what)
	}
	return out, nil
}

func (s *spec) parseServers(raw json.RawMessage) error {
	if raw == nil {
		return fmt.Errorf("a fuzzingclient spec needs \"servers\": a list of {\"agent\": ..., \"url\": ...}")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("servers must be a list of objects")
	}
	if len(items) == 0 {
		return fmt.Errorf("servers is empty: nothing to test")
	}
	seen := map[string]bool{}
	for i, item := range items {
		what := fmt.Sprintf("servers[%d]", i)
		obj, err := decodeObject(item, what)
		if err != nil {
			return err
		}
		if err := checkKeys(obj, serverItem, what, s.Mode); err != nil {
			return err
		}
		// The real suite names an agent without "agent" UnknownServer.
		sv := specServer{Agent: "UnknownServer"}
		if raw, ok := obj["agent"]; ok {
			if err := json.Unmarshal(raw, &sv.Agent); err != nil || strings.TrimSpace(sv.Agent) == "" {
				return fmt.Errorf("%s: agent must be a non-empty string", what)
			}
		}
		if seen[sv.Agent] {
			return fmt.Errorf("%s: agent %q appears twice: each server needs its own agent name", what, sv.Agent)
		}
		seen[sv.Agent] = true
		if err := json.Unmarshal(obj["url"], &sv.URL); err != nil || sv.URL == "" {
			return fmt.Errorf("%s: url must be a ws:// or wss:// URL", what)
		}
		if err := checkWSURL(sv.URL); err != nil {
			return fmt.Errorf("%s (agent %q): %w", what, sv.Agent, err)
		}
		if raw, ok := obj["origin"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &sv.Origin); err != nil {
				return fmt.Errorf("%s: origin must be a string", what)
			}
		}
		if sv.Protocols, err = parseStrings(obj["protocols"], what+": protocols"); err != nil {
			return err
		}
		for _, v := range append([]string{sv.Origin}, sv.Protocols...) {
			if strings.ContainsAny(v, "\r\n,") {
				return fmt.Errorf("%s: origin and protocols must not hold line breaks or commas: %q", what, v)
			}
		}
		if sv.Timeouts, err = parseOptions(obj["options"], what+": options", s.Timeouts); err != nil {
			return err
		}
		s.Servers = append(s.Servers, sv)
	}
	return nil
}

// checkWSURL accepts ws:// and wss:// URLs.
func checkWSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad url %q: %v", raw, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	default:
		return fmt.Errorf("url %q: the scheme must be ws:// or wss://", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("url %q has no host", raw)
	}
	return nil
}

func (s *spec) parseServerMode(obj map[string]json.RawMessage) error {
	raw, ok := obj["url"]
	if !ok {
		return fmt.Errorf("a fuzzingserver spec needs \"url\", where the suite listens (like ws://127.0.0.1:9001)")
	}
	if err := json.Unmarshal(raw, &s.URL); err != nil {
		return fmt.Errorf("url must be a string")
	}
	if err := checkWSURL(s.URL); err != nil {
		return err
	}
	u, _ := url.Parse(s.URL)
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("url %q: the fuzzing server serves /getCaseCount, /runCase and /updateReports at the root; drop the path %q", s.URL, u.Path)
	}
	s.Listen = u.Host
	if u.Port() == "" {
		s.Listen = u.Hostname() + ":80"
		if u.Scheme == "wss" {
			s.Listen = u.Hostname() + ":443"
		}
	}
	var certFile, keyFile string
	for k, dst := range map[string]*string{"cert": &certFile, "key": &keyFile} {
		if raw, ok := obj[k]; ok {
			if err := json.Unmarshal(raw, dst); err != nil || *dst == "" {
				return fmt.Errorf("%s must be the path of a PEM file", k)
			}
		}
	}
	switch {
	case u.Scheme == "wss" && (certFile == "" || keyFile == ""):
		return fmt.Errorf("url %q: a wss:// fuzzing server needs \"cert\" and \"key\" (PEM files of its certificate and private key)", s.URL)
	case u.Scheme == "ws" && (certFile != "" || keyFile != ""):
		return fmt.Errorf("\"cert\" and \"key\" are for a wss:// url; url %q is ws://", s.URL)
	case u.Scheme == "wss":
		cfg, err := loadTLS(certFile, keyFile)
		if err != nil {
			return err
		}
		s.TLS = cfg
	}
	if raw, ok := obj["webport"]; ok {
		if err := json.Unmarshal(raw, &s.WebPort); err != nil || s.WebPort < 1 || s.WebPort > 65535 {
			return fmt.Errorf("webport must be a port number from 1 to 65535")
		}
	}
	var err error
	s.Protocols, err = parseStrings(obj["protocols"], "protocols")
	return err
}

// patternRegexp turns a case or agent pattern into a regular expression
// the way the real suite does: '.' is literal, '*' matches any run, and
// everything else keeps its regular-expression meaning (so "1[1-4].*"
// selects groups 11 to 14). anchored adds '$' (agent exclusions);
// without it a pattern only has to match a prefix of the id, as with
// Python's re.match.
func patternRegexp(p string, anchored bool) (*regexp.Regexp, error) {
	s := "^" + strings.ReplaceAll(strings.ReplaceAll(p, ".", `\.`), "*", ".*")
	if anchored {
		s += "$"
	}
	return regexp.Compile(s)
}

// resolvePatterns returns the case ids the patterns select, as the real
// suite does: a pattern with '*' selects every case whose id it matches;
// one without is a case id and must name one.
func resolvePatterns(pats []string, what string, warn func(string)) (map[string]bool, error) {
	out := map[string]bool{}
	all := suite.Cases()
	for _, p := range pats {
		if !strings.Contains(p, "*") {
			if !slices.ContainsFunc(all, func(c *suite.Case) bool { return c.ID == p }) {
				return nil, fmt.Errorf("%s: %q is not a case id of the suite (use a pattern with * to select a group)", what, p)
			}
			out[p] = true
			continue
		}
		re, err := patternRegexp(p, false)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pattern %q: %v", what, p, err)
		}
		n := 0
		for _, c := range all {
			if re.MatchString(c.ID) {
				out[c.ID] = true
				n++
			}
		}
		if n == 0 {
			warn(fmt.Sprintf("%s: pattern %q matches no case", what, p))
		}
	}
	return out, nil
}

// parseCases selects "cases" minus "exclude-cases": an exclusion wins
// whatever the order, as the real suite takes the set difference.
func (s *spec) parseCases(obj map[string]json.RawMessage) error {
	warn := func(m string) { s.Warnings = append(s.Warnings, m) }
	raw, ok := obj["cases"]
	if !ok {
		return fmt.Errorf("the spec needs \"cases\", a list of case ids or patterns (like [\"*\"])")
	}
	inc, err := parseStrings(raw, "cases")
	if err != nil {
		return err
	}
	exc, err := parseStrings(obj["exclude-cases"], "exclude-cases")
	if err != nil {
		return err
	}
	in, err := resolvePatterns(inc, "cases", warn)
	if err != nil {
		return err
	}
	out, err := resolvePatterns(exc, "exclude-cases", warn)
	if err != nil {
		return err
	}
	for _, c := range suite.Cases() {
		if in[c.ID] && !out[c.ID] {
			s.Cases = append(s.Cases, c)
		}
	}
	if len(s.Cases) == 0 {
		return fmt.Errorf("cases and exclude-cases select no case")
	}
	return nil
}

// parseAgentExclusions reads "exclude-agent-cases": agent pattern → list
// of case patterns, both matched whole (the real suite anchors them).
func (s *spec) parseAgentExclusions(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	obj, err := decodeObject(raw, "exclude-agent-cases")
	if err != nil {
		return err
	}
	agents := make([]string, 0, len(obj))
	for a := range obj {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	for _, a := range agents {
		re, err := patternRegexp(a, true)
		if err != nil {
			return fmt.Errorf("exclude-agent-cases: bad agent pattern %q: %v", a, err)
		}
		pats, err := parseStrings(obj[a], fmt.Sprintf("exclude-agent-cases[%q]", a))
		if err != nil {
			return err
		}
		e := agentExclusion{AgentPattern: a, Agent: re}
		for _, p := range pats {
			cre, err := patternRegexp(p, true)
			if err != nil {
				return fmt.Errorf("exclude-agent-cases[%q]: bad case pattern %q: %v", a, p, err)
			}
			e.Cases = append(e.Cases, cre)
		}
		s.Excluded = append(s.Excluded, e)
	}
	return nil
}

// casesFor returns the spec's cases minus those excluded for agent.
func (s *spec) casesFor(agent string) []*suite.Case {
	var out []*suite.Case
	for _, c := range s.Cases {
		if !s.excludes(agent, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// caseIDs lists the ids of cases (for messages and tests).
func caseIDs(cases []*suite.Case) []string {
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = c.ID
	}
	slices.SortFunc(ids, report.CompareCaseIDs)
	return ids
}

// loadTLS reads a certificate and its key (PEM files, the certificate
// file may hold the chain) into a server TLS configuration.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cert %q and key %q: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
