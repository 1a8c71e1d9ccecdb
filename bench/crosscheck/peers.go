package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
	"unicode/utf8"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/ws6455/ws6455/autobahn/testee"
	"github.com/ws6455/ws6455/conn"
)

// A peer is one of the implementations the real suite was run against for
// the reference results, set up the same way (see the shared autobahn
// README, "How each peer was set up"). Exactly one of handler and client is
// set: a server peer is tested by the suite in fuzzing-client mode, a client
// peer by the suite in fuzzing-server mode.
type peer struct {
	// folder is the reference folder holding the real suite's verdicts.
	folder string
	// agent is the agent name of the reference run (and of ours).
	agent string
	// path is the URL path a server peer serves its echo on.
	path string
	// handler is a server peer's echo endpoint.
	handler http.HandlerFunc
	// start starts a server peer in another process and returns its URL
	// and how to stop it. Such a peer takes one case at a time: the
	// cross-check starts -parallel of them and shares the cases out.
	start func(ctx context.Context) (url string, stop func(), err error)
	// dir, when set, is the reference folder's path relative to the
	// parent of -ref (for the runs that are not under reference/).
	dir string
	// client connects a client peer to one case URL and echoes until the
	// connection ends.
	client func(ctx context.Context, url string)
	// runAll, set instead of client for a client in another process,
	// runs cases 1 to count of the fuzzing server at base, parallel at a
	// time, then asks it for the reports, and returns when it is done.
	runAll func(ctx context.Context, base string, count int, agent string, parallel int) error
}

func (p *peer) isServer() bool { return p.handler != nil || p.start != nil }

// refPath is the peer's reference folder under ref (the -ref directory).
func (p *peer) refPath(ref string) string {
	if p.dir != "" {
		return filepath.Join(ref, "..", p.dir)
	}
	return filepath.Join(ref, p.folder)
}

// peers lists every reference run of the real suite, in the order the
// cross-check runs them: the four Go libraries, Node's ws (which needs
// node and `npm ci --prefix interop/node`), and this project's own testee
// server and client.
var peers = []*peer{
	{folder: "gorilla-server", agent: "gorilla-m", path: "/m", handler: gorillaServer},
	{folder: "coder-server", agent: "coder", path: "/", handler: coderServer},
	{folder: "gorilla-client", agent: "gorilla-client", client: gorillaClient},
	{folder: "coder-client", agent: "coder-client", client: coderClient},
	{folder: "nodews-server", agent: "nodews", start: nodeServer},
	{folder: "nodews-client", agent: "nodews", runAll: nodeClient},
	{folder: "ws6455-server", agent: "ws6455", path: "/", handler: ws6455Server, dir: "ws6455-server"},
	{folder: "ws6455-client", agent: "ws6455", client: ws6455Client, dir: "ws6455-client"},
}

// The Node ws peer is the suite's own test peer script: ws 8.23 with
// permessage-deflate and a 64 MiB maxPayload, echoing every message, as in
// the reference runs. Paths are relative to the bench directory.
var (
	nodeScript  = filepath.Join("..", "autobahn", "suite", "testdata", "peers", "nodews.js")
	nodeModules = filepath.Join("..", "interop", "node", "node_modules")
)

