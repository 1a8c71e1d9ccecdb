package conn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

func TestServerDeflateNegotiation(t *testing.T) {
	tests := []struct {
		offers string
		mode   CompressionMode
		want   string // response; "" = declined
	}{
		{"permessage-deflate", CompressionDisabled, ""},
		{"permessage-deflate", CompressionContextTakeover, "permessage-deflate"},
		{"permessage-deflate", CompressionNoContextTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"permessage-deflate; client_max_window_bits", CompressionContextTakeover, "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits=10", CompressionContextTakeover, "permessage-deflate"},
		{"permessage-deflate; client_no_context_takeover", CompressionContextTakeover, "permessage-deflate; client_no_context_takeover"},
		{"permessage-deflate; server_no_context_takeover", CompressionContextTakeover, "permessage-deflate; server_no_context_takeover"},
		{"permessage-deflate; server_max_window_bits=9", CompressionContextTakeover, "permessage-deflate; server_max_window_bits=9"},
		{"permessage-deflate; server_max_window_bits=8; client_no_context_takeover", CompressionContextTakeover, "permessage-deflate; client_no_context_takeover; server_max_window_bits=8"},
		// The first acceptable offer wins; invalid ones are skipped.
		{"permessage-deflate; server_max_window_bits=16, permessage-deflate; client_no_context_takeover", CompressionContextTakeover, "permessage-deflate; client_no_context_takeover"},
		{"permessage-deflate; unknown=1", CompressionContextTakeover, ""},
		{"permessage-deflate; server_max_window_bits", CompressionContextTakeover, ""},
		{"x-webkit-deflate-frame, permessage-deflate", CompressionContextTakeover, "permessage-deflate"},
		{"foo", CompressionContextTakeover, ""},
	}
	for _, tt := range tests {
		t.Run(tt.offers+"/"+tt.mode.String(), func(t *testing.T) {
			offers, err := handshake.ParseExtensions([]string{tt.offers})
			require.NoError(t, err)
			ext, _, ok := serverDeflate(tt.mode, offers)
			if tt.want == "" {
				require.False(t, ok, "accepted %v", ext)
				return
			}
			require.True(t, ok)
			want, err := handshake.ParseExtensions([]string{tt.want})
			require.NoError(t, err)
			gotP, err := handshake.ParseDeflateParams(ext, false)
			require.NoError(t, err)
			wantP, err := handshake.ParseDeflateParams(want[0], false)
			require.NoError(t, err)
			require.Equal(t, wantP, gotP)
		})
	}
}

func TestClientDeflateResponse(t *testing.T) {
	tests := []struct {
		resp    string
		ok      bool
		wantErr bool
	}{
		{"", false, false},
		{"permessage-deflate", true, false},
		{"permessage-deflate; client_max_window_bits=8; server_max_window_bits=10; client_no_context_takeover; server_no_context_takeover", true, false},
		{"permessage-deflate; client_max_window_bits", false, true}, // needs a value in a response
		{"permessage-deflate; server_max_window_bits=7", false, true},
		{"permessage-deflate; bogus", false, true},
		{"permessage-deflate, permessage-deflate", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.resp, func(t *testing.T) {
			var exts []handshake.Extension
			if tt.resp != "" {
				var err error
				exts, err = handshake.ParseExtensions([]string{tt.resp})
				require.NoError(t, err)
			}
			_, ok, err := clientDeflateResponse(exts)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.wantErr, err != nil, "err %v", err)
		})
	}
	require.Equal(t, "permessage-deflate; client_max_window_bits", clientDeflateOffer(CompressionContextTakeover).String())
	require.Equal(t, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
		clientDeflateOffer(CompressionNoContextTakeover).String())
}

// compressedPair returns a server and a client Conn over TCP, with
// permessage-deflate configured from params on both sides.
func compressedPair(t testing.TB, params handshake.DeflateParams, opts Options) (server, client *Conn) {
	a, b := tcpPair(t)
	opts.Deflate = &params
	so, co := opts, opts
	server = New(a, nil, false, "", &so)
	client = New(b, nil, true, "", &co)
	t.Cleanup(func() { server.CloseNow(); client.CloseNow() })
	return server, client
}

