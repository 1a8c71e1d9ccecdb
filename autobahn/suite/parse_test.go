package suite

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		include, exclude string
		first, last      string
		n                int
		err              bool
	}{
		{include: "", first: "1.1.1", last: "13.7.18", n: 517},
		{include: "*", first: "1.1.1", last: "13.7.18", n: 517},
		{include: "1.*", first: "1.1.1", last: "1.2.8", n: 16},
		{include: "1.*,5.*", first: "1.1.1", last: "5.20", n: 36},
		{include: "9.*", exclude: "9.7.*,9.8.*", first: "9.1.1", last: "9.6.6", n: 42},
		{include: "6.4.1", first: "6.4.1", last: "6.4.1", n: 1},
		{include: " 2.1 , 2.10 ", first: "2.1", last: "2.10", n: 2},
		{include: "12.*", n: 90, first: "12.1.1", last: "12.5.18"},
		{include: "13.*", n: 126, first: "13.1.1", last: "13.7.18"},
		{include: "8.*", err: true},
		{include: "1.1.x", err: true},
		{include: "1.*", exclude: "a", err: true},
	} {
		got, err := Select(tc.include, tc.exclude)
		if tc.err {
			require.Error(t, err, "%q", tc.include)
			continue
		}
		require.NoError(t, err)
		require.Len(t, got, tc.n, "%q minus %q", tc.include, tc.exclude)
		require.Equal(t, tc.first, got[0].ID)
		require.Equal(t, tc.last, got[len(got)-1].ID)
	}
}

// TestCatalogueShape checks the catalogue's size per group against the
// real suite's (517 cases) and that every case has its texts.
func TestCatalogueShape(t *testing.T) {
	per := map[string]int{}
	for _, c := range Cases() {
		top, _, _ := bytes.Cut([]byte(c.ID), []byte("."))
		per[string(top)]++
		require.NotEmpty(t, c.Description, c.ID)
		require.NotEmpty(t, c.Expectation, c.ID)
		require.NotNil(t, c.open, c.ID)
	}
	require.Equal(t, map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37,
		"9": 54, "10": 1, "12": 90, "13": 126}, per)
}

