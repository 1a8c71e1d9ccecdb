package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests in this file run the built-in suite against Python's
// websockets 10.4 (Debian's python3-websockets; PyPI is not reachable
// here) in both roles, like the tests of Node's ws in peers_test.go, and
// compare every verdict with testdata/peers/python-websockets-10.4.json.
//
// That fixture is not a real-suite report: there is none for websockets
// 10.4. It holds the results that the websockets maintainers document for
// the real suite (compliance/README.rst, "Conformance notes"), run with
// their own echo scripts, which interop/python/autobahn_peer.py mirrors;
// its "source" field says exactly what it rests on.
//
// Four cases accept OK or NON-STRICT (the fixture's "timingDependent"):
// 3.3, 3.4, 4.1.5 and 4.2.5. In each the suite sends a text message, then
// a frame the peer must reject, then a ping, with paced writes: each frame
// in a write of its own (3.3) or one octet per write (the others), about
// 10 µs apart. OK needs the echo of the first message before the peer
// fails the connection. websockets 10.4 reads frames in one task and hands
// each message to the application's recv() through a future and
// asyncio.wait, a few turns of the event loop later, so the echo goes out
// only if the next frame's first two octets have not been read by then. The
// maintainers document 3.3 as NON-STRICT and the octet-wise cases as OK;
// on this machine the built-in suite gets NON-STRICT in all four, and OK
// in 3.3 when its writes come late (a loaded machine). The cases whose
// frames go out in one burst (3.2, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15) are
// NON-STRICT every time, as documented. The project already counts 3.4
// among the cases whose verdict depends on timing in both suites
// (bench/crosscheck/DISAGREEMENTS.md); the other three are the same race.

// pythonFixture holds the fields of the Python fixture that the Node one
// does not have.
type pythonFixture struct {
	Source string `json:"source"`
	// TimingDependent lists, per case id, the verdicts a run may get
	// besides the one in verdicts, and why.
	TimingDependent map[string]struct {
		Accept [][]string `json:"accept"`
		Why    string     `json:"why"`
	} `json:"timingDependent"`
}

const pythonFixtureName = "python-websockets-10.4.json"

func readPythonFixture(t *testing.T) (*peerVerdicts, *pythonFixture) {
	t.Helper()
	pv := readPeerVerdicts(t, pythonFixtureName)
	b, err := os.ReadFile(filepath.Join("testdata", "peers", pythonFixtureName))
	require.NoError(t, err)
	var fx pythonFixture
	require.NoError(t, json.Unmarshal(b, &fx))
	require.NotEmpty(t, fx.Source, "the fixture must say where its verdicts come from")
	for id, td := range fx.TimingDependent {
		require.NotEmpty(t, td.Why, "%s: a timing-dependent case needs a reason", id)
		for _, a := range td.Accept {
			require.Len(t, a, 2, "%s: accepted verdicts are [behavior, behaviorClose]", id)
		}
	}
	return pv, &fx
}

// findPythonWebsockets returns a Python that imports websockets at
// version: Debian's /usr/bin/python3 first (other Pythons do not see
// Debian's packages), then python3 on PATH.
func findPythonWebsockets(t *testing.T, version string) string {
	t.Helper()
	var candidates []string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		candidates = append(candidates, "/usr/bin/python3")
	}
	if p, err := exec.LookPath("python3"); err == nil && p != "/usr/bin/python3" {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, py, "-c", "import websockets; print(websockets.__version__)").Output()
		cancel()
		if err != nil {
			continue
		}
		got := strings.TrimSpace(string(out))
		if got != version {
			// The expected verdicts are for one version; another one
			// would report differences that are not the suite's.
			t.Fatalf("%s has websockets %s, the expected verdicts are for %s: update the fixture %s", py, got, version, pythonFixtureName)
		}
		return py
	}
	missingPeer(t, "no python3 imports websockets (Debian: apt-get install python3-websockets)")
	return ""
}