// message makes a test message: compressible text, or random bytes.
func message(rng *rand.Rand, size int, compressible bool) []byte {
	if compressible {
		return randomText(size)
	}
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

func TestCompressedRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var frames [2]atomic.Int64 // by Direction: RSV1 frames seen
	observe := func(dir Direction, h wsframe.Header, _ []byte) {
		if h.Rsv&wsframe.RSV1 != 0 {
			frames[dir].Add(1)
		}
	}
	for _, params := range []handshake.DeflateParams{
		{},
		{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		{ServerNoContextTakeover: true},
		{ClientNoContextTakeover: true},
	} {
		for bits := 8; bits <= 15; bits++ {
			p := params
			p.ServerMaxWindowBits, p.ClientMaxWindowBits = bits, 23-bits // every size, both ways
			t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
				server, client := compressedPair(t, p, Options{ReadLimit: 4 << 20, OnFrame: observe})
				ctx := context.Background()
				go echo(server, bits%2 == 0)
				sizes := []int{0, 1, 127, 128, 1000, 70000}
				if bits == 15 {
					sizes = append(sizes, 1<<20)
				}
				for _, size := range sizes {
					for _, compressible := range []bool{true, false} {
						msg := message(rng, size, compressible)
						typ := MessageBinary
						if compressible {
							typ = MessageText
						}
						errc := make(chan error, 1)
						go func() {
							if size%2 == 0 {
								errc <- client.Write(ctx, typ, msg)
								return
							}
							w, err := client.Writer(ctx, typ)
							if err == nil {
								for rest := msg; len(rest) > 0 && err == nil; rest = rest[min(len(rest), 5000):] {
									_, err = w.Write(rest[:min(len(rest), 5000)])
								}
								if err == nil {
									err = w.Close()
								}
							}
							errc <- err
						}()
						gotTyp, got, err := client.Read(ctx)
						require.NoError(t, err, "size %d", size)
						require.NoError(t, <-errc)
						require.Equal(t, typ, gotTyp)
						require.True(t, bytes.Equal(msg, got), "size %d: payload differs", size)
					}
				}
			})
		}
	}
	for _, dir := range []Direction{Inbound, Outbound} {
		require.Positive(t, frames[dir].Load(), "no compressed frames %v", dir)
	}
}

// TestCompressionInterop checks our frames against compress/flate used
// directly, in both directions, with and without context takeover.
func TestCompressionInterop(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		t.Run(fmt.Sprintf("takeover=%v", takeover), func(t *testing.T) {
			params := handshake.DeflateParams{ServerNoContextTakeover: !takeover, ClientNoContextTakeover: !takeover}
			a, b := tcpPair(t)
			c := New(a, nil, false, "", &Options{Deflate: &params})
			defer c.CloseNow()
			p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}

			// The peer compresses two messages with one flate stream (or one
			// each), as RFC 7692 describes, and sends them with RSV1.
			var out bytes.Buffer
			fw, _ := flate.NewWriter(&out, flate.BestCompression)
			msgs := []string{strings.Repeat("hello websocket ", 50), strings.Repeat("hello websocket ", 60)}
			for _, m := range msgs {
				if !takeover {
					fw.Reset(&out)
				}
				out.Reset()
				fw.Write([]byte(m))
				fw.Flush()
				z := out.Bytes()
				require.True(t, bytes.HasSuffix(z, deflateTail))
				p.send(p.frame(true, wsframe.RSV1, wsframe.OpText, z[:len(z)-4]))
				typ, got, err := c.Read(context.Background())
				require.NoError(t, err)
				require.Equal(t, MessageText, typ)
				require.Equal(t, m, string(got))
			}

			// Our compressed frames inflate with compress/flate.
			var sizes []int
			fr := flate.NewReader(nil)
			var window []byte
			for _, m := range msgs {
				require.NoError(t, c.Write(context.Background(), MessageText, []byte(m)))
				h, z := p.recvFrame()
				require.Equal(t, wsframe.RSV1, h.Rsv)
				sizes = append(sizes, len(z))
				var dict []byte
				if takeover {
					dict = window
				}
				fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(z), bytes.NewReader(deflateTail)), dict)
				got, err := io.ReadAll(fr)
				require.ErrorIs(t, err, io.ErrUnexpectedEOF) // a sync flush is not a final block
				require.Equal(t, m, string(got))
				window = append(window, got...)
			}
			if takeover {
				require.Less(t, sizes[1], sizes[0], "the second message refers back to the first")
			}
		})
	}
}

