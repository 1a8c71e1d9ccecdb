package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Limits of the low-level request reader. A line is also limited by the
// bufio.Reader's size (4096 bytes by default): a longer line is refused.
const (
	maxHeaderLines = 128       // header lines after the request line
	maxHeaderBytes = 32 * 1024 // request line plus headers
)

// lowState is the per-handshake scratch space of UpgradeConn. It is pooled so
// that the happy path does not allocate: the header values it must keep past
// the next read (Host, Origin, the key) are copied into its buffers.
type lowState struct {
	host   []byte
	origin []byte
	key    []byte
	out    []byte
	exts   []string
}

var lowPool = sync.Pool{New: func() any {
	return &lowState{
		host:   make([]byte, 0, 64),
		origin: make([]byte, 0, 64),
		key:    make([]byte, 0, keyLen),
		out:    make([]byte, 0, 256),
	}
}}

// errNilReader is returned by UpgradeConn when called without a reader.
var errNilReader = errors.New("handshake: UpgradeConn needs a *bufio.Reader reading from the connection")

// UpgradeConn performs the server side of the opening handshake directly on a
// connection, without net/http: it reads the request from br (which must read
// from c), validates it exactly as Upgrade does, and writes the response to c
// — 101 Switching Protocols, or a 4xx answer with a short reason and
// "Connection: close", after which it returns a *RequestError and the caller
// should close c.
//
// The whole exchange is bounded by opts.Timeout (DefaultTimeout when zero)
// through c.SetDeadline; the deadline is cleared on success. The request line
// and each header line must fit in br's buffer, and the request may have at
// most 128 header lines and 32 KiB in total; longer requests get 400. A read
// error (EOF, timeout) is returned wrapped, without an answer.
//
// On success br holds whatever the client sent after its request (its first
// frames). With no NegotiateExtensions and no Header in opts, the happy path
// makes no allocations. Use OnRequestURI and OnHeader to see the request
// target and headers (routing, authentication).
func UpgradeConn(c net.Conn, br *bufio.Reader, opts *ServerOptions) (Result, error) {
	if br == nil {
		return Result{}, errNilReader
	}
	if opts == nil {
		opts = &defaultServerOptions
	}
	if err := c.SetDeadline(time.Now().Add(timeout(opts))); err != nil {
		return Result{}, fmt.Errorf("handshake: setting the deadline: %w", err)
	}
	st := lowPool.Get().(*lowState)
	defer func() {
		st.exts = st.exts[:0]
		lowPool.Put(st)
	}()

	f, status, reason, err := readRequest(br, st, opts)
	if err != nil {
		return Result{}, err
	}
	if status == 0 {
		status, reason = validate(&f, opts)
	}
	var res Result
	if status == 0 {
		if f.proto >= 0 {
			res.Subprotocol = opts.Subprotocols[f.proto]
		}
		if opts.NegotiateExtensions != nil {
			res.Extensions, status, reason = negotiate(st.exts, opts)
		}
	}
	if status == 0 {
		if err := checkResponseHeader(opts.Header); err != nil {
			status, reason = 500, "server misconfigured: bad response header"
		}
	}
	if status != 0 {
		st.out = appendRefusal(st.out[:0], status, reason)
		if _, err := c.Write(st.out); err != nil {
			return Result{}, fmt.Errorf("handshake: writing the %d response: %w", status, err)
		}
		return Result{}, &RequestError{Status: status, Reason: reason}
	}
	var accept [acceptLen]byte
	st.out = appendSwitching(st.out[:0], appendAccept(accept[:0], f.key), res.Subprotocol, res.Extensions, opts.Header)
	if _, err := c.Write(st.out); err != nil {
		return Result{}, fmt.Errorf("handshake: writing the 101 response: %w", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return Result{}, fmt.Errorf("handshake: clearing the deadline: %w", err)
	}
	return res, nil
}

// lineReader reads CRLF (or bare LF) terminated lines within the limits.
type lineReader struct {
	br    *bufio.Reader
	total int
}

// errLineTooLong marks a line that did not fit the reader's buffer or the
// total budget; it becomes a 400 answer.
var errLineTooLong = errors.New("line too long")

func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.br.ReadSlice('\n')
	lr.total += len(line)
	if err == bufio.ErrBufferFull || lr.total > maxHeaderBytes {
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readRequest reads the request line and headers into a fields value whose
// slices point into st. A non-zero status means the request is malformed
// (answer it); err means the connection failed (do not answer).
func readRequest(br *bufio.Reader, st *lowState, opts *ServerOptions) (f fields[[]byte], status int, reason string, err error) {
	f.proto = -1
	st.host, st.origin, st.key = st.host[:0], st.origin[:0], st.key[:0]
	lr := lineReader{br: br}

	line, err := lr.next()
	if err == errLineTooLong {
		return f, 400, "request line too long", nil
	}
	if err != nil {
		return f, 0, "", fmt.Errorf("handshake: reading the request line: %w", err)
	}
	method, uri, proto, ok := splitRequestLine(line)
	if !ok {
		return f, 400, "malformed request line", nil
	}
	if !validTarget(uri) {
		return f, 400, "malformed request target", nil
	}
	f.methodGET = equal(method, "GET")
	f.http11 = isHTTP11(proto)
	if opts.OnRequestURI != nil {
		if err := opts.OnRequestURI(uri); err != nil {
			status, reason = hookRefusal(err)
			return f, status, reason, nil
		}
	}

	for n := 0; ; n++ {
		line, err = lr.next()
		if err == errLineTooLong {
			return f, 400, "request header too large", nil
		}
		if err != nil {
			return f, 0, "", fmt.Errorf("handshake: reading the request headers: %w", err)
		}
		if len(line) == 0 {
			return f, 0, "", nil
		}
		if n == maxHeaderLines {
			return f, 400, "too many request headers", nil
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 || !isToken(line[:colon]) {
			// Also catches obsolete line folding (a line starting with
			// whitespace), which RFC 7230 §3.2.4 lets servers refuse.
			return f, 400, "malformed request header", nil
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return f, 400, "control character in a request header", nil
		}
		if opts.OnHeader != nil {
			if err := opts.OnHeader(name, value); err != nil {
				status, reason = hookRefusal(err)
				return f, status, reason, nil
			}
		}
		switch {
		case equalFold(name, "Host"):
			f.hosts++
			st.host = append(st.host[:0], value...)
			f.host = st.host
		case equalFold(name, hdrUpgrade):
			f.upgrade = f.upgrade || hasToken(value, "websocket")
		case equalFold(name, hdrConnection):
			f.connection = f.connection || hasToken(value, "upgrade")
		case equalFold(name, hdrVersion):
			f.versions++
			f.version13 = equal(value, "13")
		case equalFold(name, hdrKey):
			f.keys++
			if f.keys == 1 {
				st.key = append(st.key[:0], value...)
				f.key = st.key
			}
		case equalFold(name, hdrOrigin):
			f.origins++
			if f.origins == 1 {
				st.origin = append(st.origin[:0], value...)
				f.origin = st.origin
			}
		case equalFold(name, hdrProtocol):
			if len(opts.Subprotocols) > 0 {
				f.proto = pickSubprotocol(value, opts.Subprotocols, f.proto)
			}
		case equalFold(name, hdrExtensions):
			if opts.NegotiateExtensions != nil {
				st.exts = append(st.exts, string(value))
			}
		case equalFold(name, "Content-Length"):
			f.body = f.body || !equal(value, "0")
		case equalFold(name, "Transfer-Encoding"):
			f.body = true
		}
	}
}

// hookRefusal turns an OnRequestURI/OnHeader error into an answer.
func hookRefusal(err error) (int, string) {
	var re *RequestError
	if errors.As(err, &re) && re.Status >= 400 && re.Status <= 599 {
		return re.Status, re.Reason
	}
	return 400, err.Error()
}

// splitRequestLine splits "METHOD SP request-target SP HTTP-version".
func splitRequestLine(line []byte) (method, uri, proto []byte, ok bool) {
	sp1, sp2 := -1, -1
	for i, c := range line {
		if c == ' ' {
			if sp1 < 0 {
				sp1 = i
			} else if sp2 < 0 {
				sp2 = i
			} else {
				return nil, nil, nil, false
			}
		} else if c < ' ' || c == 0x7f {
			return nil, nil, nil, false
		}
	}
	if sp1 <= 0 || sp2 <= sp1+1 || sp2 == len(line)-1 {
		return nil, nil, nil, false
	}
	return line[:sp1], line[sp1+1 : sp2], line[sp2+1:], true
}

// validTarget accepts the two request-target forms a GET may use (RFC 7230
// §5.3): origin-form ("/path?query") and absolute-form ("http://host/path"),
// made of visible ASCII only.
func validTarget(uri []byte) bool {
	for _, c := range uri {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return len(uri) > 0 && uri[0] == '/' || hasAbsolutePrefix(uri)
}

// hasAbsolutePrefix reports whether uri starts with an http(s) or ws(s)
// scheme and "://".
func hasAbsolutePrefix(uri []byte) bool {
	for _, p := range [...]string{"http://", "https://", "ws://", "wss://"} {
		if len(uri) > len(p) && equalFold(uri[:len(p)], p) {
			return true
		}
	}
	return false
}

// isHTTP11 reports whether proto is "HTTP/1.x" with x >= 1.
func isHTTP11(proto []byte) bool {
	return len(proto) == 8 && equal(proto[:7], "HTTP/1.") && '1' <= proto[7] && proto[7] <= '9'
}
