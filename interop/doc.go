// Package interop tests ws6455 against WebSocket implementations it did not
// write: Node's ws, Python's websockets, headless Chromium and
// golang.org/x/net/websocket, each in both roles where the peer has them.
//
// The package has no API: everything is in its tests. Node and Python run as
// remote-controlled peers (node/peer.js, python/peer.py) that take JSON
// commands on stdin and report JSON events on stdout, so one Go test matrix
// drives both. A test whose peer is not installed is skipped and says how to
// install it; see README.md.
package interop
