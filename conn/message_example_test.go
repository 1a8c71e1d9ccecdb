package conn_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// echo is the loop of the README's server: ReadMessage, Write, Release.
func echo(c *conn.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	for {
		m, err := c.ReadMessage(ctx)
		if err != nil {
			return
		}
		err = c.Write(ctx, m.Type, m.Payload)
		m.Release()
		if err != nil {
			return
		}
	}
}

// The server of the README: the handler starts the connection's loop on a
// goroutine of its own and returns; the loop reads into pooled buffers.
// The client sends three messages before reading: the server's replies to
// the first two wait for the third's and leave with it.
func ExampleConn_ReadMessage() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		go echo(c)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		if err := c.Write(ctx, conn.MessageText, []byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		m, err := c.ReadMessage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Type, string(m.Payload))
		m.Release()
	}
	fmt.Println(c.Close(wsframe.CloseNormal, ""))
	// Output:
	// text one
	// text two
	// text three
	// <nil>
}