func TestSmallWindowUsesNoBackReferences(t *testing.T) {
	params := handshake.DeflateParams{ServerMaxWindowBits: 9}
	a, b := tcpPair(t)
	c := New(a, nil, false, "", &Options{Deflate: &params})
	defer c.CloseNow()
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
	msg := bytes.Repeat([]byte("a"), 100000)
	require.NoError(t, c.Write(context.Background(), MessageBinary, msg))
	h, z := p.recvFrame()
	require.Equal(t, wsframe.RSV1, h.Rsv)
	// LZ77 would code this in a few hundred bytes; Huffman-only coding needs
	// at least a bit per byte, whatever the window.
	require.GreaterOrEqual(t, len(z), len(msg)/8)
	got, _ := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader(deflateTail))))
	require.Equal(t, msg, got)
}

func TestIncompressibleMessageGoesUncompressed(t *testing.T) {
	params := handshake.DeflateParams{ServerNoContextTakeover: true}
	a, b := tcpPair(t)
	c := New(a, nil, false, "", &Options{Deflate: &params})
	defer c.CloseNow()
	p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
	msg := message(rand.New(rand.NewPCG(3, 4)), 4000, false)
	require.NoError(t, c.Write(context.Background(), MessageBinary, msg))
	h, got := p.recvFrame()
	require.Equal(t, byte(0), h.Rsv)
	require.Equal(t, msg, got)
	// Below the threshold, nothing is compressed either.
	require.NoError(t, c.Write(context.Background(), MessageText, []byte("tiny tiny tiny tiny")))
	h, _ = p.recvFrame()
	require.Equal(t, byte(0), h.Rsv)
}

func TestCompressionViolations(t *testing.T) {
	deflated := func(s string) []byte {
		var out bytes.Buffer
		fw, _ := flate.NewWriter(&out, flate.BestSpeed)
		fw.Write([]byte(s))
		fw.Flush()
		return out.Bytes()[:out.Len()-4]
	}
	// A "bomb": 64 MiB of zeros in a few tens of KiB.
	var bomb bytes.Buffer
	fw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		fw.Write(zeros)
	}
	fw.Flush()
	tests := []struct {
		name string
		send func(p *rawPeer)
		code wsframe.CloseCode
	}{
		{"RSV1 on a continuation", func(p *rawPeer) {
			p.send(p.frame(false, wsframe.RSV1, wsframe.OpText, deflated("ab")))
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpContinuation, deflated("cd")))
		}, wsframe.CloseProtocolError},
		{"RSV1 on a ping", func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpPing, nil))
		}, wsframe.CloseProtocolError},
		{"RSV2", func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV1|wsframe.RSV2, wsframe.OpText, deflated("ab")))
		}, wsframe.CloseProtocolError},
		{"corrupt deflate data", func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpBinary, []byte{0xff, 0xff, 0xff, 0x00}))
		}, wsframe.CloseInvalidPayload},
		{"invalid UTF-8 after inflating", func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpText, deflated("ok \xed\xa0\x80")))
		}, wsframe.CloseInvalidPayload},
		{"compressed frame longer than the limit allows", func(p *rawPeer) {
			// Only the header: refused before any payload is read or allocated.
			p.send(wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Rsv: wsframe.RSV1, Opcode: wsframe.OpBinary, Masked: true, Length: 1 << 50}))
		}, wsframe.CloseTooBig},
		{"decompression bomb", func(p *rawPeer) {
			p.send(p.frame(true, wsframe.RSV1, wsframe.OpBinary, bomb.Bytes()[:bomb.Len()-4]))
		}, wsframe.CloseTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := handshake.DeflateParams{}
			a, b := tcpPair(t)
			c := New(a, nil, false, "", &Options{Deflate: &params, ReadLimit: 1 << 20})
			defer c.CloseNow()
			p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
			res := readAsync(c)
			tt.send(p)
			p.expectClose(tt.code)
			p.sendFrame(true, wsframe.OpClose, nil)
			r := <-res
			require.Equal(t, tt.code, CloseCode(r.err), "%v", r.err)
			require.LessOrEqual(t, len(r.data), 1<<20)
		})
	}
}

