//go:build unix

package interop

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// The shared matrix: the same steps run against every remote-controlled
// peer (Node's ws, Python's websockets), in both roles.

// deflateCase is one permessage-deflate configuration of the matrix.
type deflateCase struct {
	name string
	// peer is the peer's setting, in the neutral form the peer scripts
	// read: nil (off), "default" (the library's own defaults) or a map with
	// serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits,
	// clientMaxWindowBits.
	peer any
	ours conn.CompressionMode
	// asServer is what our server must answer when the peer is the client,
	// asClient what the peer server must answer to our client; nil means
	// no permessage-deflate in the 101.
	asServer, asClient *handshake.DeflateParams
}

// Subprotocols of the matrix. Our server prefers v2 to v1, and the client
// (either side) offers v1 first: the server's preference must win. The peer
// servers support only v2 and v3, so the choice is v2 whatever their rule.
var (
	clientProtocols     = []string{"v1.interop", "v2.interop"}
	ourServerProtocols  = []string{"v2.interop", "v1.interop"}
	peerServerProtocols = []string{"v2.interop", "v3.interop"}
)

const wantProtocol = "v2.interop"

var messageTypes = []conn.MessageType{conn.MessageText, conn.MessageBinary}

// noProxy keeps our client off any proxy of the environment.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// requireDeflate checks a Sec-WebSocket-Extensions response value against
// the expected permessage-deflate parameters and reports whether compression
// was negotiated.
func requireDeflate(t *testing.T, header string, want *handshake.DeflateParams) bool {
	t.Helper()
	if want == nil {
		require.Empty(t, header, "no extension expected in the 101 response")
		return false
	}
	exts, err := handshake.ParseExtensions([]string{header})
	require.NoError(t, err, "Sec-WebSocket-Extensions: %q", header)
	require.Len(t, exts, 1, "Sec-WebSocket-Extensions: %q", header)
	got, err := handshake.ParseDeflateParams(exts[0], false)
	require.NoError(t, err, "Sec-WebSocket-Extensions: %q", header)
	require.Equal(t, *want, got, "negotiated permessage-deflate parameters in %q", header)
	return true
}

// ourRsv is what our sender does with a message: with compression
// negotiated, messages from DefaultCompressionThreshold bytes on are
// compressed, except that a message that would not shrink may go as it is
// (random binary data).
func ourRsv(negotiated bool, typ conn.MessageType, size int) rsvWant {
	switch {
	case !negotiated || size < conn.DefaultCompressionThreshold:
		return rsvNever
	case typ == conn.MessageText:
		return rsvAlways
	default:
		return rsvMaybe
	}
}

// peerRsv: the peers are configured to compress every message (ws with
// threshold 0; websockets always does).
func peerRsv(negotiated bool) rsvWant {
	if negotiated {
		return rsvAlways
	}
	return rsvNever
}

// splitParts cuts p into three fragments. With splitUTF8 the cuts fall
// inside multi-byte characters where there are any (RFC 6455 allows it, and
// the receiver must validate across fragments); otherwise on character
// boundaries, for APIs that take strings.
func splitParts(p []byte, splitUTF8 bool) [][]byte {
	cut := func(at int) int {
		for at < len(p) {
			cont := p[at]&0xC0 == 0x80
			if splitUTF8 == cont {
				return at
			}
			at++
		}
		return at
	}
	a := cut(len(p) / 3)
	b := max(a, cut(2*len(p)/3))
	return [][]byte{p[:a], p[a:b], p[b:]}
}

func (p *peer) sendCmd(typ conn.MessageType, parts ...[]byte) map[string]any {
	return map[string]any{"op": "send", "type": typeName(typ), "parts": parts}
}

