package handshake

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseExtensions(t *testing.T) {
	p := func(name, value string) Param { return Param{Name: name, Value: value} }
	tests := []struct {
		name   string
		values []string
		want   []Extension
		err    string
	}{
		{name: "none", values: nil, want: nil},
		{name: "empty value", values: []string{""}, want: nil},
		{name: "only commas", values: []string{" , ,"}, want: nil},
		{name: "single", values: []string{"permessage-deflate"}, want: []Extension{{Name: "permessage-deflate"}}},
		{name: "params", values: []string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
			want: []Extension{{Name: "permessage-deflate", Params: []Param{p("client_max_window_bits", ""), p("server_max_window_bits", "10")}}}},
		{name: "no spaces", values: []string{"a;x=1;y,b"},
			want: []Extension{{Name: "a", Params: []Param{p("x", "1"), p("y", "")}}, {Name: "b"}}},
		{name: "lots of whitespace", values: []string{" \ta \t; \tx \t= \t1 \t, \tb\t "},
			want: []Extension{{Name: "a", Params: []Param{p("x", "1")}}, {Name: "b"}}},
		{name: "quoted", values: []string{`a; x="10"`}, want: []Extension{{Name: "a", Params: []Param{p("x", "10")}}}},
		{name: "quoted with escape", values: []string{`a; x="1\0"`}, want: []Extension{{Name: "a", Params: []Param{p("x", "10")}}}},
		{name: "several offers same name", values: []string{"permessage-deflate; client_max_window_bits=10, permessage-deflate"},
			want: []Extension{{Name: "permessage-deflate", Params: []Param{p("client_max_window_bits", "10")}}, {Name: "permessage-deflate"}}},
		{name: "several headers", values: []string{"a", "b; c", ""},
			want: []Extension{{Name: "a"}, {Name: "b", Params: []Param{p("c", "")}}}},
		{name: "empty elements", values: []string{",a,,b,"}, want: []Extension{{Name: "a"}, {Name: "b"}}},
		{name: "case kept", values: []string{"X-Foo; Bar=Baz"}, want: []Extension{{Name: "X-Foo", Params: []Param{p("Bar", "Baz")}}}},

		{name: "leading semicolon", values: []string{"; a"}, err: "expected an extension name at offset 0 (';')"},
		{name: "empty param", values: []string{"a;;b"}, err: "expected a parameter name at offset 2 (';')"},
		{name: "trailing semicolon", values: []string{"a;"}, err: "expected a parameter name at end of value"},
		{name: "missing value", values: []string{"a; x="}, err: "expected a parameter value at end of value"},
		{name: "missing value before comma", values: []string{"a; x=, b"}, err: "expected a parameter value at offset 5 (',')"},
		{name: "space inside name", values: []string{"a b"}, err: "unexpected character at offset 2 ('b')"},
		{name: "slash", values: []string{"a/b"}, err: "unexpected character at offset 1 ('/')"},
		{name: "unterminated quote", values: []string{`a; x="10`}, err: "unterminated quoted string at end of value"},
		{name: "escape at end", values: []string{`a; x="1\`}, err: "unterminated escape at offset 7 ('\\\\')"},
		{name: "quoted non-token", values: []string{`a; x="1 0"`}, err: "quoted value is not a token at offset 5 ('\"')"},
		{name: "quoted empty", values: []string{`a; x=""`}, err: "quoted value is not a token at offset 5 ('\"')"},
		{name: "quoted comma", values: []string{`a; x="1,0"`}, err: "quoted value is not a token"},
		{name: "control in quotes", values: []string{"a; x=\"1\x010\""}, err: "control character in quoted string"},
		{name: "garbage after quote", values: []string{`a; x="1"2`}, err: "unexpected character at offset 8 ('2')"},
		{name: "double equals", values: []string{"a; x==1"}, err: "expected a parameter value at offset 5 ('=')"},
		{name: "second header bad", values: []string{"a", "=b"}, err: "expected an extension name at offset 0 ('=')"},
		{name: "non-ASCII", values: []string{"ä"}, err: "expected an extension name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtensions(tt.values)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormatExtensions(t *testing.T) {
	exts := []Extension{
		{Name: "permessage-deflate", Params: []Param{{Name: "client_max_window_bits"}, {Name: "server_max_window_bits", Value: "10"}}},
		{Name: "x-odd", Params: []Param{{Name: "q", Value: `a "b" \c`}}},
		{Name: "plain"},
	}
	s := FormatExtensions(exts)
	assert.Equal(t, `permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-odd; q="a \"b\" \\c", plain`, s)
	assert.Equal(t, "plain", exts[2].String())
	assert.Equal(t, "", FormatExtensions(nil))
}

func ExampleParseExtensions() {
	exts, err := ParseExtensions([]string{
		`permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="10"`,
		"x-webkit-deflate-frame",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range exts {
		fmt.Printf("%s %v\n", e.Name, e.Params)
	}
	fmt.Println(FormatExtensions(exts))
	// Output:
	// permessage-deflate [{client_max_window_bits }]
	// permessage-deflate [{server_max_window_bits 10}]
	// x-webkit-deflate-frame []
	// permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10, x-webkit-deflate-frame
}

// FuzzParseExtensions: never panic; whatever parses is made of tokens and
// survives a format/parse round trip unchanged.
func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{"permessage-deflate; client_max_window_bits", `a; x="1\0", b`, "a;;b", `a; x="`, " , ,"} {
		f.Add(s, "")
	}
	f.Add("a", "b; c=d")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		exts, err := ParseExtensions([]string{v1, v2})
		if err != nil {
			return
		}
		for _, e := range exts {
			if !isToken(e.Name) {
				t.Fatalf("name %q is not a token", e.Name)
			}
			for _, p := range e.Params {
				if !isToken(p.Name) || (p.Value != "" && !isToken(p.Value)) {
					t.Fatalf("param %q=%q is not made of tokens", p.Name, p.Value)
				}
			}
		}
		again, err := ParseExtensions([]string{FormatExtensions(exts)})
		if err != nil {
			t.Fatalf("formatted %q does not parse: %v", FormatExtensions(exts), err)
		}
		if len(exts) == 0 {
			exts = nil
		}
		if !reflect.DeepEqual(exts, again) {
			t.Fatalf("round trip: %#v != %#v", exts, again)
		}
	})
}