// startPythonPeer starts interop/python/autobahn_peer.py with args; stdin
// stays open until the test ends (the script exits when it closes). The
// channel gets the process's exit status.
func startPythonPeer(t *testing.T, python string, args ...string) (<-chan error, *bufio.Reader) {
	t.Helper()
	script := filepath.Join("..", "..", "interop", "python", "autobahn_peer.py")
	return startPeerProcess(t, exec.Command(python, append([]string{script}, args...)...))
}

// compareDocumented checks every result against the documented verdict,
// or one of the accepted ones of a timing-dependent case, and reports all
// differences at once.
func compareDocumented(t *testing.T, role string, want map[string][]string, fx *pythonFixture, got []*Result) {
	t.Helper()
	require.Len(t, got, len(want), "%s role: one result per expected verdict", role)
	var diffs []string
	for _, r := range got {
		have := []string{r.Behavior, r.BehaviorClose}
		w, ok := want[r.ID]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: no expected verdict", r.ID))
		case slices.Equal(w, have):
		case slices.ContainsFunc(fx.TimingDependent[r.ID].Accept, func(a []string) bool { return slices.Equal(a, have) }):
			t.Logf("%s role: %s: %s/%s (documented %s/%s; timing-dependent, accepted)", role, r.ID, have[0], have[1], w[0], w[1])
		default:
			diffs = append(diffs, fmt.Sprintf("%s: documented %s/%s, built-in %s/%s (%s / %s)",
				r.ID, w[0], w[1], r.Behavior, r.BehaviorClose, r.Result, r.ResultClose))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s role: %d of %d cases differ from the maintainers' documented results:\n  %s", role, len(diffs), len(got), strings.Join(diffs, "\n  "))
	}
}

// TestPythonWebsocketsServerMatchesDocs runs groups 1-7, 9 and 10 against
// a websockets 10.4 echo server set up like the maintainers'
// compliance/test_server.py, one case at a time as the real suite does.
func TestPythonWebsocketsServerMatchesDocs(t *testing.T) {
	wantPeers(t)
	pv, fx := readPythonFixture(t)
	python := findPythonWebsockets(t, pv.Version)
	cases, err := Select(peerCases, "")
	require.NoError(t, err)
	_, out := startPythonPeer(t, python, "server")
	line, err := out.ReadString('\n')
	require.NoError(t, err, "the python server did not start")
	var addr struct{ Port int }
	require.NoError(t, json.Unmarshal([]byte(line), &addr))
	go io.Copy(io.Discard, out)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := FuzzingClient(ctx, fmt.Sprintf("ws://127.0.0.1:%d", addr.Port), cases, &Options{Agent: "websockets", Parallel: 1})
	require.NoError(t, err)
	compareDocumented(t, "server", pv.Verdicts["server"], fx, res)
}

// TestPythonWebsocketsClientMatchesDocs does the same with websockets'
// client against the built-in fuzzing server, driven like the
// maintainers' compliance/test_client.py: one case at a time, each on a
// new connection, then /updateReports.
func TestPythonWebsocketsClientMatchesDocs(t *testing.T) {
	wantPeers(t)
	pv, fx := readPythonFixture(t)
	python := findPythonWebsockets(t, pv.Version)
	cases, err := Select(peerCases, "")
	require.NoError(t, err)
	srv, base := startFuzzingServer(t, cases)
	// Count 0 makes the driver ask /getCaseCount, as the maintainers'
	// client does.
	status, out := startPythonPeer(t, python, "client", base, "websockets", "1", "1", "0")
	waitPeer(t, "the python client", status, out)
	// updateReports returns once every result is recorded.
	status, out = startPythonPeer(t, python, "update", base, "websockets")
	waitPeer(t, "the python client's updateReports", status, out)
	compareDocumented(t, "client", pv.Verdicts["client"], fx, srv.Results("websockets"))
}
