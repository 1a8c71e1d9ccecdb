// Command chat is a WebSocket chat room, served by this one process (for
// many processes behind a load balancer, see examples/chat/redis).
//
//	go run ./examples/chat -addr 127.0.0.1:8082 -token secret
//
// Open http://127.0.0.1:8082/ and join with a nickname and the token.
// Without -token a random one is made up and printed. The WebSocket
// endpoint is /ws?nick=NAME&token=TOKEN (or send the token as
// "Authorization: Bearer TOKEN"); messages are JSON, see package
// chatserver.
//
// SIGINT or SIGTERM tells every client to reconnect, closes it with 1001
// (going away) and waits, boundedly, for the close handshakes.
package main

import (
	"crypto/rand"
	"flag"
	"log"
	"net"
	"time"

	"github.com/ws6455/ws6455/examples/chat/chatserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	token := flag.String("token", "", "token clients must present (default: a random one, printed at start)")
	history := flag.Int("history", chatserver.DefaultHistorySize, "how many past events newcomers receive")
	queue := flag.Int("queue", chatserver.DefaultQueueSize, "events that may wait for a slow client before it is dropped")
	shutdownTimeout := flag.Duration("shutdown-timeout", 5*time.Second, "how long to wait for close handshakes on shutdown")
	flag.Parse()

	if *token == "" {
		*token = rand.Text()
	}
	srv := chatserver.New(chatserver.Config{Token: *token, HistorySize: *history, QueueSize: *queue})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if err := chatserver.ServeUntilSignal(ln, *token, srv, *shutdownTimeout); err != nil {
		log.Fatal(err)
	}
}
