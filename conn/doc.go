// Package conn is the WebSocket connection of RFC 6455: messages over
// frames, control frames, the close handshake, limits, keepalive and
// permessage-deflate (RFC 7692), for servers (Accept) and clients (Dial).
//
// A server:
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := conn.Accept(w, r, nil) // answers bad requests itself
//		if err != nil {
//			return
//		}
//		go echo(c) // and return (over HTTP/2, wait for <-c.Done(): see "HTTP/2")
//	})
//
//	func echo(c *conn.Conn) {
//		defer c.CloseNow()
//		ctx := context.Background() // not r.Context(): it ends with the handler
//		for {
//			m, err := c.ReadMessage(ctx) // the payload is in a pooled buffer
//			if err != nil {
//				return // conn.CloseCode(err) says how it ended
//			}
//			err = c.Write(ctx, m.Type, m.Payload)
//			m.Release()
//			if err != nil {
//				return
//			}
//		}
//	}
//
// The loop has a goroutine of its own, and the handler returns, because a
// running handler keeps net/http's state for the request and a stack grown
// by parsing it alive for the whole connection: two thirds of an idle
// connection's cost (see "Memory"). A reply to a message that arrived with
// others behind it leaves with their replies, in one system call (see
// Conn.Write).
//
// A client:
//
//	c, _, err := conn.Dial(ctx, "wss://example.com/echo", nil)
//	...
//	c.Write(ctx, conn.MessageText, []byte("hello"))
//	typ, msg, err := c.Read(ctx)
//	c.Close(wsframe.CloseNormal, "")
//
// # Rules of use
//
//   - Writes (Write, Writer, WritePrepared, Ping, Close) may come from many
//     goroutines: messages go out whole, one at a time, and control frames
//     may go out between the fragments of a streamed message.
//   - Reads (Read, ReadInto, Reader) come from one goroutine at a time, and
//     some goroutine must read: pings are answered, pongs seen and the peer's
//     close frame handled by reads.
//   - Every blocking call takes a context (NetConn calls honour deadlines).
//     What a call cut short leaves behind is said under "Calls cut short":
//     the connection stays usable, or it fails with 1011; never a torn or
//     altered message with a nil error.
//   - Protocol violations by the peer fail the connection with the close code
//     the RFC asks for (1002 protocol error, 1007 invalid UTF-8 or invalid
//     compressed data, 1009 message too big); the read returns an error that
//     CloseCode maps to that code. A close frame from the peer is echoed and
//     the read returns a CloseError.
//   - Messages are limited to DefaultReadLimit (1 MiB) unless the options or
//     SetReadLimit say otherwise; the limit counts every fragment, and, for
//     compressed messages, the inflated bytes as they are produced.
//   - Text messages are validated as UTF-8 as they arrive: the first invalid
//     byte fails the connection, before the rest of the message is read.
//
// # Calls cut short
//
// A blocking call whose context ends, or whose deadline (NetConn) passes,
// has one of three outcomes, decided in one place:
//
//   - It left no trace: nothing of it reached the wire or changed the
//     connection's state. It returns the context's error (a NetConn call,
//     a timeout), CloseCode reports 0, and the connection stays usable.
//     This is the case for a read that was waiting for a message to begin,
//     a write none of whose frame went out, a Writer none of whose message
//     went out, a Ping, and the payload reader of an uncompressed message
//     (Reader), which loses no byte and can be read on. A pong that a read
//     owes but could not send in time stays owed, and goes out first at
//     the next read.
//   - It committed its message: a write cut short after part of its frame
//     went out on a connection that can resume (TCP, Unix sockets, pipes).
//     The rest of the frame goes out ahead of the next frame, so the
//     message is delivered whole; the error also matches ErrQueued, and the
//     connection stays usable. Do not send such a message again.
//   - It left a trace that can neither be completed nor undone: fragments
//     of a streamed message went out but the rest will not come; the
//     compressor's window (context takeover) took in a message that did
//     not go out; a TLS connection refuses every write after a timed-out
//     one; Read or ReadInto consumed part of a message; the inflater of a
//     compressed message took in input it cannot give back. The connection
//     fails: the call's error matches both the context's error and a close
//     code of 1011 (CloseInternalError: this side could not complete what
//     it had started), a close frame with 1011 goes out when the stream can
//     still carry one, Done is closed once the close handshake ends
//     (bounded by the close timeout), and every later call returns an
//     error for which CloseCode is not 0.
//
// A message reader (Reader) returns io.EOF only at the end of its message:
// a message abandoned before its end (the next read began, Close skipped
// it, the connection failed or was closed by the peer) makes it return an
// error.
//
// Contexts and deadlines do not overwrite each other: NetConn's deadlines
// stay in force across calls with contexts on the same Conn (Ping,
// keepalive, a read answering a ping with its own context). A cancellable
// context without a deadline that is used for call after call (a server's
// r.Context()) is registered with the Conn once, so steady-state reads and
// writes under it allocate nothing, as under context.Background(); a call
// under a context with a deadline costs a registration (3 allocations).
// No registration outlives the Conn.
//
// # Memory
//
// A connection holds no read or write buffer while it is idle: buffers come
// from pools when bytes arrive or a message is written, and go back when
// the message is done. Memory follows the bytes received, never a length
// the peer declared: ReadInto grows its buffer as the payload arrives (4
// KiB first, then never more than it holds), so a peer that declares a
// large frame and stalls makes the connection hold a few KiB. (A
// compressed message being read holds an inflater, about 40 KiB, until it
// ends; the read limit and the close timeout bound the rest.) With
// permessage-deflate, CompressionNoContextTakeover keeps no compression
// state between messages; CompressionContextTakeover
// keeps a 32 KiB window of what the peer sends, and a compressor once this
// side has compressed a message.
//
// A server that holds many connections should not keep them on net/http's
// handler goroutines: while a handler runs, net/http keeps its own state for
// the connection alive (the request, the response's state, and a goroutine
// stack grown by parsing the request; Accept lets go of net/http's 4 KiB
// read and write buffers once it has taken the connection over), which is
// most of the memory of an idle connection: 16 KiB against 5–6 KiB. Start the connection's loop in a goroutine
// of its own and return from the handler; net/http then lets all of that go
// (the Conn does not depend on it). The request's context ends when the
// handler returns, so the loop must not use r.Context():
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := conn.Accept(w, r, nil)
//		if err != nil {
//			return
//		}
//		go serve(c) // reads and writes with its own contexts; CloseNow at the end
//	})
//
// The same goes for a handshake of your own (handshake.UpgradeConn on a raw
// listener, then New): do it on one goroutine and hand the Conn to a fresh
// one, whose stack has not been grown by parsing the request.
//
// A goroutine's stack is the other half of an idle connection's cost: the
// runtime starts goroutines with 2 KiB, grows a stack by copying it to one
// twice the size when a call chain needs more, and never shrinks it back
// while the goroutine uses more than a quarter of it, which a goroutine
// blocked in a read always does. The Conn keeps its own call chains short
// enough that, on Linux, a goroutine that reads (ReadInto), writes (Write,
// WritePrepared) and answers pings on a TCP or Unix socket stays within
// 2 KiB, server or client, whatever the size of the messages, as long as
// its own frames stay small: about 200 bytes of the caller's locals and
// calls on the way to ReadInto or Write.
// Deeper code (heavy handlers, TLS, compression, Reader and NetConn) works
// the same and may cost a 4 KiB stack. The runtime's allocator has deep
// call chains of its own, so buffers are never made deep in a read or a
// write if it can be helped: they come from pools that keep a few in
// reserve through garbage collections (sync.Pool alone drops them all
// within two), and a goroutine grows only when it is the one to allocate
// beyond those, which takes a burst after a quiet spell. Then an idle
// connection costs about what a bare goroutine-per-connection TCP echo
// costs: 2 KiB of stack
// and 1.3 KiB of heap (a 448-byte Conn, and the runtime's and the net
// package's per-socket state). The benchmarks in ../bench measure it.
//
// # Broadcast
//
// To send one message to many connections (a chat room, a game, a feed),
// give each connection a send queue of its own, drained by a goroutine of
// its own that calls WritePrepared, and encode the message once with
// NewPreparedMessage. The broadcaster only queues, never writes, so one
// connection that reads slowly holds no one back; when its queue is full,
// drop it (close with 1008) rather than wait. Example (Hub) shows the
// pattern in a few lines; the chat example (examples/chat/chatserver) is a
// complete one, with rooms, presence, limits and graceful shutdown, and a
// Redis backplane for many processes (examples/chat/redis).
//
// # HTTP/2
//
// Accept also serves WebSockets over HTTP/2 (RFC 8441), on the same handler
// as HTTP/1.1 upgrades: a browser or client opens one as a stream of an
// HTTP/2 connection with an extended CONNECT (":protocol: websocket"),
// Accept checks it as RFC 8441 asks (version 13, the Origin policy, the
// subprotocol and permessage-deflate negotiation, with the same options)
// and answers 200; frames then travel in the stream's DATA frames. A
// :protocol other than websocket is refused with 501. Turning it on:
//
//   - net/http's HTTP/2 server must advertise SETTINGS_ENABLE_CONNECT_PROTOCOL.
//     With Go 1.26 and 1.27 it does only when the process starts with
//     GODEBUG=http2xconnect=1 in its environment (read once, at start: not
//     os.Setenv, not a //go:debug line). Go 1.28 is expected to add
//     http.HTTP2Config.EnableConnectProtocol (proposal go.dev/issue/53208):
//     set it in http.Server.HTTP2 instead. Accept needs no change either
//     way: it recognises the request (CONNECT over HTTP/2 with :protocol),
//     not the way the server was told to allow it.
//   - HTTP/2 itself: TLS with ALPN h2 (ServeTLS/ListenAndServeTLS enable it),
//     or cleartext HTTP/2 with prior knowledge (h2c) through
//     http.Server.Protocols.SetUnencryptedHTTP2(true).
//
// What differs from HTTP/1.1:
//
//   - The handler must not return before the Conn is closed: the WebSocket
//     is the request's stream, which ends when the handler returns, and
//     net/http forbids writes after that. Read and write in the handler
//     with defer c.CloseNow() (which returns once the stream is let go),
//     or wait for <-c.Done(). (The advice under "Memory" to return from
//     the handler is for HTTP/1.1 only.) A stream whose request context
//     ends (client reset, connection lost, handler returned) is closed.
//   - A write cut short by its context once it reached the stream cannot
//     be resumed (HTTP/2 has no way to take bytes back): the stream is
//     reset and the Conn fails with 1011, as over TLS (see "Calls cut
//     short"). A write whose context ended before it began leaves the
//     Conn usable, as elsewhere.
//   - The stream's deadlines are the Conn's own (net/http's per-stream read
//     deadline would close the body for good): a goroutine per WebSocket
//     reads ahead, at most 16 KiB. The end of the stream stands in for the
//     TCP close. NetConn returns the stream, not a TCP connection;
//     LocalAddr and RemoteAddr are those of the HTTP/2 connection.
//   - Flow control is per stream, but net/http's server returns
//     connection-level credit only as handlers read: with its defaults (1
//     MiB per stream and 1 MiB per connection) one handler that stops
//     reading while its client keeps sending holds back every WebSocket on
//     that connection. Set http.Server.HTTP2's MaxReceiveBufferPerConnection
//     well above MaxReceiveBufferPerStream (for example 64 MiB and 256 KiB)
//     when clients multiplex many WebSockets.
//
// Clients: DialExtendedConnect opens a WebSocket over any http.RoundTripper
// that sends extended CONNECT; net/http's Transport does not (Go 1.26), so
// package github.com/ws6455/ws6455/h2 provides a Dialer built on
// golang.org/x/net/http2, which keeps one HTTP/2 connection per host for
// many WebSockets. Only that package needs x/net.
package conn
