package echoserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/echo/echoserver"
	"github.com/ws6455/ws6455/wsframe"
)

// The echo service mounted under a prefix, and a client talking to it.
func Example() {
	srv := echoserver.New(echoserver.Config{})
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", srv)) // page at /echo/, WebSocket at /echo/echo
	ts := httptest.NewServer(mux)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/echo/echo", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(ctx, conn.MessageText, []byte("hello"))
	typ, msg, err := c.Read(ctx)
	fmt.Println(typ, string(msg), err)

	// Shutting down says goodbye to every client with 1001.
	go srv.Shutdown(ctx)
	_, _, err = c.Read(ctx)
	fmt.Println(conn.CloseCode(err) == wsframe.CloseGoingAway)
	// Output:
	// text hello <nil>
	// true
}
