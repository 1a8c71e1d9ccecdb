// Command demo serves all the ws6455 examples on one address:
//
//	go run ./examples/demo -addr 127.0.0.1:8080   (or: make demo, make demo ADDR=...)
//
// The index page at / links to each example, mounted under its own prefix:
// the protocol lab at /lab/ (frames live, and WebSocket measured against
// polling and Server-Sent Events), the echo service at /echo/ (WebSocket
// /echo/echo), the chat room at /chat/ (WebSocket /chat/ws, token from
// -chat-token) and online Pong at /pong/ (WebSocket /pong/ws). Each page
// connects relative to its own address, so the prefixes need no
// configuration.
//
// The log has one line when a WebSocket opens and one when it closes
// (echo, Pong and the lab; -quiet turns them off):
//
//	ws open /echo/echo 127.0.0.1:53422 proto=- ext=permessage-deflate
//	ws close /echo/echo 127.0.0.1:53422 code=1001 reason="" by=client after 4.1s in=3 out=3
//
// SIGINT or SIGTERM shuts everything down gracefully: every WebSocket
// client is closed with 1001 (going away), for at most -shutdown-timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	chatToken := flag.String("chat-token", "demo", "token for the chat room (shown on the index page)")
	shutdownTimeout := flag.Duration("shutdown-timeout", 5*time.Second, "how long to wait for close handshakes on shutdown")
	quiet := flag.Bool("quiet", false, "do not log each WebSocket's opening and closing")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	cfg := config{ChatToken: *chatToken, Logf: log.Printf}
	if *quiet {
		cfg.Logf = nil
	}
	d := newDemo(cfg)
	hs := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	configure(hs)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(listener(ln)) }()
	log.Printf("ws6455 demo on http://%s/ (Ctrl-C to stop)", ln.Addr())

	select {
	case err := <-errc:
		log.Fatal(err)
	case <-ctx.Done():
	}
	stop()
	log.Print("shutting down: closing every WebSocket with 1001")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := errors.Join(hs.Shutdown(sctx), d.Shutdown(sctx)); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(1)
	}
}
