package suite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// userAgent names the suite in its requests and responses.
const userAgent = "ws6455-suite/1"

// acceptKey computes Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2).
// The suite has its own copy so that it does not trust the code it tests.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// maxHandshake bounds the size of an opening handshake message.
const maxHandshake = 16 << 10

// parseWSURL checks a ws:// or wss:// URL and returns the host:port to
// dial, the Host header value and the request target.
func parseWSURL(raw string) (addr, host, target string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", fmt.Errorf("suite: bad URL %q: %w", raw, err)
	}
	port := "80"
	switch u.Scheme {
	case "ws":
	case "wss":
		port = "443"
	default:
		return "", "", "", fmt.Errorf("suite: URL %q: only ws:// and wss:// are supported", raw)
	}
	if u.Host == "" {
		return "", "", "", fmt.Errorf("suite: URL %q has no host", raw)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	target = u.RequestURI()
	return addr, u.Host, target, nil
}

// clientHandshake performs the opening handshake as a client on nc. It
// returns bytes read past the response (the peer's first frames, if any)
// and the negotiated compression (nil: none).
func clientHandshake(ctx context.Context, nc net.Conn, host, target string, offers []deflateOffer, r *run) ([]byte, *deflateParams, error) {
	deadline := time.Now().Add(r.to.Open)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})

	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", target)
	fmt.Fprintf(&b, "User-Agent: %s\r\n", userAgent)
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	b.WriteString("Upgrade: WebSocket\r\nConnection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\n", key)
	if r.origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", r.origin)
	}
	if len(r.protocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(r.protocols, ", "))
	}
	if len(offers) > 0 {
		hs := make([]string, len(offers))
		for i, o := range offers {
			hs[i] = o.header()
		}
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", strings.Join(hs, ","))
	}
	b.WriteString("Sec-WebSocket-Version: 13\r\n\r\n")
	req := b.String()
	r.httpRequest = req
	r.log("TO", hexData([]byte(req)), false)
	if _, err := nc.Write([]byte(req)); err != nil {
		return nil, nil, fmt.Errorf("writing the opening handshake: %w", err)
	}

	var buf []byte
	tmp := make([]byte, 4096)
	for {
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			head := buf[:i+4]
			rest := bytes.Clone(buf[i+4:])
			r.httpResponse = string(head)
			p, err := checkResponse(head, key, offers)
			return rest, p, err
		}
		if len(buf) > maxHandshake {
			return nil, nil, errors.New("opening handshake response too long")
		}
		n, err := nc.Read(tmp)
		if n > 0 {
			r.log("RO", hexData(tmp[:n]))
			buf = append(buf, tmp[:n]...)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				r.wasOpenHandshakeTimeout = true
			}
			return nil, nil, fmt.Errorf("reading the opening handshake response: %w", err)
		}
	}
}

func checkResponse(head []byte, key string, offers []deflateOffer) (*deflateParams, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return nil, fmt.Errorf("bad opening handshake response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("server answered %q, not 101", resp.Status)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return nil, errors.New("response lacks Upgrade: websocket")
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return nil, errors.New("response lacks Connection: upgrade")
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return nil, fmt.Errorf("wrong Sec-WebSocket-Accept %q", got)
	}
	ext := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ",")
	if strings.TrimSpace(ext) == "" {
		return nil, nil
	}
	if len(offers) == 0 {
		return nil, fmt.Errorf("server enabled extensions we did not offer: %q", ext)
	}
	return parseDeflateResponse(ext)
}

// headerHasToken reports whether a comma-separated header holds token
// (case-insensitively).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// serverHandshakeError is an upgrade request the fuzzing server refuses.
type serverHandshakeError struct {
	status int
	msg    string
}

func (e *serverHandshakeError) Error() string { return e.msg }

// checkUpgrade validates a client's upgrade request and returns its key.
func checkUpgrade(req *http.Request) (string, error) {
	bad := func(msg string) error { return &serverHandshakeError{status: http.StatusBadRequest, msg: msg} }
	if req.Method != http.MethodGet {
		return "", bad("the opening handshake must be a GET")
	}
	if !headerHasToken(req.Header, "Upgrade", "websocket") {
		return "", bad("missing Upgrade: websocket")
	}
	if !headerHasToken(req.Header, "Connection", "upgrade") {
		return "", bad("missing Connection: upgrade")
	}
	if req.Header.Get("Sec-WebSocket-Version") != "13" {
		return "", &serverHandshakeError{status: http.StatusUpgradeRequired, msg: "only Sec-WebSocket-Version 13 is supported"}
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return "", bad("Sec-WebSocket-Key must be base64 of 16 bytes")
	}
	return key, nil
}
