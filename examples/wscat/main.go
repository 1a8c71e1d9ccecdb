// Command wscat is a command-line WebSocket client and server for
// exploring the protocol and for scripts.
//
//	go run ./examples/wscat ws://127.0.0.1:8081/echo
//	go run ./examples/wscat -listen 127.0.0.1:9000
//	echo hello | go run ./examples/wscat ws://127.0.0.1:8081/echo -count 1
//
// Flags may come before or after the URL. A URL without a scheme is
// refused with a hint ("did you mean ws://…").
//
// # Input
//
// Each line read from standard input is sent as a message (text, or binary
// with -binary; a line that is not valid UTF-8 always goes as binary). A
// line longer than 1 MiB is not sent: the program ends with status 3.
//
// -x TEXT sends TEXT as one message instead, and -file PATH the content of
// a file ("-file -": all of standard input as one message); both then wait
// for -count replies (1 by default) and exit.
//
// When standard input is a terminal (or with -slash), a line starting with
// "/" is a command: /ping, /close [CODE [REASON]], /binary, /text, /help;
// "//x" sends "/x".
//
// # Output
//
// Received messages go to standard output. On a terminal they are
// decorated: "< text", or "< binary N bytes: hex:…" (a preview). Otherwise,
// or with -output raw, only the bodies are written, one text message per
// line; binary messages are written as the bytes received (-binfmt raw,
// the default, no newline added), or one per line in hex or base64
// (-binfmt hex, -binfmt base64). -output pretty forces the decorated view.
// Status lines (connected, pongs, the close) go to standard error.
//
// -trace prints every frame, both ways, on standard error:
//
//	out fin=1 rsv=000 op=text mask=5a1c09e3 len=5 data="hello"
//	in  fin=1 rsv=000 op=text mask=- len=5 data=(streamed)
//	out fin=1 rsv=000 op=close mask=d2f00b71 len=2 close=1000
//	in  fin=1 rsv=000 op=close mask=- len=2 close=1000
//
// (the payload of a received data frame is streamed, not held, so it shows
// as "(streamed)" and is printed as a message instead). Previews are cut at
// 64 bytes. -ping sends a ping at that interval and prints the round trip.
//
// # Connecting and serving
//
// As a client it connects to the URL (ws, wss, http or https) with the
// headers given by -H (repeatable, "Name: value") and -origin, the
// subprotocols of -subprotocol (comma-separated), permessage-deflate with
// -compress, through the HTTP CONNECT proxy of -proxy (by default the one
// of $HTTPS_PROXY/$HTTP_PROXY), trusting the CAs of -cacert (or nothing,
// -insecure) and presenting the client certificate of -cert and -key. A
// refused handshake is shown as its status and, when the server sent a
// short plain-text reason, that line; an HTML page is not printed.
//
// With -listen it is a server instead: it accepts one connection at a
// time, on any path and from any origin, and standard input goes to the
// client connected at the moment (lines typed while no client is connected
// are dropped, and the exit status is then 3; the message of -x or -file
// waits for the first client). -cert and -key make it serve wss; -cacert
// then requires client certificates signed by those CAs.
//
// # Ending, and exit status
//
// End of input closes the connection with 1000 (normal closure) and exits,
// unless -count is waiting for replies. -count N exits after N messages
// received; -wait D exits after D (with -listen, both count from the
// moment a client connects). The peer's close is printed with its
// code and reason. A signal (SIGINT, SIGTERM) closes with 1001.
//
//	0  normal end (or the peer closed with 1000, 1001 or no code)
//	1  usage: bad flags or arguments, unreadable -file, -cacert, -cert, -key
//	2  could not connect or listen, or the handshake failed
//	3  something could not be sent: a write failed, an input line was too
//	   long, or input was dropped (-listen with no client)
//	4  fewer than -count replies before -wait ran out or the peer closed
//	5  the peer closed with another code (printed: "closed by peer: 1008 …")
//	6  the connection broke without a close handshake, or failed
//
// # Compared with websocat and Node's wscat
//
// The flags mirror those of the two usual tools where they overlap:
//
//	this wscat        Node wscat (npm ws)        websocat 1.x
//	URL argument      -c, --connect URL          ws://URL argument
//	-listen ADDR      -l, --listen PORT          -s ADDR
//	-H "N: v"         -H, --header               -H, --header
//	-origin           -o, --origin               --origin
//	-subprotocol      -s, --subprotocol          --protocol
//	-insecure         -n, --no-check             -k, --insecure
//	-cacert           --ca                       (system store)
//	-cert, -key       --cert, --key              (PKCS#12 options)
//	-proxy            --proxy (CONNECT)          (SOCKS5 only)
//	-x TEXT           -x, --execute              (echo TEXT | websocat -1)
//	-wait D           -w, --wait SECONDS         (none)
//	-count N          (none)                     -1 (one message)
//	-slash, /ping,    --slash, /ping, /close     (none)
//	  /close
//	-binary           (none)                     -b, --binary
//	-output raw       (always decorated "< ")    (the default: bodies only)
//	-binfmt base64    (none)                     --base64
//	-ping D           (none)                     --ping-interval
//	-trace            -P (pings and pongs only)  (none)
//	-compress         (no flag)                  (no permessage-deflate)
//
// Differences worth knowing: output is raw when not on a terminal (as in
// websocat), decorated on one (as in Node's wscat); slash commands are on
// by default on a terminal; the exit status tells a script what happened.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a terminal (a character device), without
// a dependency on x/term.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
