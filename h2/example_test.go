package h2_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
	"github.com/ws6455/ws6455/wsframe"
)

// A WebSocket over HTTP/2 without TLS (h2c): the server is an ordinary
// conn.Accept handler that stays until its Conn is closed; the client is
// an h2.Dialer. The server's process must start with
// GODEBUG=http2xconnect=1 in its environment (Go 1.26/1.27); this
// package's tests run so.
func Example() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil) // HTTP/1.1 upgrades and HTTP/2 alike
		if err != nil {
			return
		}
		defer c.CloseNow() // over HTTP/2, the handler must not return before
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			c.Write(r.Context(), typ, msg)
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // h2c; TLS servers offer h2 by ALPN
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d h2.Dialer // one HTTP/2 connection per host, shared by its WebSockets
	defer d.CloseIdleConnections()
	c, resp, err := d.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Proto, resp.StatusCode)
	if err := c.Write(ctx, conn.MessageText, []byte("hello over HTTP/2")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	fmt.Println(c.Close(wsframe.CloseNormal, "bye"))
	// Output:
	// HTTP/2.0 200
	// hello over HTTP/2
	// <nil>
}
