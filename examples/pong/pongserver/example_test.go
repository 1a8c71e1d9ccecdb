package pongserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/pong/pongserver"
)

// A Server is mounted under a prefix with http.StripPrefix: the page is at
// /pong/ and the WebSocket endpoint at /pong/ws. Here a client creates a
// game over the endpoint.
func Example() {
	games := pongserver.New(pongserver.Config{})
	defer games.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/pong/", http.StripPrefix("/pong", games))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/pong/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.Write(ctx, conn.MessageText, []byte(`{"type":"create","data":{"game":"friday"}}`))
	_, data, err := c.Read(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	var m struct {
		Type string `json:"type"`
		Data struct {
			Game, Side, Token string
		} `json:"data"`
	}
	json.Unmarshal(data, &m)
	fmt.Println(m.Type, m.Data.Game, m.Data.Side, len(m.Data.Token))
	// Output: created friday left 32
}