func TestDialAndAcceptNegotiateCompression(t *testing.T) {
	for _, mode := range []CompressionMode{CompressionContextTakeover, CompressionNoContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			var compressedIn sync.Map
			url := echoServer(t, &AcceptOptions{Compression: mode, OnFrame: func(dir Direction, h wsframe.Header, _ []byte) {
				if dir == Inbound && h.Rsv == wsframe.RSV1 {
					compressedIn.Store(true, true)
				}
			}}, false)
			ctx := context.Background()
			c, resp, err := Dial(ctx, url, &DialOptions{Compression: mode})
			require.NoError(t, err)
			defer c.CloseNow()
			require.Contains(t, resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
			msg := bytes.Repeat([]byte("compress me "), 100)
			for i := 0; i < 3; i++ {
				require.NoError(t, c.Write(ctx, MessageText, msg))
				_, got, err := c.Read(ctx)
				require.NoError(t, err)
				require.Equal(t, msg, got)
			}
			_, ok := compressedIn.Load(true)
			require.True(t, ok, "the server saw no compressed frame")
			require.NoError(t, c.Close(wsframe.CloseNormal, ""))
		})
	}
	// Without the option, a client offers nothing and a server accepts nothing.
	url := echoServer(t, nil, false)
	c, resp, err := Dial(context.Background(), url, &DialOptions{Compression: CompressionContextTakeover})
	require.NoError(t, err)
	defer c.CloseNow()
	require.Empty(t, resp.Header.Get("Sec-WebSocket-Extensions"))
	require.Nil(t, c.wr.comp)
}

// TestCompressedReaderEmptyReadIsNotTheEnd: a Read with an empty buffer in
// the middle of a compressed message returns (0, nil), and the rest of the
// message follows. It used to return io.EOF once the flate reader had
// taken in all of the message's input while it still held output: the
// message was cut short with no error (found by the model test).
func TestCompressedReaderEmptyReadIsNotTheEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, takeover := range []bool{false, true} {
		params := handshake.DeflateParams{ServerNoContextTakeover: !takeover, ClientNoContextTakeover: !takeover}
		server, client := compressedPair(t, params, Options{CompressionThreshold: 1})
		for _, size := range []int{100, 5000, 18873, 64 << 10} {
			for _, compressible := range []bool{false, true} {
				msg := message(rng, size, compressible)
				done := make(chan error, 1)
				go func() { done <- client.Write(context.Background(), MessageBinary, msg) }()
				_, r, err := server.Reader(context.Background())
				require.NoError(t, err)
				var got []byte
				buf := make([]byte, 4096)
				for i := 0; ; i++ {
					// Small reads, and an empty one after each.
					p := buf[:1+rng.IntN(300)]
					if i%2 == 1 {
						p = buf[:0]
					}
					n, err := r.Read(p)
					got = append(got, p[:n]...)
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					require.Less(t, i, 1<<20, "no end")
				}
				require.NoError(t, <-done)
				require.Equal(t, len(msg), len(got), "size %d, compressible %v, takeover %v", size, compressible, takeover)
				require.True(t, bytes.Equal(msg, got), "the message arrives whole")
			}
		}
	}
}

// TestCompressedWriterCancelledAfterFeedingFails: a streamed compressed
// message (context takeover) whose first bytes went into the compressor,
// but not yet onto the wire, and whose context then ends, cannot leave
// the connection usable: the compressor's window has taken in a message
// the peer will never see, so every later message would inflate wrong.
// The connection fails with 1011 (found by the model test: the next
// message arrived altered, with no error).
func TestCompressedWriterCancelledAfterFeedingFails(t *testing.T) {
	params := handshake.DeflateParams{}
	server, client := compressedPair(t, params, Options{CompressionThreshold: 1})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.Writer(ctx, MessageText)
	require.NoError(t, err)
	_, err = w.Write([]byte("the first part goes into the compressor"))
	require.NoError(t, err)
	cancel()
	_, err = w.Write([]byte("the rest"))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, wsframe.CloseInternalError, CloseCode(err))
	require.Error(t, w.Close())
	err = client.Write(context.Background(), MessageText, []byte("next"))
	require.NotZero(t, CloseCode(err), "later calls report the failure: %v", err)
	_, _, err = server.Read(context.Background())
	require.Equal(t, wsframe.CloseInternalError, CloseCode(err), "the peer gets 1011, not an altered message: %v", err)
}
