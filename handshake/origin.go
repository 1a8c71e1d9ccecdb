package handshake

import (
	"path"
	"strings"
)

// The Origin policy (RFC 6455 §10.2), secure by default. Browsers attach an
// Origin header to every WebSocket handshake, and WebSocket requests are not
// subject to the same-origin policy, so without this check any web page could
// open a connection to your server with the visitor's cookies
// (cross-site WebSocket hijacking).
//
// The rules, in order:
//  1. no Origin header: allowed (non-browser clients do not send one);
//  2. more than one Origin header: refused;
//  3. InsecureSkipOriginCheck: allowed;
//  4. the value must be a serialized origin "scheme://host[:port]" (an
//     optional trailing "/" is tolerated); "null", an opaque value or anything
//     with a path, query, fragment or userinfo is refused;
//  5. its host[:port], exactly as written in the Origin, equals the request's
//     Host (ASCII case-insensitive): allowed. Default ports are not implied:
//     "https://example.com" does not match "Host: example.com:443";
//  6. it matches one of OriginPatterns (path.Match syntax, ASCII
//     case-insensitive): a pattern that contains ':' is matched against
//     host:port, a pattern without ':' against the host name alone, so
//     "*.example.com" allows https://a.example.com and
//     http://a.example.com:8080. A malformed pattern is a server error (500).
//  7. otherwise refused with 403.

// originHost extracts host[:port] from a serialized origin. ok is false for
// "null" and anything that is not scheme "://" host.
func originHost[T text](origin T) (host T, ok bool) {
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
	i := 0
	for ; i < len(origin); i++ {
		c := origin[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			continue
		}
		if i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			continue
		}
		break
	}
	if i == 0 || len(origin)-i < 3 || origin[i] != ':' || origin[i+1] != '/' || origin[i+2] != '/' {
		return host, false
	}
	host = origin[i+3:]
	if n := len(host); n > 0 && host[n-1] == '/' {
		host = host[:n-1]
	}
	if len(host) == 0 {
		return host, false
	}
	for j := 0; j < len(host); j++ {
		switch c := host[j]; {
		case c <= ' ' || c >= 0x7f, c == '/', c == '?', c == '#', c == '@', c == '\\':
			return host, false
		}
	}
	return host, true
}

// checkOrigin applies the policy above. origins is the number of Origin
// headers, origin the first one, host the request's Host. It returns 0 when
// the request may proceed, else the status and reason to refuse it with.
func checkOrigin[T text](origins int, origin, host T, opts *ServerOptions) (int, string) {
	if origins == 0 || opts.InsecureSkipOriginCheck {
		return 0, ""
	}
	if origins > 1 {
		return 403, "more than one Origin header"
	}
	oh, ok := originHost(origin)
	if !ok {
		return 403, "Origin is not a scheme://host[:port] origin"
	}
	if len(oh) == len(host) && equalFold(oh, host) {
		return 0, ""
	}
	if len(opts.OriginPatterns) == 0 {
		return 403, "cross-origin request refused"
	}
	hostport := strings.ToLower(string(oh))
	name := hostport
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i:], "]") {
		name = name[:i]
	}
	for _, p := range opts.OriginPatterns {
		target := name
		if strings.Contains(p, ":") {
			target = hostport
		}
		ok, err := path.Match(strings.ToLower(p), target)
		if err != nil {
			return 500, "server misconfigured: bad origin pattern"
		}
		if ok {
			return 0, ""
		}
	}
	return 403, "cross-origin request refused"
}
