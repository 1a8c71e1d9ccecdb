package handshake

import (
	"fmt"
	"strings"
)

// Param is one parameter of an extension in Sec-WebSocket-Extensions, such as
// "client_max_window_bits=10".
type Param struct {
	Name  string
	Value string // "" when the parameter has no value (quoted values are unquoted)
}

// Extension is one element of Sec-WebSocket-Extensions (RFC 6455 §9.1): an
// extension name followed by its parameters, e.g.
// "permessage-deflate; client_max_window_bits". A client may offer the same
// extension several times with different parameters, in order of preference.
type Extension struct {
	Name   string
	Params []Param
}

// String returns e in header syntax: "name; a; b=1". A value that is not a
// token is written as a quoted string so the result always parses back.
func (e Extension) String() string {
	return string(e.appendTo(nil))
}

func (e Extension) appendTo(b []byte) []byte {
	b = append(b, e.Name...)
	for _, p := range e.Params {
		b = append(b, "; "...)
		b = append(b, p.Name...)
		if p.Value == "" {
			continue
		}
		b = append(b, '=')
		if isToken(p.Value) {
			b = append(b, p.Value...)
			continue
		}
		b = append(b, '"')
		for i := 0; i < len(p.Value); i++ {
			if c := p.Value[i]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, p.Value[i])
		}
		b = append(b, '"')
	}
	return b
}

// FormatExtensions returns exts as one Sec-WebSocket-Extensions value, the
// elements separated by ", ": "a; x=1, b". It returns "" for an empty list.
func FormatExtensions(exts []Extension) string {
	return string(appendExtensions(nil, exts))
}

func appendExtensions(b []byte, exts []Extension) []byte {
	for i, e := range exts {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = e.appendTo(b)
	}
	return b
}

// validExtension reports whether e can be sent in a header: the extension and
// parameter names are tokens and values contain no control characters.
func validExtension(e Extension) error {
	if !isToken(e.Name) {
		return fmt.Errorf("handshake: extension name %q is not a token", e.Name)
	}
	for _, p := range e.Params {
		if !isToken(p.Name) {
			return fmt.Errorf("handshake: extension %s: parameter name %q is not a token", e.Name, p.Name)
		}
		if !validFieldValue(p.Value) {
			return fmt.Errorf("handshake: extension %s: parameter %s has a control character in its value", e.Name, p.Name)
		}
	}
	return nil
}

// ParseExtensions parses every value of the Sec-WebSocket-Extensions header
// (the header may be repeated; each value is a comma-separated list of
// extensions, each with ';'-separated parameters). The grammar is RFC 6455
// §9.1 with the usual HTTP leniencies: optional whitespace around ',', ';'
// and '=', and empty list elements are skipped. Parameter values may be
// tokens or quoted strings (with backslash escapes); after unquoting a value
// must still be a token, as §9.1 requires. Any other syntax is an error that
// names the offending byte offset. Names keep the case they were sent in.
func ParseExtensions(values []string) ([]Extension, error) {
	var exts []Extension
	for _, v := range values {
		var err error
		exts, err = parseExtensionList(exts, v)
		if err != nil {
			return nil, err
		}
	}
	return exts, nil
}

// extSyntaxError builds the error for a syntax problem at offset i of v.
func extSyntaxError(v string, i int, what string) error {
	if i >= len(v) {
		return fmt.Errorf("handshake: bad Sec-WebSocket-Extensions: %s at end of value", what)
	}
	return fmt.Errorf("handshake: bad Sec-WebSocket-Extensions: %s at offset %d (%q)", what, i, v[i])
}

func parseExtensionList(exts []Extension, v string) ([]Extension, error) {
	i := 0
	skip := func() {
		for i < len(v) && isOWS(v[i]) {
			i++
		}
	}
	token := func() string {
		start := i
		for i < len(v) && isTchar(v[i]) {
			i++
		}
		return v[start:i]
	}
	for {
		skip()
		if i == len(v) {
			return exts, nil
		}
		if v[i] == ',' { // empty list element
			i++
			continue
		}
		name := token()
		if name == "" {
			return nil, extSyntaxError(v, i, "expected an extension name")
		}
		ext := Extension{Name: name}
		skip()
		for i < len(v) && v[i] == ';' {
			i++
			skip()
			pname := token()
			if pname == "" {
				return nil, extSyntaxError(v, i, "expected a parameter name")
			}
			skip()
			p := Param{Name: pname}
			if i < len(v) && v[i] == '=' {
				i++
				skip()
				if i < len(v) && v[i] == '"' {
					val, n, err := unquote(v[i:])
					if err != nil {
						return nil, extSyntaxError(v, i+n, err.Error())
					}
					if !isToken(val) {
						return nil, extSyntaxError(v, i, "quoted value is not a token")
					}
					i += n
					p.Value = val
				} else {
					p.Value = token()
					if p.Value == "" {
						return nil, extSyntaxError(v, i, "expected a parameter value")
					}
				}
				skip()
			}
			ext.Params = append(ext.Params, p)
		}
		if i < len(v) && v[i] != ',' {
			return nil, extSyntaxError(v, i, "unexpected character")
		}
		exts = append(exts, ext)
	}
}

// unquote decodes the quoted-string at the start of s (s[0] is '"') and
// returns its content and the number of bytes consumed. On error the count is
// the offset of the problem.
func unquote(s string) (string, int, error) {
	var b *strings.Builder // only needed when there are escapes
	start := 1
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			if b == nil {
				return s[start:i], i + 1, nil
			}
			b.WriteString(s[start:i])
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", i, fmt.Errorf("unterminated escape")
			}
			if e := s[i+1]; e != '\t' && (e < ' ' || e == 0x7f) {
				return "", i + 1, fmt.Errorf("bad escaped character")
			}
			if b == nil {
				b = new(strings.Builder)
			}
			b.WriteString(s[start:i])
			start = i + 1
			i++ // keep the escaped byte as content
		case c != '\t' && (c < ' ' || c == 0x7f):
			return "", i, fmt.Errorf("control character in quoted string")
		}
	}
	return "", len(s), fmt.Errorf("unterminated quoted string")
}
