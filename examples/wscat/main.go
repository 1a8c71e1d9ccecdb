// Command wscat is a command-line WebSocket client and server for
// exploring the protocol.
//
//	go run ./examples/wscat ws://127.0.0.1:8081/echo
//	go run ./examples/wscat -listen 127.0.0.1:9000
//
// Each line read from standard input is sent as a message (text, or binary
// with -binary); each message received is printed on standard output as
// "< text", or "< binary N bytes: <hex>" for binary ones. Status lines —
// connected, pongs, the close — go to standard error.
//
// As a client it connects to the URL (ws, wss, http or https) with the
// headers given by -H (repeatable, "Name: value"), the subprotocols of
// -subprotocol (comma-separated), and permessage-deflate with -compress.
// With -listen it is a server instead: it accepts one connection at a time,
// on any path and from any origin, and standard input goes to the client
// connected at the moment.
//
// -ping sends a ping at that interval and prints the round trip. -trace
// prints every frame, both ways, on standard error:
//
//	out fin=1 rsv=000 op=text mask=5a1c09e3 len=5 data="hello"
//	in  fin=1 rsv=000 op=text mask=- len=5 data=(streamed)
//	out fin=1 rsv=000 op=close mask=d2f00b71 len=2 close=1000
//	in  fin=1 rsv=000 op=close mask=- len=2 close=1000
//
// (the payload of a received data frame is streamed, not held, so it shows
// as "(streamed)" and is printed as a message instead). Previews are cut at
// 64 bytes.
//
// End of input closes the connection with 1000 (normal closure) and exits;
// so does the peer's close, which is printed with its code and reason. The
// exit status is 0 after a normal (1000) or going-away (1001) close, and 1
// otherwise.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