// requirePeerFragments checks that the peer sent the three parts as three
// frames, plus the empty final frame of a peer that ends a fragmented
// message that way.
func requirePeerFragments(t *testing.T, p *peer, in []wsframe.Header) {
	t.Helper()
	if !p.caps.emptyFinalFragment {
		require.Len(t, in, 3, "the peer sent three fragments")
		return
	}
	require.Len(t, in, 4, "the peer sent three fragments and an empty final one")
	// Empty, or one byte: an empty deflate block once 00 00 ff ff is stripped.
	require.LessOrEqual(t, in[3].Length, int64(1), "the final fragment carries no data")
}

func requireEvent(t *testing.T, ev peerEvent, typ conn.MessageType, data []byte) {
	t.Helper()
	require.Equal(t, typeName(typ), ev.Type, "type reported by the peer")
	require.Equal(t, len(data), ev.Len, "length reported by the peer")
	require.Equal(t, sum(data), ev.SHA256, "SHA-256 reported by the peer")
}

func requireReceived(t *testing.T, got received, typ conn.MessageType, data []byte) {
	t.Helper()
	require.Equal(t, typ, got.typ, "message type")
	require.Equal(t, len(data), len(got.data), "message length")
	require.True(t, sum(data) == sum(got.data), "message content differs")
}

func recv(ctx context.Context, t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-ctx.Done():
		t.Fatal("our server received no message")
	}
	return received{}
}

// testPeerClient: the peer's client against our echo server.
func testPeerClient(t *testing.T, start func(*testing.T) *peer, dc deflateCase) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := start(t)
	srv := newEchoServer(t, conn.AcceptOptions{Subprotocols: ourServerProtocols, Compression: dc.ours})
	p.do(t, map[string]any{"op": "connect", "url": srv.wsURL(), "protocols": clientProtocols, "deflate": dc.peer})
	open := p.expect(ctx, t, "open")
	sc := srv.accepted(ctx, t)

	assert.Equal(t, wantProtocol, open.Protocol, "subprotocol the peer sees")
	assert.Equal(t, wantProtocol, sc.c.Subprotocol(), "subprotocol our server chose")
	if dc.peer != nil {
		assert.Contains(t, sc.req.Header.Get("Sec-WebSocket-Extensions"), handshake.DeflateName, "the peer's offer")
	}
	negotiated := requireDeflate(t, open.Extensions, dc.asServer)

	seed := uint64(1)
	for _, typ := range messageTypes {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s-%d", typeName(typ), size), func(t *testing.T) {
				seed++
				data := payload(typ, size, seed)
				p.do(t, p.sendCmd(typ, data))
				requireReceived(t, recv(ctx, t, sc.got), typ, data)
				requireEvent(t, p.expect(ctx, t, "message"), typ, data)
				fs := sc.log.take()
				requireMessageFrames(t, dataFrames(fs, conn.Inbound), typ, peerRsv(negotiated))
				out := dataFrames(fs, conn.Outbound)
				require.Len(t, out, 1, "Write sends one frame")
				requireMessageFrames(t, out, typ, ourRsv(negotiated, typ, size))
			})
		}
	}

	t.Run("fragmented-by-peer", func(t *testing.T) {
		for _, typ := range messageTypes {
			data := payload(typ, 40000, 99)
			parts := splitParts(data, p.caps.fragmentsSplitUTF8 || typ == conn.MessageBinary)
			p.do(t, p.sendCmd(typ, parts...))
			requireReceived(t, recv(ctx, t, sc.got), typ, data)
			requireEvent(t, p.expect(ctx, t, "message"), typ, data)
			in := dataFrames(sc.log.take(), conn.Inbound)
			requirePeerFragments(t, p, in)
			requireMessageFrames(t, in, typ, peerRsv(negotiated))
		}
	})

	t.Run("ping-from-us", func(t *testing.T) {
		require.NoError(t, sc.c.Ping(ctx))
		fs := sc.log.take()
		pings, pongs := controlFrames(fs, conn.Outbound, wsframe.OpPing), controlFrames(fs, conn.Inbound, wsframe.OpPong)
		require.Len(t, pings, 1)
		require.Equal(t, pings, pongs, "the pong carries the ping's payload")
		if p.caps.pingEvents {
			require.Equal(t, pings[0], []byte(p.expectPing(ctx, t).Data), "the peer saw our ping's payload")
		}
	})

	t.Run("ping-from-peer", func(t *testing.T) {
		ping := []byte("interop ping ✓")
		p.do(t, map[string]any{"op": "ping", "data": ping})
		require.Equal(t, ping, p.expect(ctx, t, "pong").Data)
		fs := sc.log.take()
		require.Equal(t, [][]byte{ping}, controlFrames(fs, conn.Inbound, wsframe.OpPing))
		require.Equal(t, [][]byte{ping}, controlFrames(fs, conn.Outbound, wsframe.OpPong), "our pong echoes the payload")
	})

	// A normal close by the peer ends the connection on both sides.
	p.do(t, map[string]any{"op": "close", "code": 1000, "reason": "done"})
	ce := closeErr(ctx, t, sc.end)
	assert.Equal(t, conn.CloseError{Code: wsframe.CloseNormal, Reason: "done"}, ce)
	assert.Equal(t, 1000, p.expect(ctx, t, "close").Code)
}

