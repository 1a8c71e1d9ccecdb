package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/suite"
)

// TestSpecFixtures reads spec files shaped like those that public
// projects commit for their CI (testdata/*.json, written for these tests)
// and checks what each one selects.
func TestSpecFixtures(t *testing.T) {
	all := len(suite.Cases())
	for _, tc := range []struct {
		file    string
		mode    string
		outDir  string
		agents  []string
		urls    []string
		listen  string
		webPort int
		n       int
		in, out []string
		warn    string
		// agentN is the number of cases for the last agent.
		agentN int
	}{
		{file: "gws-fuzzingclient.json", mode: "fuzzingclient", outDir: "./reports/server",
			agents: []string{"plain", "secure"}, urls: []string{"ws://127.0.0.1:3000/connect", "wss://127.0.0.1:3001/connect"},
			n: all - 90 - 126, in: []string{"1.1.1", "10.1.1", "9.8.6"}, out: []string{"12.1.1", "13.7.18"}},
		{file: "gws-fuzzingserver.json", mode: "fuzzingserver", outDir: "./report/clients", listen: "127.0.0.1:9001", n: all},
		{file: "uwebsockets-fuzzingclient.json", mode: "fuzzingclient", outDir: "./reports/servers",
			agents: []string{"uWS"}, urls: []string{"ws://localhost:9001"}, n: all, warn: `"11.*" matches no case`},
		{file: "tungstenite-fuzzingclient.json", mode: "fuzzingclient", outDir: "./autobahn/server",
			agents: []string{"Tungstenite"}, urls: []string{"ws://127.0.0.1:9002"}, n: 1, in: []string{"13.7.11"}, out: []string{"13.7.1", "13.7.12"}},
		{file: "tungstenite-fuzzingserver.json", mode: "fuzzingserver", outDir: "./autobahn/client", listen: "127.0.0.1:9001", n: all},
		{file: "nodews-fuzzingserver.json", mode: "fuzzingserver", outDir: "./reports/clients", listen: "127.0.0.1:9001", webPort: 8080, n: all},
		{file: "coder-fuzzingclient.json", mode: "fuzzingclient", outDir: "/tmp/autobahn-reports",
			agents: []string{"main"}, urls: []string{"ws://127.0.0.1:38741"},
			n: all - 145 - 1 - 4*18, in: []string{"7.7.1", "13.2.1", "13.7.1"}, out: []string{"6.1.1", "7.5.1", "13.3.1", "13.6.18"}},
		{file: "multi-fuzzingclient.json", mode: "fuzzingclient", outDir: "./reports/servers",
			agents: []string{"AlphaServer", "BetaServer"}, urls: []string{"ws://127.0.0.1:9001", "ws://127.0.0.1:9002/echo"},
			n: 8 + 11, in: []string{"1.1.1", "2.11"}, out: []string{"9.1.1", "1.2.1"}, agentN: 8 + 11 - 4},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sp, err := readSpec(filepath.Join("testdata", tc.file), tc.mode)
			require.NoError(t, err)
			require.Equal(t, tc.outDir, sp.OutDir)
			require.Len(t, sp.Cases, tc.n)
			ids := caseIDs(sp.Cases)
			for _, id := range tc.in {
				require.Contains(t, ids, id)
			}
			for _, id := range tc.out {
				require.NotContains(t, ids, id)
			}
			var agents, urls []string
			for _, s := range sp.Servers {
				agents = append(agents, s.Agent)
				urls = append(urls, s.URL)
			}
			require.Equal(t, tc.agents, agents)
			require.Equal(t, tc.urls, urls)
			require.Equal(t, tc.listen, sp.Listen)
			require.Equal(t, tc.webPort, sp.WebPort)
			if tc.warn != "" {
				require.Len(t, sp.Warnings, 1)
				require.Contains(t, sp.Warnings[0], tc.warn)
			} else {
				require.Empty(t, sp.Warnings)
			}
			if tc.agentN > 0 {
				last := sp.Servers[len(sp.Servers)-1]
				require.Len(t, sp.casesFor(last.Agent), tc.agentN)
			}
		})
	}
}

