package handshake

// This file holds the small lexical helpers shared by the server, the client
// and the extension parser. They are generic over string and []byte so that
// the net/http path (strings) and the low-level path (byte slices that alias a
// bufio.Reader's buffer) run exactly the same code without converting, which
// would allocate.

// text is a header value as net/http hands it over (string) or as the
// low-level reader sees it ([]byte).
type text interface{ ~string | ~[]byte }

// isTchar reports whether c may appear in an RFC 7230 token.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isToken reports whether s is a non-empty RFC 7230 token.
func isToken[T text](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isOWS reports whether c is optional whitespace (SP or HTAB).
func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS[T text](s T) T {
	i, j := 0, len(s)
	for i < j && isOWS(s[i]) {
		i++
	}
	for j > i && isOWS(s[j-1]) {
		j--
	}
	return s[i:j]
}

// lowerASCII maps A-Z to a-z and leaves every other byte alone.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// equalFold reports whether a and b are equal under ASCII case folding.
func equalFold[A, B text](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// equal reports whether a and b hold the same bytes (case-sensitive).
func equal[A, B text](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nextElement splits the first element off a comma-separated list and returns
// it with surrounding whitespace removed, plus the rest of the list. Empty
// elements are returned as empty values; RFC 7230 §7 asks recipients to
// tolerate them, so callers skip them.
func nextElement[T text](list T) (elem, rest T) {
	for i := 0; i < len(list); i++ {
		if list[i] == ',' {
			return trimOWS(list[:i]), list[i+1:]
		}
	}
	return trimOWS(list), list[len(list):]
}

// hasToken reports whether the comma-separated list v contains token,
// compared ASCII case-insensitively (the rule for Upgrade and Connection).
func hasToken[T text](v T, token string) bool {
	for len(v) > 0 {
		var elem T
		elem, v = nextElement(v)
		if equalFold(elem, token) {
			return true
		}
	}
	return false
}

// headerHasToken is hasToken over every line of a repeated header.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		if hasToken(v, token) {
			return true
		}
	}
	return false
}

// pickSubprotocol scans one Sec-WebSocket-Protocol value from the client and
// returns the smallest index into supported of a protocol the client offered,
// starting from best (-1 when nothing matched yet). Subprotocol names are
// compared case-sensitively: RFC 6455 §4.1 treats them as opaque tokens.
func pickSubprotocol[T text](v T, supported []string, best int) int {
	for len(v) > 0 {
		var elem T
		elem, v = nextElement(v)
		if len(elem) == 0 {
			continue
		}
		for i, s := range supported {
			if best >= 0 && i >= best {
				break
			}
			if equal(elem, s) {
				best = i
				break
			}
		}
	}
	return best
}

// validFieldValue reports whether v may be sent as an HTTP header value:
// no control characters other than HTAB (so no CR or LF that would let a
// value inject headers of its own).
func validFieldValue[T text](v T) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
