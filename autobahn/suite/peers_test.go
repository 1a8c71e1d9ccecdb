package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests in this file run the built-in suite against real peers that
// install without docker (Node's ws from interop/node) and compare its
// verdicts, case by case, with the real suite's verdicts for the same peer
// version, committed in testdata/peers. They take about a minute, so they
// run when WS_AUTOBAHN_PEERS is set (autobahn/run.sh peers, which
// `make test` calls); with CI=true a missing peer fails them instead of
// skipping.

// peerVerdicts is a committed fixture: the real suite's verdicts for one
// peer version in both roles.
type peerVerdicts struct {
	Peer     string                         `json:"peer"`
	Version  string                         `json:"version"`
	Verdicts map[string]map[string][]string `json:"verdicts"`
}

func readPeerVerdicts(t *testing.T, name string) *peerVerdicts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "peers", name))
	require.NoError(t, err)
	var pv peerVerdicts
	require.NoError(t, json.Unmarshal(b, &pv))
	require.NotEmpty(t, pv.Verdicts["server"])
	require.NotEmpty(t, pv.Verdicts["client"])
	return &pv
}

// missingPeer skips the test, or fails it when CI=true.
func missingPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skip(msg)
}

func wantPeers(t *testing.T) {
	t.Helper()
	if os.Getenv("WS_AUTOBAHN_PEERS") == "" {
		t.Skip("set WS_AUTOBAHN_PEERS=1 to run the suite against real peers (autobahn/run.sh peers)")
	}
}

// findNodeWS returns the node binary and the node_modules directory that
// holds ws at version.
func findNodeWS(t *testing.T, version string) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingPeer(t, "node is not installed (Debian: apt-get install nodejs npm)")
	}
	modules, err = filepath.Abs(filepath.Join("..", "..", "interop", "node", "node_modules"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(modules, "ws", "package.json"))
	if err != nil {
		missingPeer(t, "the ws package is not installed (run: npm ci --prefix interop/node)")
	}
	var pkg struct{ Version string }
	require.NoError(t, json.Unmarshal(b, &pkg))
	if pkg.Version != version {
		// The committed verdicts are for one version; comparing another
		// would report differences that are not the suite's.
		t.Fatalf("interop/node has ws %s, the reference verdicts are for %s: update the fixture or interop/node/package-lock.json", pkg.Version, version)
	}
	return node, modules
}

// startNodeWS starts testdata/peers/nodews.js with args; stdin stays open
// until the test ends (the script exits when it closes). The channel gets
// the process's exit status.
func startNodeWS(t *testing.T, node, modules string, args ...string) (<-chan error, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(node, append([]string{filepath.Join("testdata", "peers", "nodews.js")}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	return startPeerProcess(t, cmd)
}

// startPeerProcess starts a peer's script; its stdin stays open until the
// test ends (the scripts exit when it closes), and it is killed if it has
// not exited 10 s later. The channel gets the process's exit status.
func startPeerProcess(t *testing.T, cmd *exec.Cmd) (<-chan error, *bufio.Reader) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	status := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		exited <- err
		status <- err
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	return status, bufio.NewReader(stdout)
}

// startFuzzingServer serves cases with the built-in fuzzing server until
// the test ends; base is its ws:// address.
func startFuzzingServer(t *testing.T, cases []*Case) (srv *Server, base string) {
	t.Helper()
	srv = NewServer(cases, t.TempDir(), &Options{})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return srv, "ws://" + hs.Listener.Addr().String()
}

// waitPeer waits (at most 10 minutes) for a peer's process to exit
// successfully, discarding what it prints.
func waitPeer(t *testing.T, what string, status <-chan error, out *bufio.Reader) {
	t.Helper()
	go io.Copy(io.Discard, out)
	select {
	case err := <-status:
		require.NoError(t, err, what)
	case <-time.After(10 * time.Minute):
		t.Fatalf("%s did not finish within 10 minutes", what)
	}
}

// peerCases are the groups of the real suite's reference runs of Node's
// ws: 1 to 7, 9 and 10 (no compression groups).
const peerCases = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"

// compareVerdicts checks every result against the real suite's verdict
// and reports all differences at once. When the real suite's reports for
// the peer are at hand (refFolder under the shared reference directory),
// it also checks that the suite wrote the same frames in writes of the
// same sizes, case by case.
func compareVerdicts(t *testing.T, role string, want map[string][]string, got []*Result, refFolder string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(referenceDir, refFolder)); err == nil {
		ref := loadReference(t)[refFolder]
		for _, r := range got {
			if rc := ref[r.ID]; rc != nil {
				requireSameWrites(t, rc, r)
			}
		}
	}
	require.Len(t, got, len(want), "%s role: one result per reference case", role)
	var diffs []string
	for _, r := range got {
		w, ok := want[r.ID]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: no reference verdict", r.ID))
			continue
		}
		if w[0] != r.Behavior || w[1] != r.BehaviorClose {
			diffs = append(diffs, fmt.Sprintf("%s: real suite %s/%s, built-in %s/%s (%s / %s)",
				r.ID, w[0], w[1], r.Behavior, r.BehaviorClose, r.Result, r.ResultClose))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s role: %d of %d cases differ from the real suite:\n  %s", role, len(diffs), len(got), strings.Join(diffs, "\n  "))
	}
}

