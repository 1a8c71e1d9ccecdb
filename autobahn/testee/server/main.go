// Command server is the Autobahn testee server: it accepts WebSocket
// connections on any path and echoes every message back with its type,
// which is what the suite's fuzzingclient mode tests. It accepts
// permessage-deflate offers with context takeover and any window size.
//
// It speaks HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c) on
// the same port. Started with GODEBUG=http2xconnect=1 in its environment,
// it also accepts WebSockets over HTTP/2 (RFC 8441 extended CONNECT), with
// the same handler (wstest -h2 tests it that way).
//
//	go run ./autobahn/testee/server -addr 127.0.0.1:9001
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/autobahn/testee"
	"github.com/ws6455/ws6455/conn"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the testee to this file; it is complete when the server stops on SIGINT or SIGTERM")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sig
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	log.Printf("autobahn testee server on ws://%s", *addr)
	srv := &http.Server{Addr: *addr, Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	// HTTP/2 with prior knowledge (h2c) too: with GODEBUG=http2xconnect=1
	// in the environment, WebSockets arrive as extended CONNECTs (RFC 8441).
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	log.Fatal(srv.ListenAndServe())
}

// Handler returns the echo handler, for tests and for the built-in suite.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, &conn.AcceptOptions{
			InsecureSkipOriginCheck: true,
			ReadLimit:               testee.ReadLimit,
			Compression:             conn.CompressionContextTakeover,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		testee.Echo(context.Background(), c)
	})
}