// testPeerServer: our client against the peer's echo server.
func testPeerServer(t *testing.T, start func(*testing.T) *peer, dc deflateCase) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := start(t)
	p.do(t, map[string]any{"op": "listen", "protocols": peerServerProtocols, "deflate": dc.peer, "echo": true})
	port := p.expect(ctx, t, "listening").Port
	log := &frameLog{}
	c, resp, err := conn.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/echo", port), &conn.DialOptions{
		Subprotocols: clientProtocols, Compression: dc.ours, OnFrame: log.observe, Proxy: noProxy,
	})
	require.NoError(t, err)
	defer c.CloseNow()
	rl := startReadLoop(c)
	open := p.expect(ctx, t, "open")

	assert.Equal(t, wantProtocol, c.Subprotocol(), "subprotocol our client sees")
	assert.Equal(t, wantProtocol, open.Protocol, "subprotocol the peer chose")
	header := resp.Header.Get("Sec-WebSocket-Extensions")
	assert.Equal(t, open.Extensions, header, "the peer's view of its response")
	if dc.ours != conn.CompressionDisabled {
		assert.Contains(t, open.Offered, handshake.DeflateName, "our offer, as the peer saw it")
	} else {
		assert.Empty(t, open.Offered, "no offer without compression")
	}
	negotiated := requireDeflate(t, header, dc.asClient)

	seed := uint64(1000)
	for _, typ := range messageTypes {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s-%d", typeName(typ), size), func(t *testing.T) {
				seed++
				data := payload(typ, size, seed)
				require.NoError(t, c.Write(ctx, typ, data))
				requireReceived(t, rl.next(ctx, t), typ, data)
				requireEvent(t, p.expect(ctx, t, "message"), typ, data)
				fs := log.take()
				out := dataFrames(fs, conn.Outbound)
				require.Len(t, out, 1, "Write sends one frame")
				requireMessageFrames(t, out, typ, ourRsv(negotiated, typ, size))
				requireMessageFrames(t, dataFrames(fs, conn.Inbound), typ, peerRsv(negotiated))
			})
		}
	}

	t.Run("fragmented-by-us", func(t *testing.T) {
		for _, typ := range messageTypes {
			// Large enough that even compressed text fills the writer's
			// buffer more than once.
			data := payload(typ, 200000, 77)
			w, err := c.Writer(ctx, typ)
			require.NoError(t, err)
			// Three writes; the writer cuts frames where its buffer fills,
			// which for text is usually inside a character.
			for _, part := range splitParts(data, true) {
				_, err := w.Write(part)
				require.NoError(t, err)
			}
			require.NoError(t, w.Close())
			requireReceived(t, rl.next(ctx, t), typ, data)
			requireEvent(t, p.expect(ctx, t, "message"), typ, data)
			fs := log.take()
			out := dataFrames(fs, conn.Outbound)
			require.GreaterOrEqual(t, len(out), 2, "the writer sent fragments")
			rsv := rsvNever
			if negotiated {
				rsv = rsvAlways
			}
			requireMessageFrames(t, out, typ, rsv)
		}
	})

	t.Run("fragmented-by-peer", func(t *testing.T) {
		for _, typ := range messageTypes {
			data := payload(typ, 40000, 88)
			parts := splitParts(data, p.caps.fragmentsSplitUTF8 || typ == conn.MessageBinary)
			p.do(t, p.sendCmd(typ, parts...))
			requireReceived(t, rl.next(ctx, t), typ, data)
			in := dataFrames(log.take(), conn.Inbound)
			requirePeerFragments(t, p, in)
			requireMessageFrames(t, in, typ, peerRsv(negotiated))
		}
	})

	t.Run("ping-from-us", func(t *testing.T) {
		require.NoError(t, c.Ping(ctx))
		fs := log.take()
		pings, pongs := controlFrames(fs, conn.Outbound, wsframe.OpPing), controlFrames(fs, conn.Inbound, wsframe.OpPong)
		require.Len(t, pings, 1)
		require.Equal(t, pings, pongs, "the pong carries the ping's payload")
		if p.caps.pingEvents {
			require.Equal(t, pings[0], []byte(p.expectPing(ctx, t).Data), "the peer saw our ping's payload")
		}
	})

	t.Run("ping-from-peer", func(t *testing.T) {
		ping := []byte("interop ping ✓")
		p.do(t, map[string]any{"op": "ping", "data": ping})
		require.Equal(t, ping, p.expect(ctx, t, "pong").Data)
		fs := log.take()
		require.Equal(t, [][]byte{ping}, controlFrames(fs, conn.Inbound, wsframe.OpPing))
		require.Equal(t, [][]byte{ping}, controlFrames(fs, conn.Outbound, wsframe.OpPong), "our pong echoes the payload")
	})

	require.NoError(t, c.Close(wsframe.CloseNormal, "done"))
	ev := p.expect(ctx, t, "close")
	assert.Equal(t, 1000, ev.Code)
	assert.Equal(t, "done", ev.Reason)
	assert.Equal(t, conn.CloseError{Code: wsframe.CloseNormal, Reason: "done"}, closeErr(ctx, t, rl.end), "the peer echoes our close")
}