// nodeProcesses is how many Node processes share the cases of one role.
// Node runs one thread, so each process takes one case at a time, as the
// real suite did in the reference runs: a case waiting a second for a
// close reply must not wait behind another case's 16 MiB message.
const nodeProcesses = 2

// TestNodeWSServerMatchesRealSuite runs groups 1-7, 9 and 10 against Node
// ws echo servers set up like the reference run's and expects the real
// suite's verdict on every case (9.3.1, 9.3.2, 9.4.1 and 9.4.2 FAILED
// among them: ws refuses a message of more than 16384 fragments with
// 1008, and the real suite sends 4 MiB in 256-octet fragments as 16385
// frames).
func TestNodeWSServerMatchesRealSuite(t *testing.T) {
	wantPeers(t)
	pv := readPeerVerdicts(t, "nodews-8.23.0.json")
	node, modules := findNodeWS(t, pv.Version)
	cases, err := Select(peerCases, "")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  []*Result
		errs []error
	)
	for k := range nodeProcesses {
		_, out := startNodeWS(t, node, modules, "server")
		line, err := out.ReadString('\n')
		require.NoError(t, err, "the node server did not start")
		var addr struct{ Port int }
		require.NoError(t, json.Unmarshal([]byte(line), &addr))
		go io.Copy(io.Discard, out)
		var mine []*Case
		for i := k; i < len(cases); i += nodeProcesses {
			mine = append(mine, cases[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := FuzzingClient(ctx, fmt.Sprintf("ws://127.0.0.1:%d", addr.Port), mine, &Options{Agent: "nodews", Parallel: 1})
			mu.Lock()
			defer mu.Unlock()
			all = append(all, res...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	compareVerdicts(t, "server", pv.Verdicts["server"], all, "nodews-server")
}

// TestNodeWSClientMatchesRealSuite does the same with Node ws's client
// against the built-in fuzzing server.
func TestNodeWSClientMatchesRealSuite(t *testing.T) {
	wantPeers(t)
	pv := readPeerVerdicts(t, "nodews-8.23.0.json")
	node, modules := findNodeWS(t, pv.Version)
	cases, err := Select(peerCases, "")
	require.NoError(t, err)
	srv, base := startFuzzingServer(t, cases)
	type proc struct {
		status <-chan error
		out    *bufio.Reader
	}
	var procs []proc
	for k := range nodeProcesses {
		status, out := startNodeWS(t, node, modules, "client", base, "nodews", fmt.Sprint(k+1), fmt.Sprint(nodeProcesses), fmt.Sprint(len(cases)))
		procs = append(procs, proc{status, out})
	}
	for _, p := range procs {
		waitPeer(t, "a node client", p.status, p.out)
	}
	// updateReports returns once every result is recorded.
	status, out := startNodeWS(t, node, modules, "update", base, "nodews")
	waitPeer(t, "the node client's updateReports", status, out)
	compareVerdicts(t, "client", pv.Verdicts["client"], srv.Results("nodews"), "nodews-client")
}
