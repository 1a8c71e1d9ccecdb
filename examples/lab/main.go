// Command lab serves the protocol lab: a page that shows every WebSocket
// frame between itself and the server, and measures WebSocket against short
// polling, long polling and Server-Sent Events on this machine.
//
//	go run ./examples/lab -addr 127.0.0.1:8085
//
// Then open http://127.0.0.1:8085/. The server counts the bytes of every
// connection (CountingListener), so the measurements are exact TCP payload
// bytes. The lab accepts WebSockets from its own origin only.
//
// SIGINT or SIGTERM shuts it down gracefully: WebSockets are closed with
// 1001 (going away), for at most -shutdown-timeout.
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

	"github.com/ws6455/ws6455/examples/lab/labserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8085", "address to listen on")
	shutdownTimeout := flag.Duration("shutdown-timeout", 5*time.Second, "how long to wait for close handshakes on shutdown")
	flag.Parse()

	srv := labserver.New(labserver.Config{})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if err := serve(ln, srv, *shutdownTimeout); err != nil {
		log.Fatal(err)
	}
}

// serve runs srv on ln until SIGINT or SIGTERM, then shuts down: first the
// HTTP server (no new connections), then the lab's WebSockets and streams.
func serve(ln net.Listener, srv *labserver.Server, shutdownTimeout time.Duration) error {
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ConnContext: labserver.ConnContext}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(labserver.CountingListener(ln)) }()
	log.Printf("protocol lab on http://%s/", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once
	log.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// The lab first: its event streams and long polls are requests that
	// http.Server.Shutdown would otherwise wait for.
	if err := errors.Join(srv.Shutdown(sctx), hs.Shutdown(sctx)); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
