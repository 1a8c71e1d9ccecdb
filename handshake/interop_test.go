package handshake

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"
)

// TestInteropXNetClient: golang.org/x/net/websocket's client against
// Upgrade. x/net always sends an Origin; ours is the server's own host, so the
// default same-host policy lets it in.
func TestInteropXNetClient(t *testing.T) {
	var wg sync.WaitGroup
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, br, res, err := Upgrade(w, r, &ServerOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		if res.Subprotocol != "chat" {
			t.Errorf("subprotocol %q", res.Subprotocol)
		}
		// A text frame written by hand: FIN, opcode 1, unmasked, "hello".
		if _, err := c.Write([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}); err != nil {
			t.Error(err)
			return
		}
		op, masked, payload, err := readFrameErr(br)
		if err != nil {
			t.Error(err)
			return
		}
		if op != 1 || !masked {
			t.Errorf("x/net sent opcode %d masked %v", op, masked)
		}
		got <- string(payload)
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })

	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	cfg, err := websocket.NewConfig(wsURL, srv.URL)
	require.NoError(t, err)
	cfg.Protocol = []string{"chat"}
	ws, err := websocket.DialConfig(cfg)
	require.NoError(t, err)
	defer ws.Close()
	var msg string
	require.NoError(t, websocket.Message.Receive(ws, &msg))
	assert.Equal(t, "hello", msg)
	require.NoError(t, websocket.Message.Send(ws, "hi there"))
	assert.Equal(t, "hi there", <-got)
}

// TestInteropXNetServer: Dial against golang.org/x/net/websocket's server.
func TestInteropXNetServer(t *testing.T) {
	var wg sync.WaitGroup
	srv := httptest.NewServer(websocket.Server{
		Handshake: func(cfg *websocket.Config, r *http.Request) error {
			cfg.Protocol = []string{"chat"}
			if r.Header.Get("Origin") != "http://client.example" {
				t.Errorf("origin %q", r.Header.Get("Origin"))
			}
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			wg.Add(1)
			defer wg.Done()
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				t.Error(err)
				return
			}
			if err := websocket.Message.Send(ws, "echo: "+msg); err != nil {
				t.Error(err)
			}
		},
	})
	t.Cleanup(func() { srv.Close(); wg.Wait() })

	c, br, resp, res, err := Dial(t.Context(), srv.URL, &ClientOptions{
		Subprotocols: []string{"chat"},
		Header:       http.Header{"Origin": {"http://client.example"}},
	})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 101, resp.StatusCode)
	assert.Equal(t, "chat", res.Subprotocol)
	// A masked text frame written by hand: FIN, opcode 1, MASK, len 3, key, "abc" ^ key.
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	_, err = c.Write([]byte{0x81, 0x83, key[0], key[1], key[2], key[3], 'a' ^ key[0], 'b' ^ key[1], 'c' ^ key[2]})
	require.NoError(t, err)
	op, masked, payload := readFrame(t, br)
	assert.Equal(t, byte(1), op)
	assert.False(t, masked, "a server must not mask")
	assert.Equal(t, "echo: abc", string(payload))
}
