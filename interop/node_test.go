//go:build unix

package interop

import (
	"testing"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
)

// nodeDeflateCases: ws's perMessageDeflate options against our modes. The
// peer scripts set ws's threshold to 0, so ws compresses every message.
var nodeDeflateCases = []deflateCase{
	{name: "off", peer: nil, ours: conn.CompressionContextTakeover},
	{name: "declined-by-us", peer: map[string]any{}, ours: conn.CompressionDisabled},
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

// TestNodeWS runs the matrix against Node's ws (interop/node): its client
// against our server and our client against its server, with every
// permessage-deflate configuration, then the close matrix.
func TestNodeWS(t *testing.T) {
	findNode(t)
	runPeerMatrix(t, startNode, nodeDeflateCases)
}
