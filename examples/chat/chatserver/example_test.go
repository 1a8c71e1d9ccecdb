package chatserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
	"github.com/ws6455/ws6455/wsframe"
)

// A member joins the room, says something and hears it back.
func Example() {
	ts := httptest.NewServer(chatserver.New(chatserver.Config{Token: "s3cret"}))
	defer ts.Close()
	ws := "ws" + strings.TrimPrefix(ts.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, ws+"/ws?nick=ada&token=s3cret", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(wsframe.CloseNormal, "bye")
	c.Write(ctx, conn.MessageText, []byte(`{"type":"say","text":"hello, room"}`))
	for range 3 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		var ev chatserver.Event
		json.Unmarshal(msg, &ev)
		fmt.Println(ev.Type, ev.Nick, ev.Text, ev.Members)
	}
	// Output:
	// welcome ada  [ada]
	// join ada  []
	// message ada hello, room []
}

// Without the token, the server answers 401 and no WebSocket connection is
// made.
func Example_refused() {
	ts := httptest.NewServer(chatserver.New(chatserver.Config{Token: "s3cret"}))
	defer ts.Close()
	ws := "ws" + strings.TrimPrefix(ts.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := conn.Dial(ctx, ws+"/ws?nick=ada&token=guess", nil)
	fmt.Println(resp.StatusCode, err != nil)
	// Output:
	// 401 true
}
