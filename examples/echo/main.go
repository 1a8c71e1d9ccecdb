// Command echo is a public WebSocket echo server.
//
//	go run ./examples/echo -addr 127.0.0.1:8081
//
// The WebSocket endpoint is /echo: every message comes back to its sender,
// with the same type. With -relay (or, per connection, ?mode=relay) each
// message goes to every other connected client instead. A page to try it
// is served at /. As a public service it accepts pages from any Origin.
// permessage-deflate is accepted when a client offers it (see
// -compression).
//
// The log has a line when a WebSocket opens and one when it closes.
//
// SIGINT or SIGTERM shuts it down gracefully: every client is closed with
// 1001 (going away) and the close handshakes are awaited, for at most
// -shutdown-timeout.
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

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/echo/echoserver"
	"github.com/ws6455/ws6455/examples/internal/site"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	relay := flag.Bool("relay", false, "relay each message to every other client instead of echoing it (clients may override with ?mode=echo|relay)")
	readLimit := flag.Int64("read-limit", echoserver.DefaultReadLimit, "largest message accepted, in bytes")
	shutdownTimeout := flag.Duration("shutdown-timeout", 5*time.Second, "how long to wait for close handshakes on shutdown")
	compression := flag.String("compression", "no-context-takeover", "permessage-deflate when offered: no-context-takeover, context-takeover or disabled")
	flag.Parse()

	mode, err := parseCompression(*compression)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		flag.Usage()
		os.Exit(2)
	}
	srv := echoserver.New(echoserver.Config{Relay: *relay, ReadLimit: *readLimit, Compression: mode,
		AcceptHook: (&site.ConnLog{Logf: log.Printf}).Hook})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if err := serve(ln, srv, *shutdownTimeout); err != nil {
		log.Fatal(err)
	}
}

// parseCompression turns a -compression value into a conn.CompressionMode.
func parseCompression(s string) (conn.CompressionMode, error) {
	for _, m := range []conn.CompressionMode{conn.CompressionDisabled, conn.CompressionNoContextTakeover, conn.CompressionContextTakeover} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("-compression %q: want no-context-takeover, context-takeover or disabled", s)
}

// serve runs srv on ln until SIGINT or SIGTERM, then shuts down: first
// the HTTP server (no new connections), then the WebSocket clients.
func serve(ln net.Listener, srv *echoserver.Server, shutdownTimeout time.Duration) error {
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Printf("echo server on http://%s/ (WebSocket: ws://%s/echo)", ln.Addr(), ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once
	log.Printf("shutting down: closing %d connection(s) with 1001", srv.Len())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := errors.Join(hs.Shutdown(sctx), srv.Shutdown(sctx)); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