// TestSpecMultiOptions checks that the options of the multi-agent fixture
// are honoured: global ones for every server, a server's own on top.
func TestSpecMultiOptions(t *testing.T) {
	sp, err := readSpec("testdata/multi-fuzzingclient.json", "fuzzingclient")
	require.NoError(t, err)
	a, b := sp.Servers[0], sp.Servers[1]
	require.Equal(t, 2*time.Second, a.Timeouts.Open)
	require.Equal(t, 1500*time.Millisecond, a.Timeouts.CloseHandshake)
	require.Zero(t, a.Timeouts.ServerDrop)
	require.Equal(t, 2*time.Second, b.Timeouts.Open)
	require.Equal(t, 3*time.Second, b.Timeouts.ServerDrop)
	require.Equal(t, "http://example.test", b.Origin)
	require.Equal(t, []string{"chat", "superchat"}, b.Protocols)
	require.Empty(t, a.Origin)
	for _, id := range []string{"2.1", "2.10", "2.11", "1.1.1"} {
		require.True(t, sp.excludes("BetaServer", id), id)
		require.False(t, sp.excludes("AlphaServer", id), id)
	}
	for _, id := range []string{"2.2", "1.1.2"} {
		require.False(t, sp.excludes("BetaServer", id), id)
	}
}