func TestDeflateOfferHeaders(t *testing.T) {
	for _, tc := range []struct {
		o    deflateOffer
		want string
	}{
		{deflateOffer{}, "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
		{deflateOffer{requestNoContextTakeover: true}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover"},
		{deflateOffer{requestMaxWindowBits: 9}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=9"},
		{deflateOffer{true, 15}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=15"},
	} {
		require.Equal(t, tc.want, tc.o.header())
	}
}

func TestParseDeflateResponse(t *testing.T) {
	def := []deflateOffer{{}}
	for _, tc := range []struct {
		name   string
		header string
		offers []deflateOffer
		want   *deflateParams
		err    bool
	}{
		{"declined", "", def, nil, false},
		{"plain", "permessage-deflate", def, &deflateParams{}, false},
		{"gorilla", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", def,
			&deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true}, false},
		{"bits", "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10", []deflateOffer{{requestMaxWindowBits: 9}},
			&deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 10}, false},
		{"case and spaces", "  Permessage-Deflate ;SERVER_NO_CONTEXT_TAKEOVER ", def, &deflateParams{serverNoContextTakeover: true}, false},
		// Answers that do not grant what was asked of the server are taken
		// as they are, like the real suite does (13.3.x-13.6.x against
		// gorilla's server, which ignores window requests, are OK there).
		{"ignored request", "permessage-deflate", []deflateOffer{{requestNoContextTakeover: true}}, &deflateParams{}, false},
		{"window larger than asked", "permessage-deflate; server_max_window_bits=12", []deflateOffer{{requestMaxWindowBits: 9}},
			&deflateParams{serverMaxWindowBits: 12}, false},
		{"gorilla ignores the window request", "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			[]deflateOffer{{requestNoContextTakeover: true, requestMaxWindowBits: 9}}, &deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true}, false},
		{"bad bits", "permessage-deflate; server_max_window_bits=7", def, nil, true},
		{"no bits value", "permessage-deflate; client_max_window_bits", def, nil, true},
		{"unknown param", "permessage-deflate; foo", def, nil, true},
		{"duplicate", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", def, nil, true},
		{"two extensions", "permessage-deflate, permessage-deflate", def, nil, true},
		{"other extension", "x-webkit-deflate-frame", def, nil, true},
		{"quoted", `permessage-deflate; server_max_window_bits="9"`, def, nil, true},
		{"empty param", "permessage-deflate;;", def, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDeflateResponse(tc.header)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseClientOffers(t *testing.T) {
	got, err := parseClientOffers("x-foo, permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate; server_max_window_bits=10; client_max_window_bits=12, permessage-deflate; bogus")
	require.NoError(t, err)
	require.Equal(t, []clientOffer{
		{serverNoContextTakeover: true, clientMaxWindowBits: -1},
		{serverMaxWindowBits: 10, clientMaxWindowBits: 12},
	}, got)
	p, ok := deflateParamSets[6].accept(got[0])
	require.True(t, ok, "the three-offer answer takes its first choice")
	require.Equal(t, deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, clientMaxWindowBits: 9}, p)
	// A plain offer (as coder/websocket's client sends) cannot be asked for a
	// window, but can be asked to drop context takeover: the real suite
	// answered coder's client in 13.2.x and 13.7.x with client_no_context_takeover.
	plain := clientOffer{}
	p, ok = deflateParamSets[6].accept(plain)
	require.True(t, ok)
	require.Equal(t, "permessage-deflate; client_no_context_takeover", p.header())
	_, ok = acceptAsking(false, 9)(plain)
	require.False(t, ok, "limiting the client's window needs the client to allow it")
	p, ok = acceptAsking(false, 9)(got[0])
	require.True(t, ok)
	require.Equal(t, "permessage-deflate; server_no_context_takeover; client_max_window_bits=9", p.header())
}

// TestDeflateRoundTrip compresses and inflates messages with and without
// context takeover and with a limited window (Huffman-only output).
func TestDeflateRoundTrip(t *testing.T) {
	msgs := [][]byte{[]byte("Hello"), []byte("Hello"), bytes.Repeat([]byte("abc"), 10000), {}, jsonCorpus()[:5000]}
	for _, p := range []deflateParams{{}, {serverNoContextTakeover: true, clientNoContextTakeover: true}, {clientMaxWindowBits: 9, serverMaxWindowBits: 9}} {
		client, server := newPMD(p, false), newPMD(p, true)
		for _, m := range msgs {
			c := client.compress(m)
			require.False(t, bytes.HasSuffix(c, []byte{0, 0, 0xff, 0xff}))
			server.startMessage()
			server.inflate(c, maxMessage)
			got, err := server.endMessage(maxMessage)
			require.NoError(t, err)
			require.Equal(t, m, got)
		}
	}
	// A bomb is cut at the limit.
	pm := newPMD(deflateParams{}, true)
	bomb := newPMD(deflateParams{}, false).compress(make([]byte, 1<<20))
	pm.startMessage()
	pm.inflate(bomb, 1000)
	_, err := pm.endMessage(1000)
	require.Error(t, err)
}

// newTestRun makes a run whose peer discards everything, for feeding bytes
// to the receive path directly.
func newTestRun(t testing.TB, isServer, deflate bool) *run {
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	r := newRun(context.Background(), &Case{ID: "test", open: func(*run) {}}, a, isServer, Timeouts{})
	r.state = stateOpen
	if deflate {
		r.pmd = newPMD(deflateParams{}, isServer)
	}
	t.Cleanup(func() {
		r.finish()
		b.Close()
	})
	return r
}

// TestReceivePath checks how the engine reacts to frames from the peer,
// byte by byte: messages, pongs, protocol errors and the closing handshake.
func TestReceivePath(t *testing.T) {
	for _, tc := range []struct {
		name       string
		server     bool
		in         []byte
		received   []event
		failed     bool
		localCode  int
		remoteCode int
	}{
		{name: "text", in: []byte{0x81, 0x02, 'h', 'i'}, received: []event{textEvent("hi")}},
		{name: "fragmented binary", in: []byte{0x02, 0x01, 0xaa, 0x80, 0x01, 0xbb}, received: []event{msgEvent([]byte{0xaa, 0xbb}, true)}},
		{name: "pong", in: []byte{0x8a, 0x01, 'x'}, received: []event{pongEvent([]byte("x"))}},
		{name: "masked from server", in: []byte{0x81, 0x81, 1, 2, 3, 4, 'h' ^ 1}, failed: true, localCode: 1002},
		{name: "unmasked from client", server: true, in: []byte{0x81, 0x01, 'h'}, failed: true, localCode: 1002},
		{name: "masked from client", server: true, in: []byte{0x81, 0x81, 1, 2, 3, 4, 'h' ^ 1}, received: []event{textEvent("h")}},
		{name: "rsv", in: []byte{0xc1, 0x00}, failed: true, localCode: 1002},
		{name: "reserved opcode", in: []byte{0x83, 0x00}, failed: true, localCode: 1002},
		{name: "long ping", in: append([]byte{0x89, 0x7e, 0x00, 0x7e}, make([]byte, 126)...), failed: true, localCode: 1002},
		{name: "fragmented ping", in: []byte{0x09, 0x00}, failed: true, localCode: 1002},
		{name: "lonely continuation", in: []byte{0x80, 0x00}, failed: true, localCode: 1002},
		{name: "non-minimal length", in: append([]byte{0x82, 0x7e, 0x00, 0x01}, 0), failed: true, localCode: 1002},
		{name: "bad utf8 fails at once", in: []byte{0x01, 0x02, 0xed, 0xa0}, failed: true, localCode: 1007},
		{name: "utf8 cut at end", in: []byte{0x81, 0x01, 0xce}, failed: true, localCode: 1007},
		{name: "close 1000", in: []byte{0x88, 0x02, 0x03, 0xe8}, localCode: 1000, remoteCode: 1000},
		{name: "close 1 byte", in: []byte{0x88, 0x01, 0x03}, failed: true, localCode: 1002},
		{name: "close bad code", in: []byte{0x88, 0x02, 0x03, 0xed}, failed: true, localCode: 1002, remoteCode: 1000},
		{name: "close bad reason", in: []byte{0x88, 0x03, 0x03, 0xe8, 0xff}, failed: true, localCode: 1007, remoteCode: 1000},
		{name: "huge length", in: []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, failed: true, localCode: 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRun(t, tc.server, false)
			// Feed one byte at a time: the result must not depend on how
			// the octets are split.
			for i := range tc.in {
				r.onData(tc.in[i : i+1])
			}
			require.Equal(t, tc.received, r.received)
			require.Equal(t, tc.failed, r.failedByMe)
			if tc.localCode != 0 {
				require.NotNil(t, r.localCloseCode)
				require.Equal(t, tc.localCode, *r.localCloseCode)
			}
			if tc.remoteCode != 0 {
				require.NotNil(t, r.remoteCloseCode)
				require.Equal(t, tc.remoteCode, *r.remoteCloseCode)
			}
		})
	}
}

func FuzzReceive(f *testing.F) {
	f.Add([]byte{0x81, 0x02, 'h', 'i'}, false, false)
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8}, false, false)
	f.Add([]byte{0xc1, 0x05, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, false, true)
	f.Add([]byte{0x81, 0x81, 1, 2, 3, 4, 'h' ^ 1}, true, false)
	f.Fuzz(func(t *testing.T, in []byte, server, deflate bool) {
		r := newTestRun(t, server, deflate)
		r.onData(in)
		// Whatever came in, the engine's own state stays consistent.
		if r.frame != nil && r.frame.got > r.frame.h.Length {
			t.Fatalf("read past the frame: %d > %d", r.frame.got, r.frame.h.Length)
		}
		if len(r.msg) > maxMessage {
			t.Fatalf("message buffer grew to %d", len(r.msg))
		}
	})
}

func FuzzParseExtensions(f *testing.F) {
	f.Add("permessage-deflate; client_no_context_takeover; client_max_window_bits")
	f.Add("permessage-deflate; server_max_window_bits=9, x-foo; a=b")
	f.Add(`permessage-deflate; server_max_window_bits="9"`)
	f.Fuzz(func(t *testing.T, s string) {
		exts, err := parseExtensions(s)
		if err == nil {
			for _, e := range exts {
				if e.name == "" {
					t.Fatalf("empty extension name from %q", s)
				}
			}
		}
		if p, err := parseDeflateResponse(s); err == nil && p != nil {
			// An accepted answer survives a round trip through its header.
			q, err := parseDeflateResponse(p.header())
			if err != nil || *q != *p {
				t.Fatalf("%q: %+v does not round-trip: %+v, %v", s, p, q, err)
			}
		}
		offers, err := parseClientOffers(s)
		if err == nil {
			for _, o := range offers {
				for _, ps := range deflateParamSets {
					if p, ok := ps.accept(o); ok && (p.clientMaxWindowBits < 0 || p.serverMaxWindowBits < 0) {
						t.Fatalf("negative window bits from %q", s)
					}
				}
			}
		}
	})
}
