// Command pong serves online two-player Pong: open the printed address in
// two browsers (or two tabs, or a phone), create a game in one and join it
// in the other. The page also plays offline, against the computer or with
// two players on one keyboard.
//
//	go run ./examples/pong -addr 127.0.0.1:8083
//
// The server is authoritative: it runs every game at a fixed tick and the
// browsers only say which way their paddle should move (see package
// pongserver for the protocol). The log has a line for each game event,
// and one when a WebSocket opens and one when it closes.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/examples/internal/site"
	"github.com/ws6455/ws6455/examples/pong/pongserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8083", "address to listen on")
	grace := flag.Duration("grace", 30*time.Second, "how long a disconnected player has to come back")
	flag.Parse()

	ps := pongserver.New(pongserver.Config{Grace: *grace, Logf: log.Printf, AcceptHook: (&site.ConnLog{Logf: log.Printf}).Hook})
	srv := &http.Server{Addr: *addr, Handler: ps, ReadHeaderTimeout: 10 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-stop
		log.Print("pong: shutting down")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := ps.Shutdown(ctx); err != nil {
			log.Printf("pong: shutdown: %v", err)
		}
	}()

	log.Printf("pong on http://%s/ (Ctrl-C to stop)", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
