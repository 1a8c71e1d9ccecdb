package main

import (
	"context"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
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
	// client connects a client peer to one case URL and echoes until the
	// connection ends.
	client func(ctx context.Context, url string)
}

func (p *peer) isServer() bool { return p.handler != nil }

// peers lists the four reference runs, in the order the cross-check runs
// them.
var peers = []*peer{
	{folder: "gorilla-server", agent: "gorilla-m", path: "/m", handler: gorillaServer},
	{folder: "coder-server", agent: "coder", path: "/", handler: coderServer},
	{folder: "gorilla-client", agent: "gorilla-client", client: gorillaClient},
	{folder: "coder-client", agent: "coder-client", client: coderClient},
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
