//go:build unix

package interop

import (
	"testing"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
)

// pythonDeflateCases: websockets' permessage-deflate factories against our
// modes, plus the library's defaults (its server asks for 12-bit windows both
// ways, which our client honours with Huffman-only coding).
var pythonDeflateCases = []deflateCase{
	{name: "off", peer: nil, ours: conn.CompressionContextTakeover},
	{name: "declined-by-us", peer: "default", ours: conn.CompressionDisabled},
	{
		name: "library-default", peer: "default", ours: conn.CompressionContextTakeover,
		asServer: &handshake.DeflateParams{},
		asClient: &handshake.DeflateParams{ServerMaxWindowBits: 12, ClientMaxWindowBits: 12},
	},
	{
		name: "context-takeover", peer: map[string]any{}, ours: conn.CompressionContextTakeover,
		asServer: &handshake.DeflateParams{}, asClient: &handshake.DeflateParams{},
	},
	{
		name: "no-context-takeover-peer", ours: conn.CompressionContextTakeover,
		peer:     map[string]any{"serverNoContextTakeover": true, "clientNoContextTakeover": true},
		asServer: &handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		asClient: &handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
	},
	{
		name: "no-context-takeover-ours", peer: map[string]any{}, ours: conn.CompressionNoContextTakeover,
		asServer: &handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		asClient: &handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
	},
	{
		name: "window-bits-10", ours: conn.CompressionContextTakeover,
		peer:     map[string]any{"serverMaxWindowBits": 10, "clientMaxWindowBits": 10},
		asServer: &handshake.DeflateParams{ServerMaxWindowBits: 10},
		asClient: &handshake.DeflateParams{ServerMaxWindowBits: 10, ClientMaxWindowBits: 10},
	},
}

// TestPythonWebsockets runs the matrix against Python's websockets
// (interop/python): its client against our server and our client against
// its server, with every permessage-deflate configuration, then the close
// matrix.
func TestPythonWebsockets(t *testing.T) {
	findPython(t)
	runPeerMatrix(t, startPython, pythonDeflateCases)
}
