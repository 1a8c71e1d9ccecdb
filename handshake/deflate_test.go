package handshake

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDeflateParams(t *testing.T) {
	tests := []struct {
		header string
		offer  bool
		want   DeflateParams
		err    string
	}{
		{header: "permessage-deflate", offer: true},
		{header: "permessage-deflate", offer: false},
		{header: "Permessage-Deflate; SERVER_NO_CONTEXT_TAKEOVER", offer: true, want: DeflateParams{ServerNoContextTakeover: true}},
		{header: "permessage-deflate; server_no_context_takeover; client_no_context_takeover", offer: false,
			want: DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{header: "permessage-deflate; client_max_window_bits", offer: true, want: DeflateParams{ClientMaxWindowBits: -1}},
		{header: "permessage-deflate; client_max_window_bits=8; server_max_window_bits=15", offer: false,
			want: DeflateParams{ClientMaxWindowBits: 8, ServerMaxWindowBits: 15}},
		{header: `permessage-deflate; server_max_window_bits="12"`, offer: true, want: DeflateParams{ServerMaxWindowBits: 12}},
		{header: "permessage-deflate; client_max_window_bits=9", offer: true, want: DeflateParams{ClientMaxWindowBits: 9}},

		{header: "x-deflate", offer: true, err: `extension "x-deflate" is not permessage-deflate`},
		{header: "permessage-deflate; client_max_window_bits", offer: false, err: "parameter client_max_window_bits needs a value"},
		{header: "permessage-deflate; server_max_window_bits", offer: true, err: "parameter server_max_window_bits needs a value"},
		{header: "permessage-deflate; server_max_window_bits=7", offer: true, err: "not a window size in 8..15"},
		{header: "permessage-deflate; server_max_window_bits=16", offer: true, err: "not a window size in 8..15"},
		{header: "permessage-deflate; server_max_window_bits=08", offer: true, err: "not a window size in 8..15"},
		{header: "permessage-deflate; client_max_window_bits=010", offer: true, err: "not a window size in 8..15"},
		{header: "permessage-deflate; client_max_window_bits=+9", offer: true, err: "not a window size in 8..15"},
		{header: "permessage-deflate; client_max_window_bits=1e1", offer: true, err: "not a window size in 8..15"},
		{header: "permessage-deflate; server_no_context_takeover=1", offer: true, err: "parameter server_no_context_takeover takes no value"},
		{header: "permessage-deflate; client_no_context_takeover=true", offer: false, err: "parameter client_no_context_takeover takes no value"},
		{header: "permessage-deflate; server_no_context_takeover; server_no_context_takeover", offer: true, err: "duplicate parameter"},
		{header: "permessage-deflate; client_max_window_bits; client_max_window_bits=10", offer: true, err: "duplicate parameter"},
		{header: "permessage-deflate; mystery", offer: true, err: `unknown parameter "mystery"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/offer=%v", tt.header, tt.offer), func(t *testing.T) {
			exts, err := ParseExtensions([]string{tt.header})
			require.NoError(t, err)
			require.Len(t, exts, 1)
			got, err := ParseDeflateParams(exts[0], tt.offer)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseDeflateParams(got.Extension(), tt.offer)
			require.NoError(t, err)
			assert.Equal(t, got, again, "Extension() round trip")
		})
	}
}

func TestDeflateParamsExtension(t *testing.T) {
	p := DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: -1}
	assert.Equal(t, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
		p.Extension().String())
	assert.Equal(t, "permessage-deflate", DeflateParams{}.Extension().String())
	assert.Equal(t, "permessage-deflate; client_max_window_bits=12", DeflateParams{ClientMaxWindowBits: 12}.Extension().String())
}

func ExampleParseDeflateParams() {
	offers, _ := ParseExtensions([]string{"permessage-deflate; client_max_window_bits; server_no_context_takeover"})
	offer, err := ParseDeflateParams(offers[0], true)
	fmt.Printf("%+v %v\n", offer, err)

	// A server that accepts, limiting the client's window to 10 bits:
	resp := DeflateParams{ServerNoContextTakeover: offer.ServerNoContextTakeover, ClientMaxWindowBits: 10}
	fmt.Println(resp.Extension())
	// Output:
	// {ServerNoContextTakeover:true ClientNoContextTakeover:false ServerMaxWindowBits:0 ClientMaxWindowBits:-1} <nil>
	// permessage-deflate; server_no_context_takeover; client_max_window_bits=10
}

// FuzzParseDeflateParams: never panic; accepted parameters are in range and
// survive Extension() and a reparse.
func FuzzParseDeflateParams(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
		`permessage-deflate; client_max_window_bits="15"; server_no_context_takeover`,
		"permessage-deflate; server_max_window_bits=08",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, header string, offer bool) {
		exts, err := ParseExtensions([]string{header})
		if err != nil {
			return
		}
		for _, e := range exts {
			p, err := ParseDeflateParams(e, offer)
			if err != nil {
				continue
			}
			if p.ServerMaxWindowBits != 0 && (p.ServerMaxWindowBits < 8 || p.ServerMaxWindowBits > 15) {
				t.Fatalf("server bits %d", p.ServerMaxWindowBits)
			}
			switch c := p.ClientMaxWindowBits; {
			case c == -1 && !offer:
				t.Fatal("valueless client_max_window_bits accepted in a response")
			case c != 0 && c != -1 && (c < 8 || c > 15):
				t.Fatalf("client bits %d", c)
			}
			again, err := ParseDeflateParams(p.Extension(), offer)
			if err != nil || again != p {
				t.Fatalf("round trip %+v -> %+v, %v", p, again, err)
			}
		}
	})
}
