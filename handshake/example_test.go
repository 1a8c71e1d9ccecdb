package handshake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/ws6455/ws6455/handshake"
)

// A server that upgrades with a subprotocol and sends one text frame, and a
// client that dials it with Dial.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, res, err := handshake.Upgrade(w, r, &handshake.ServerOptions{
			Subprotocols: []string{"chat.v2", "chat.v1"},
		})
		if err != nil {
			log.Println(err) // the 4xx answer has already been sent
			return
		}
		defer c.Close()
		// Frames start here. An unmasked text frame "hi", written by hand:
		c.Write([]byte{0x81, 0x02, 'h', 'i'})
		_ = res
	}))
	defer srv.Close()

	c, br, resp, res, err := handshake.Dial(context.Background(), "ws"+srv.URL[len("http"):], &handshake.ClientOptions{
		Subprotocols: []string{"chat.v1", "chat.v2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	frame := make([]byte, 4)
	if _, err := io.ReadFull(br, frame); err != nil { // read through br: it may hold data already
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status)
	fmt.Println("subprotocol:", res.Subprotocol) // the server's preference wins
	fmt.Printf("first frame: % x\n", frame)
	// Output:
	// 101 Switching Protocols
	// subprotocol: chat.v2
	// first frame: 81 02 68 69
}

// A refused handshake: the server's Origin policy blocks a cross-site page,
// and the client sees the status and the reason.
func ExampleUpgrade_origin() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _, err := handshake.Upgrade(w, r, &handshake.ServerOptions{
			OriginPatterns: []string{"*.example.com"},
		})
		var re *handshake.RequestError
		if errors.As(err, &re) {
			fmt.Println("server refused:", re.Status, re.Reason)
			return
		}
		if err == nil {
			c.Close()
		}
	}))
	defer srv.Close()

	for _, origin := range []string{"https://app.example.com", "https://evil.example"} {
		c, _, _, _, err := handshake.Dial(context.Background(), srv.URL, &handshake.ClientOptions{
			Header: http.Header{"Origin": {origin}},
		})
		var re *handshake.ResponseError
		switch {
		case err == nil:
			fmt.Println(origin, "accepted")
			c.Close()
		case errors.As(err, &re):
			fmt.Printf("%s refused: %d %q\n", origin, re.Response.StatusCode, re.Body)
		default:
			fmt.Println(err)
		}
	}
	// Output:
	// https://app.example.com accepted
	// server refused: 403 cross-origin request refused
	// https://evil.example refused: 403 "cross-origin request refused\n"
}

// Negotiating permessage-deflate with the extension hook: accept the first
// valid offer and turn context takeover off on the server side.
func ExampleServerOptions_negotiateExtensions() {
	opts := &handshake.ServerOptions{
		NegotiateExtensions: func(offers []handshake.Extension) ([]handshake.Extension, error) {
			for _, o := range offers {
				if o.Name != handshake.DeflateName {
					continue
				}
				p, err := handshake.ParseDeflateParams(o, true)
				if err != nil {
					continue // decline a bad offer, try the next
				}
				resp := handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: p.ClientNoContextTakeover}
				return []handshake.Extension{resp.Extension()}, nil
			}
			return nil, nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _, _, err := handshake.Upgrade(w, r, opts); err == nil {
			c.Close()
		}
	}))
	defer srv.Close()

	offer, _ := handshake.ParseExtensions([]string{"permessage-deflate; client_max_window_bits=16, permessage-deflate; client_no_context_takeover"})
	c, _, resp, res, err := handshake.Dial(context.Background(), srv.URL, &handshake.ClientOptions{Extensions: offer})
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Close()
	fmt.Println(resp.Header.Get("Sec-WebSocket-Extensions"))
	fmt.Println(len(res.Extensions), res.Extensions[0].Name)
	// Output:
	// permessage-deflate; server_no_context_takeover; client_no_context_takeover
	// 1 permessage-deflate
}