// closeCase is one close of the close matrix: code 0 sends a close frame
// without a status code.
type closeCase struct {
	code   wsframe.CloseCode
	reason string
}

var closeCases = []closeCase{
	{wsframe.CloseNormal, ""},
	{wsframe.CloseGoingAway, "going away"},
	{4000, "custom reason ✓ ünïcode"},
	{0, ""},
}

// received code: an empty close frame reads as 1005 (no status).
func (cc closeCase) received() wsframe.CloseCode {
	if cc.code == 0 {
		return wsframe.CloseNoStatus
	}
	return cc.code
}

// echoed is what our Conn answers to the peer's close: its code (1000 for
// an empty close), without a reason.
func (cc closeCase) echoed() wsframe.CloseCode {
	if cc.code == 0 {
		return wsframe.CloseNormal
	}
	return cc.code
}

func (cc closeCase) String() string {
	if cc.code == 0 {
		return "no-status"
	}
	return fmt.Sprintf("%d", cc.code)
}

// closePayload is the payload of a close frame for code and reason.
func closePayload(code wsframe.CloseCode, reason string) []byte {
	if code == 0 {
		return []byte{}
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// testClose runs every close case in both roles, started by each side.
func testClose(t *testing.T, start func(*testing.T) *peer) {
	for _, cc := range closeCases {
		// setup returns our Conn, its frame log and the channel its read
		// loop's end goes to, with the peer as client or server.
		roles := map[string]func(ctx context.Context, t *testing.T, p *peer) (*conn.Conn, *frameLog, <-chan error){
			"peer-client": func(ctx context.Context, t *testing.T, p *peer) (*conn.Conn, *frameLog, <-chan error) {
				srv := newEchoServer(t, conn.AcceptOptions{})
				p.do(t, map[string]any{"op": "connect", "url": srv.wsURL()})
				p.expect(ctx, t, "open")
				sc := srv.accepted(ctx, t)
				return sc.c, sc.log, sc.end
			},
			"peer-server": func(ctx context.Context, t *testing.T, p *peer) (*conn.Conn, *frameLog, <-chan error) {
				p.do(t, map[string]any{"op": "listen", "echo": true})
				port := p.expect(ctx, t, "listening").Port
				log := &frameLog{}
				c, _, err := conn.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", port), &conn.DialOptions{OnFrame: log.observe, Proxy: noProxy})
				require.NoError(t, err)
				t.Cleanup(func() { c.CloseNow() })
				p.expect(ctx, t, "open")
				return c, log, startReadLoop(c).end
			},
		}
		for _, role := range []string{"peer-client", "peer-server"} {
			t.Run(fmt.Sprintf("%s/by-peer/%v", role, cc), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				p := start(t)
				if cc.code == 0 && !p.caps.emptyClose {
					t.Skipf("%s cannot send a close frame without a status code", p.name)
				}
				_, log, end := roles[role](ctx, t, p)
				cmd := map[string]any{"op": "close", "reason": cc.reason}
				if cc.code != 0 {
					cmd["code"] = int(cc.code)
				}
				p.do(t, cmd)
				assert.Equal(t, conn.CloseError{Code: cc.received(), Reason: cc.reason}, closeErr(ctx, t, end), "what our side reports")
				ev := p.expect(ctx, t, "close")
				assert.Equal(t, int(cc.echoed()), ev.Code, "what the peer reports")
				assert.Empty(t, ev.Reason)
				fs := log.take()
				assert.Equal(t, [][]byte{closePayload(cc.code, cc.reason)}, controlFrames(fs, conn.Inbound, wsframe.OpClose))
				assert.Equal(t, [][]byte{closePayload(cc.echoed(), "")}, controlFrames(fs, conn.Outbound, wsframe.OpClose))
			})
			t.Run(fmt.Sprintf("%s/by-us/%v", role, cc), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				p := start(t)
				c, log, end := roles[role](ctx, t, p)
				require.NoError(t, c.Close(cc.code, cc.reason), "the peer completes the close handshake")
				ev := p.expect(ctx, t, "close")
				assert.Equal(t, int(cc.received()), ev.Code, "what the peer reports")
				assert.Equal(t, cc.reason, ev.Reason, "what the peer reports")
				fs := log.take()
				assert.Equal(t, [][]byte{closePayload(cc.code, cc.reason)}, controlFrames(fs, conn.Outbound, wsframe.OpClose))
				in := controlFrames(fs, conn.Inbound, wsframe.OpClose)
				require.Len(t, in, 1, "the peer answered with one close frame")
				// RFC 6455 §5.5.1: the answer typically echoes the code;
				// both peers echo the reason too.
				got := closeErr(ctx, t, end)
				code, reason, err := wsframe.ParseClosePayload(in[0])
				require.NoError(t, err)
				assert.Equal(t, conn.CloseError{Code: code, Reason: reason}, got, "our reader reports the peer's answer")
				assert.Equal(t, cc.received(), code, "the peer echoes the code")
				assert.Equal(t, cc.reason, reason, "the peer echoes the reason")
			})
		}
	}
}

// runPeerMatrix runs the whole matrix against one kind of peer.
func runPeerMatrix(t *testing.T, start func(*testing.T) *peer, cases []deflateCase) {
	for _, dc := range cases {
		t.Run("peer-client/"+dc.name, func(t *testing.T) { testPeerClient(t, start, dc) })
	}
	for _, dc := range cases {
		t.Run("peer-server/"+dc.name, func(t *testing.T) { testPeerServer(t, start, dc) })
	}
	t.Run("close", func(t *testing.T) { testClose(t, start) })
}
