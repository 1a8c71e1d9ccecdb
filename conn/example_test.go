package conn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// echoHandler is the server of the examples: it sends every message back.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	c, err := conn.Accept(w, r, &conn.AcceptOptions{Compression: conn.CompressionNoContextTakeover})
	if err != nil {
		return // Accept has answered the bad request
	}
	defer c.CloseNow()
	var buf []byte
	for {
		typ, msg, err := c.ReadInto(context.Background(), buf)
		if err != nil {
			return
		}
		if err := c.Write(context.Background(), typ, msg); err != nil {
			return
		}
		buf = msg // reuse the memory for the next message
	}
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

// A server and a client exchange a message, then close.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Write(ctx, conn.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(wsframe.CloseNormal, "done"))
	// Output:
	// text hello
	// <nil>
}

// Dial with compression and a subprotocol offer.
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{
			Subprotocols: []string{"chat.v2", "chat.v1"},
			Compression:  conn.CompressionContextTakeover,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context()) // until the client closes
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := conn.Dial(ctx, wsURL(srv), &conn.DialOptions{
		Subprotocols: []string{"chat.v1"},
		Compression:  conn.CompressionContextTakeover,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsframe.CloseNormal, "")
	fmt.Println(c.Subprotocol())
	fmt.Println(resp.Header.Get("Sec-WebSocket-Extensions"))
	// Output:
	// chat.v1
	// permessage-deflate
}

// A failed handshake returns the server's response.
func ExampleDial_refused() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no token", http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, resp, err := conn.Dial(context.Background(), wsURL(srv), nil)
	fmt.Println(err != nil, resp.StatusCode)
	// Output: true 401
}

// Read the peer's close code and reason from the error of a read.
func ExampleCloseError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(wsframe.ClosePolicyViolation, "too many requests")
	}))
	defer srv.Close()
	c, _, err := conn.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.Read(context.Background())
	var ce conn.CloseError
	if errors.As(err, &ce) {
		fmt.Println(uint16(ce.Code), ce.Reason)
	}
	fmt.Println(conn.CloseCode(err))
	// Output:
	// 1008 too many requests
	// 1008 (policy violation)
}

// Stream a large message in fragments, and read it as a stream.
func ExampleConn_Writer() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := conn.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsframe.CloseNormal, "")

	w, err := c.Writer(ctx, conn.MessageBinary)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(w, strings.NewReader(strings.Repeat("x", 100000))) // sent as it is written
	w.Close()

	typ, r, err := c.Reader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	fmt.Println(typ, n, err)
	// Output: binary 100000 <nil>
}

// Send one message to many connections, encoding it once.
func ExampleNewPreparedMessage() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	ctx := context.Background()
	pm, err := conn.NewPreparedMessage(conn.MessageText, []byte(`{"tick":1}`))
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c, _, err := conn.Dial(ctx, wsURL(srv), nil)
		if err != nil {
			log.Fatal(err)
		}
		c.WritePrepared(ctx, pm)
		_, msg, _ := c.Read(ctx)
		fmt.Println(string(msg))
		c.Close(wsframe.CloseNormal, "")
	}
	// Output:
	// {"tick":1}
	// {"tick":1}
	// {"tick":1}
}

// Use a WebSocket as a net.Conn, for protocols that want a byte stream.
func ExampleNetConn() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := conn.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	nc := conn.NetConn(ctx, c, conn.MessageBinary)
	defer nc.Close()
	fmt.Fprintf(nc, "ping %d", 42)
	buf := make([]byte, 32)
	n, _ := nc.Read(buf)
	fmt.Println(string(buf[:n]))
	// Output: ping 42
}

// Close every connection with 1001 when the server shuts down.
func ExampleGroup() {
	var g conn.Group
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.Accept(w, r, nil)
		if err != nil {
			return
		}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, _, err := conn.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); done <- err }()
	for g.Len() == 0 {
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	fmt.Println(conn.CloseCode(<-done))
	// Output: 1001 (going away)
}

// Ping waits for the pong; a goroutine must be reading meanwhile.
func ExampleConn_Ping() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := conn.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	go c.Read(context.Background())
	fmt.Println(c.Ping(ctx))
	c.Close(wsframe.CloseNormal, "")
	// Output: <nil>
}
