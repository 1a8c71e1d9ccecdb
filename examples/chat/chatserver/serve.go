package chatserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ServeUntilSignal serves srv on ln until the process gets SIGINT or
// SIGTERM, then drains it: clients are told to come back (elsewhere, with
// a backplane) and closed with 1001, at most for shutdownTimeout. The chat
// is shut down before the HTTP server, which does not wait for hijacked
// connections and would refuse the clients' last messages. token is only
// for the log line that says where the room is. The chat commands (the
// single-process one and the Redis one) both run this.
func ServeUntilSignal(ln net.Listener, token string, srv *Server, shutdownTimeout time.Duration) error {
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Printf("chat on http://%s/?token=%s", ln.Addr(), token)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	log.Printf("draining: clients are told to reconnect, then closed with 1001")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := errors.Join(srv.Shutdown(sctx), hs.Shutdown(sctx)); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