// nodeCommand returns a command running the peer script with args.
func nodeCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not installed (Debian: apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(nodeModules, "ws", "package.json")); err != nil {
		return nil, errors.New("ws is not installed: run npm ci --prefix ../interop/node")
	}
	mods, err := filepath.Abs(nodeModules)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, node, append([]string{nodeScript}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// nodeServer starts Node's ws echo server and returns its URL.
func nodeServer(ctx context.Context) (string, func(), error) {
	cmd, err := nodeCommand(ctx, "server")
	if err != nil {
		return "", nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		stdin.Close() // the script exits when its stdin ends
		cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("the node server did not start: %w", err)
	}
	var addr struct{ Port int }
	if err := json.Unmarshal([]byte(line), &addr); err != nil {
		stop()
		return "", nil, fmt.Errorf("the node server said %q: %w", line, err)
	}
	return fmt.Sprintf("ws://127.0.0.1:%d", addr.Port), stop, nil
}

// nodeClient runs Node's ws client through every case: parallel node
// processes, each taking one case at a time (node runs one thread, and the
// reference runs took one case at a time, so a case waiting for a close
// reply must not wait behind another case's 16 MiB message), then asks for
// the reports.
func nodeClient(ctx context.Context, base string, count int, agent string, parallel int) error {
	errs := make(chan error, parallel)
	for k := range parallel {
		go func() {
			errs <- runNode(ctx, "client", base, agent, fmt.Sprint(k+1), fmt.Sprint(parallel), fmt.Sprint(count))
		}()
	}
	var first error
	for range parallel {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	return runNode(ctx, "update", base, agent)
}

// runNode runs the peer script with args until it exits.
func runNode(ctx context.Context, args ...string) error {
	cmd, err := nodeCommand(ctx, args...)
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	defer stdin.Close()
	return cmd.Run()
}

// ws6455Server is this project's testee server (autobahn/testee/server):
// context takeover compression, a 64 MiB read limit, and the echo loop.
func ws6455Server(w http.ResponseWriter, r *http.Request) {
	c, err := conn.Accept(w, r, &conn.AcceptOptions{
		InsecureSkipOriginCheck: true,
		ReadLimit:               testee.ReadLimit,
		Compression:             conn.CompressionContextTakeover,
	})
	if err != nil {
		return
	}
	defer c.CloseNow()
	testee.Echo(r.Context(), c)
}

// ws6455Client is this project's testee client (autobahn/testee/client)
// for one case.
func ws6455Client(ctx context.Context, url string) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := conn.Dial(dctx, url, &conn.DialOptions{
		ReadLimit:   testee.ReadLimit,
		Compression: conn.CompressionContextTakeover,
	})
	cancel()
	if err != nil {
		return
	}
	defer c.CloseNow()
	testee.Echo(ctx, c)
}

// gorillaUpgrader is the upgrader of gorilla's own Autobahn example server.
var gorillaUpgrader = websocket.Upgrader{
	ReadBufferSize:    4096,
	WriteBufferSize:   4096,
	EnableCompression: true,
	CheckOrigin:       func(*http.Request) bool { return true },
}

// gorillaServer is the /m endpoint of gorilla's Autobahn example server:
// whole messages read with ReadMessage and written back with WriteMessage.
func gorillaServer(w http.ResponseWriter, r *http.Request) {
	c, err := gorillaUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	gorillaEcho(c)
}

// gorillaEcho is the loop of gorilla's example: a text message that is not
// valid UTF-8 earns a close frame with 1007, and is then written back like
// any other (the write fails once the close frame is out); the loop ends
// at the first read error.
func gorillaEcho(c *websocket.Conn) {
	for {
		mt, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage && !utf8.Valid(b) {
			c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""), time.Time{})
		}
		c.WriteMessage(mt, b)
	}
}

// gorillaClient is gorilla's client with compression enabled and the same
// loop as the /m server.
func gorillaClient(ctx context.Context, url string) {
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 30 * time.Second}
	c, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	gorillaEcho(c)
}

// coderServer is coder/websocket's echo server as in its own Autobahn
// test: compression with context takeover, a 1 GiB read limit, and each
// message streamed from Reader to Writer.
func coderServer(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionContextTakeover})
	if err != nil {
		return
	}
	coderEcho(r.Context(), c)
}

// coderClient is coder/websocket's client with the same settings and loop.
func coderClient(ctx context.Context, url string) {
	c, _, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: coder.CompressionContextTakeover})
	if err != nil {
		return
	}
	coderEcho(ctx, c)
}

// coderEcho is the echo loop of coder/websocket's Autobahn test (its
// internal wstest.EchoLoop, written out here because that package is
// internal).
func coderEcho(ctx context.Context, c *coder.Conn) {
	defer c.Close(coder.StatusInternalError, "")
	c.SetReadLimit(1 << 30)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	b := make([]byte, 32<<10)
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return
		}
		if _, err := io.CopyBuffer(w, r, b); err != nil {
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}
