package handshake

import (
	"net/http"
	"strconv"
)

// RequestError is returned by the server side (Upgrade, UpgradeConn) when the
// client's request is not an acceptable WebSocket upgrade. The answer described
// by Status and Reason has already been written to the client, and the
// connection was not upgraded; callers usually just log it.
type RequestError struct {
	Status int    // HTTP status written to the client (400, 403, 426, or 500 for a server-side problem)
	Reason string // short plain-text reason, also sent as the response body
}

// Error implements error.
func (e *RequestError) Error() string {
	return "handshake: refused with " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ": " + e.Reason
}

// ResponseError is returned by the client side (ClientHandshake, Dial) when
// the server answered with anything but a valid 101 Switching Protocols. It
// keeps the response so that callers can show what the server said, e.g. a
// 401 with a WWW-Authenticate header or a 403 with an explanation.
type ResponseError struct {
	Response *http.Response // status and headers; Body replays the bytes in Body below
	Body     []byte         // at most the first 1 KiB of the body
	Reason   string         // what was wrong
}

// Error implements error.
func (e *ResponseError) Error() string {
	s := "handshake: bad server response"
	if e.Response != nil {
		s += " (" + e.Response.Status + ")"
	}
	return s + ": " + e.Reason
}