// TestSpecKeys goes through every key a spec may hold, in both modes:
// each is read or rejected with a message that names it.
func TestSpecKeys(t *testing.T) {
	const srv = `"servers": [{"agent": "a", "url": "ws://127.0.0.1:9001"}]`
	for _, tc := range []struct {
		name, mode, spec string
		// err, when set, must appear in the error; else the spec must
		// parse and check (when set) must hold.
		err   string
		check func(t *testing.T, s *spec)
	}{
		{name: "minimal client", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["1.1.1"]}`,
			check: func(t *testing.T, s *spec) {
				require.Equal(t, "./reports/servers", s.OutDir)
				require.Equal(t, []string{"1.1.1"}, caseIDs(s.Cases))
			}},
		{name: "minimal server", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", "cases": ["1.1.1"]}`,
			check: func(t *testing.T, s *spec) {
				require.Equal(t, "./reports/clients", s.OutDir)
				require.Equal(t, "127.0.0.1:9001", s.Listen)
			}},
		{name: "outdir", mode: "fuzzingclient", spec: `{"outdir": "x/y", ` + srv + `, "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) { require.Equal(t, "x/y", s.OutDir) }},
		{name: "outdir empty", mode: "fuzzingclient", spec: `{"outdir": "", ` + srv + `, "cases": ["*"]}`, err: "outdir"},
		{name: "outdir not string", mode: "fuzzingclient", spec: `{"outdir": 3, ` + srv + `, "cases": ["*"]}`, err: "outdir"},
		{name: "no cases", mode: "fuzzingclient", spec: `{` + srv + `}`, err: `needs "cases"`},
		{name: "cases not list", mode: "fuzzingclient", spec: `{` + srv + `, "cases": "*"}`, err: "cases must be a list"},
		{name: "unknown case id", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["8.1"]}`, err: `"8.1" is not a case id`},
		{name: "bad regexp", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["1[.*"]}`, err: `bad pattern "1[.*"`},
		{name: "nothing left", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["1.1.1"], "exclude-cases": ["1.*"]}`, err: "select no case"},
		{name: "exclude-cases unknown id", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["*"], "exclude-cases": ["99"]}`, err: `exclude-cases: "99"`},
		{name: "no servers", mode: "fuzzingclient", spec: `{"cases": ["*"]}`, err: `needs "servers"`},
		{name: "servers empty", mode: "fuzzingclient", spec: `{"servers": [], "cases": ["*"]}`, err: "servers is empty"},
		{name: "server without agent", mode: "fuzzingclient", spec: `{"servers": [{"url": "ws://127.0.0.1:1"}], "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) { require.Equal(t, "UnknownServer", s.Servers[0].Agent) }},
		{name: "server without url", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a"}], "cases": ["*"]}`, err: "servers[0]: url"},
		{name: "server http url", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "http://x"}], "cases": ["*"]}`, err: "scheme must be ws"},
		{name: "server wss url", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "wss://127.0.0.1:1"}], "cases": ["*"]}`},
		{name: "duplicate agent", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "ws://x"}, {"agent": "a", "url": "ws://y"}], "cases": ["*"]}`, err: `agent "a" appears twice`},
		{name: "server unknown key", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "ws://x", "name": "n"}], "cases": ["*"]}`, err: `servers[0]: unknown key "name"`},
		{name: "server origin and protocols", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "ws://x", "origin": "http://o", "protocols": ["p"]}], "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) {
				require.Equal(t, "http://o", s.Servers[0].Origin)
				require.Equal(t, []string{"p"}, s.Servers[0].Protocols)
			}},
		{name: "origin with line break", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "ws://x", "origin": "a\r\nb"}], "cases": ["*"]}`, err: "line breaks"},
		{name: "options version 13", mode: "fuzzingclient", spec: `{"options": {"version": 13}, ` + srv + `, "cases": ["*"]}`},
		{name: "options version 8", mode: "fuzzingclient", spec: `{"options": {"version": 8}, ` + srv + `, "cases": ["*"]}`, err: `"version" 8 is not supported`},
		{name: "options failByDrop false", mode: "fuzzingclient", spec: `{"options": {"failByDrop": false}, ` + srv + `, "cases": ["*"]}`},
		{name: "options failByDrop true", mode: "fuzzingclient", spec: `{"options": {"failByDrop": true}, ` + srv + `, "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) {
				require.True(t, s.Timeouts.FailByDrop)
				require.True(t, s.Servers[0].Timeouts.FailByDrop, "a server inherits the top-level options")
			}},
		{name: "options failByDrop not bool", mode: "fuzzingclient", spec: `{"options": {"failByDrop": 1}, ` + srv + `, "cases": ["*"]}`, err: `"failByDrop" must be true or false`},
		{name: "options tcpNoDelay", mode: "fuzzingclient", spec: `{"options": {"tcpNoDelay": true}, ` + srv + `, "cases": ["*"]}`},
		{name: "options tcpNoDelay false", mode: "fuzzingclient", spec: `{"options": {"tcpNoDelay": false}, ` + srv + `, "cases": ["*"]}`, err: "tcpNoDelay"},
		{name: "options timeouts", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:1", "options": {"openHandshakeTimeout": 7, "closeHandshakeTimeout": 0.5, "serverConnectionDropTimeout": 2}, "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) {
				require.Equal(t, suite.Timeouts{Open: 7 * time.Second, CloseHandshake: 500 * time.Millisecond, ServerDrop: 2 * time.Second}, s.Timeouts)
			}},
		{name: "options timeout negative", mode: "fuzzingclient", spec: `{"options": {"closeHandshakeTimeout": -1}, ` + srv + `, "cases": ["*"]}`, err: `"closeHandshakeTimeout" must be a number of seconds`},
		{name: "options known but unsupported", mode: "fuzzingclient", spec: `{"options": {"utf8validateIncoming": false}, ` + srv + `, "cases": ["*"]}`, err: `option "utf8validateIncoming" is not supported`},
		{name: "options unknown", mode: "fuzzingclient", spec: `{"options": {"fastMode": 1}, ` + srv + `, "cases": ["*"]}`, err: `unknown option "fastMode"`},
		{name: "server options unknown", mode: "fuzzingclient", spec: `{"servers": [{"agent": "a", "url": "ws://x", "options": {"versoin": 18}}], "cases": ["*"]}`, err: `servers[0]: options: unknown option "versoin"`},
		{name: "options not object", mode: "fuzzingclient", spec: `{"options": [], ` + srv + `, "cases": ["*"]}`, err: "options must be a JSON object"},
		{name: "exclude-agent-cases", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["*"], "exclude-agent-cases": {"a": ["6.*"]}}`,
			check: func(t *testing.T, s *spec) {
				require.Len(t, s.casesFor("a"), len(suite.Cases())-145)
				require.Len(t, s.casesFor("b"), len(suite.Cases()))
			}},
		{name: "exclude-agent-cases not object", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["*"], "exclude-agent-cases": []}`, err: "exclude-agent-cases must be a JSON object"},
		{name: "exclude-agent-cases bad list", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["*"], "exclude-agent-cases": {"a": "6.*"}}`, err: `exclude-agent-cases["a"] must be a list`},
		{name: "server url missing", mode: "fuzzingserver", spec: `{"cases": ["*"]}`, err: `needs "url"`},
		{name: "server url with path", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001/x", "cases": ["*"]}`, err: `drop the path "/x"`},
		{name: "server url wss without cert", mode: "fuzzingserver", spec: `{"url": "wss://127.0.0.1:9001", "cases": ["*"]}`, err: `needs "cert" and "key"`},
		{name: "server url wss without key", mode: "fuzzingserver", spec: `{"url": "wss://127.0.0.1:9001", "cert": "c.pem", "cases": ["*"]}`, err: `needs "cert" and "key"`},
		{name: "server url wss missing files", mode: "fuzzingserver", spec: `{"url": "wss://127.0.0.1:9001", "cert": "nonexistent-c.pem", "key": "nonexistent-k.pem", "cases": ["*"]}`, err: `cert "nonexistent-c.pem" and key "nonexistent-k.pem"`},
		{name: "server url default port", mode: "fuzzingserver", spec: `{"url": "ws://localhost", "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) { require.Equal(t, "localhost:80", s.Listen) }},
		{name: "webport", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", "webport": 8088, "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) { require.Equal(t, 8088, s.WebPort) }},
		{name: "webport bad", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", "webport": 70000, "cases": ["*"]}`, err: "webport"},
		{name: "server protocols", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", "protocols": ["x"], "cases": ["*"]}`,
			check: func(t *testing.T, s *spec) { require.Equal(t, []string{"x"}, s.Protocols) }},
		{name: "key with ws url", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", "key": "k.pem", "cases": ["*"]}`, err: `are for a wss:// url`},
		{name: "cert with ws url", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", "cert": "c.pem", "cases": ["*"]}`, err: `are for a wss:// url`},
		{name: "cert not string", mode: "fuzzingserver", spec: `{"url": "wss://127.0.0.1:9001", "cert": 1, "key": "k.pem", "cases": ["*"]}`, err: `cert must be the path of a PEM file`},
		{name: "key in client mode", mode: "fuzzingclient", spec: `{"key": "k.pem", ` + srv + `, "cases": ["*"]}`, err: `key "key" belongs to fuzzingserver specs`},
		{name: "servers in server mode", mode: "fuzzingserver", spec: `{"url": "ws://127.0.0.1:9001", ` + srv + `, "cases": ["*"]}`, err: `key "servers" belongs to fuzzingclient specs`},
		{name: "url in client mode", mode: "fuzzingclient", spec: `{"url": "ws://127.0.0.1:9001", ` + srv + `, "cases": ["*"]}`, err: `key "url" belongs to fuzzingserver specs`},
		{name: "webport in client mode", mode: "fuzzingclient", spec: `{"webport": 8080, ` + srv + `, "cases": ["*"]}`, err: `key "webport" belongs to fuzzingserver specs`},
		{name: "unknown key", mode: "fuzzingclient", spec: `{"exclude-case": [], ` + srv + `, "cases": ["*"]}`, err: `unknown key "exclude-case"`},
		{name: "duplicate key", mode: "fuzzingclient", spec: `{"cases": ["*"], ` + srv + `, "cases": ["1.*"]}`, err: `key "cases" appears twice`},
		{name: "not an object", mode: "fuzzingclient", spec: `["*"]`, err: "must be a JSON object"},
		{name: "trailing data", mode: "fuzzingclient", spec: `{` + srv + `, "cases": ["*"]} {}`, err: "data after the JSON object"},
		{name: "bad mode", mode: "testeeserver", spec: `{}`, err: `mode "testeeserver" does not read a spec`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSpec([]byte(tc.spec), tc.mode)
			if tc.err != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// TestCasePatterns checks case selection against the real suite's rules:
// '*' is any run and the rest is a regular expression matched at the
// start of the id; a pattern without '*' is one case id; exclusions win
// whatever their order.
func TestCasePatterns(t *testing.T) {
	ids := func(prefixes ...string) func(string) bool {
		return func(id string) bool {
			for _, p := range prefixes {
				if strings.HasPrefix(id, p) {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		cases, exclude []string
		n              int
		want           func(id string) bool
		warn           bool
	}{
		{cases: []string{"*"}, n: 517, want: func(string) bool { return true }},
		{cases: []string{"1.*"}, n: 16, want: ids("1.")},
		{cases: []string{"12.1.*"}, n: 18, want: ids("12.1.")},
		{cases: []string{"1[1-4].*"}, n: 90 + 126, want: ids("12.", "13.")},
		{cases: []string{"1*"}, n: 16 + 1 + 90 + 126, want: ids("1")},
		{cases: []string{"6.4.1"}, n: 1, want: func(id string) bool { return id == "6.4.1" }},
		{cases: []string{"2.1*"}, n: 3, want: func(id string) bool { return id == "2.1" || id == "2.10" || id == "2.11" }},
		{cases: []string{"5.*", "5.1"}, n: 20, want: ids("5.")},
		{cases: []string{"1.*"}, exclude: []string{"1.1.*"}, n: 8, want: ids("1.2.")},
		{cases: []string{"1.1.1", "1.2.*"}, exclude: []string{"1.*"}, n: 0},
		{cases: []string{"*"}, exclude: []string{"1*", "9.*", "6.*", "7.*"}, n: 11 + 7 + 10 + 20, want: ids("2.", "3.", "4.", "5.")},
		{cases: []string{"7.*", "11.*"}, n: 37, want: ids("7."), warn: true},
		{cases: []string{"9.*"}, exclude: []string{"9.7.*", "9.8.*", "8.*"}, n: 54 - 12, want: ids("9.1.", "9.2.", "9.3.", "9.4.", "9.5.", "9.6."), warn: true},
	} {
		t.Run(strings.Join(tc.cases, ",")+"-"+strings.Join(tc.exclude, ","), func(t *testing.T) {
			s := &spec{}
			js := func(l []string) string {
				if len(l) == 0 {
					return "[]"
				}
				return `["` + strings.Join(l, `","`) + `"]`
			}
			err := s.parseCases(map[string]json.RawMessage{"cases": json.RawMessage(js(tc.cases)), "exclude-cases": json.RawMessage(js(tc.exclude))})
			if tc.n == 0 {
				require.ErrorContains(t, err, "select no case")
				return
			}
			require.NoError(t, err)
			require.Len(t, s.Cases, tc.n)
			for _, c := range s.Cases {
				require.True(t, tc.want(c.ID), c.ID)
			}
			require.Equal(t, tc.warn, len(s.Warnings) > 0, s.Warnings)
			for i := 1; i < len(s.Cases); i++ {
				require.Less(t, indexOf(s.Cases[i-1]), indexOf(s.Cases[i]), "catalogue order")
			}
		})
	}
}

func indexOf(c *suite.Case) int {
	for i, x := range suite.Cases() {
		if x == c {
			return i
		}
	}
	return -1
}

// TestAgentPatterns checks exclude-agent-cases matching: agent and case
// patterns must match whole ('*' any run), as the real suite anchors them.
func TestAgentPatterns(t *testing.T) {
	for _, tc := range []struct {
		agents map[string][]string
		agent  string
		id     string
		want   bool
	}{
		{map[string][]string{"gorilla": {"6.*"}}, "gorilla", "6.4.1", true},
		{map[string][]string{"gorilla": {"6.*"}}, "gorilla-m", "6.4.1", false},
		{map[string][]string{"gorilla*": {"6.*"}}, "gorilla-m", "6.4.1", true},
		{map[string][]string{"*": {"6.4.1"}}, "any", "6.4.1", true},
		{map[string][]string{"*": {"6.4"}}, "any", "6.4.1", false},
		{map[string][]string{"*": {"6.4.*"}}, "any", "6.4.1", true},
		{map[string][]string{"*": {"6.4.*"}}, "any", "6.40.1", false},
		{map[string][]string{"a.b": {"1.1.1"}}, "axb", "1.1.1", false},
		{map[string][]string{"a.b": {"1.1.1"}}, "a.b", "1.1.1", true},
		{map[string][]string{"x": {"1.1.1"}, "y": {"1.1.2"}}, "y", "1.1.2", true},
		{map[string][]string{"x": {"1.1.1"}, "y": {"1.1.2"}}, "y", "1.1.1", false},
	} {
		s := &spec{}
		var b strings.Builder
		b.WriteString("{")
		first := true
		for a, pats := range tc.agents {
			if !first {
				b.WriteString(",")
			}
			first = false
			b.WriteString(`"` + a + `": ["` + strings.Join(pats, `","`) + `"]`)
		}
		b.WriteString("}")
		require.NoError(t, s.parseAgentExclusions([]byte(b.String())))
		require.Equal(t, tc.want, s.excludes(tc.agent, tc.id), "%v %s %s", tc.agents, tc.agent, tc.id)
	}
}

func writeSpec(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

// TestProjectConfigs reads this project's own specs (autobahn/config),
// which the real suite in docker reads too.
func TestProjectConfigs(t *testing.T) {
	c, err := readSpec("../config/fuzzingclient.json", "fuzzingclient")
	require.NoError(t, err)
	require.Len(t, c.Cases, len(suite.Cases()))
	require.Equal(t, "ws6455", c.Servers[0].Agent)
	require.Equal(t, "./reports/server", c.OutDir)
	s, err := readSpec("../config/fuzzingserver.json", "fuzzingserver")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9002", s.Listen)
	require.Equal(t, "./reports/client", s.OutDir)
}
