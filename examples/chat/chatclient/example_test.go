package chatclient_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/examples/chat/chatclient"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

// A member that stays in the room: it would reconnect and resume by
// itself if the connection dropped.
func Example() {
	ts := httptest.NewServer(chatserver.New(chatserver.Config{Token: "s3cret"}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got := make(chan chatserver.Event, 10)
	cl := chatclient.New(chatclient.Config{
		URLs: []string{"ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"},
		Nick: "ada", Token: "s3cret",
		OnEvent: func(ev chatserver.Event) { got <- ev },
	})
	go cl.Run(ctx)
	fmt.Println((<-got).Type) // our own join: we are in
	for cl.Say(ctx, "hello") == chatclient.ErrNotConnected {
		time.Sleep(time.Millisecond)
	}
	ev := <-got
	fmt.Println(ev.Type, ev.Nick, ev.Text)
	// Output:
	// join
	// message ada hello
}
