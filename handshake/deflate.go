package handshake

import (
	"fmt"
	"strconv"
)

// DeflateName is the registered name of the permessage-deflate extension
// (RFC 7692).
const DeflateName = "permessage-deflate"

// Parameter names of permessage-deflate (RFC 7692 §7.1).
const (
	paramServerNoContextTakeover = "server_no_context_takeover"
	paramClientNoContextTakeover = "client_no_context_takeover"
	paramServerMaxWindowBits     = "server_max_window_bits"
	paramClientMaxWindowBits     = "client_max_window_bits"
)

// DeflateParams are the permessage-deflate parameters of one offer (client)
// or one response (server), validated. The compression layer turns an offer
// into a response and configures its compressor and decompressor from the
// accepted response.
type DeflateParams struct {
	// ServerNoContextTakeover: the server resets its compression context
	// after every message.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client resets its compression context
	// after every message.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits limits the server's LZ77 window: 0 when absent,
	// else 8..15.
	ServerMaxWindowBits int
	// ClientMaxWindowBits limits the client's LZ77 window: 0 when absent,
	// -1 when present without a value (a client offer only: "I can honour a
	// limit, pick one"), else 8..15.
	ClientMaxWindowBits int
}

// ParseDeflateParams validates the parameters of a permessage-deflate
// extension as RFC 7692 §7.1 requires. offer is true for a client's offer and
// false for a server's response. The rules:
//   - e.Name must be DeflateName (ASCII case-insensitive), and parameter names
//     are the four of §7.1 (also case-insensitive), each at most once;
//   - server_no_context_takeover and client_no_context_takeover take no value;
//   - server_max_window_bits needs a value; client_max_window_bits may be
//     valueless only in an offer;
//   - a window-bits value is 1*DIGIT without a leading zero in 8..15 (a quoted
//     value was already unquoted by ParseExtensions and follows the same rule).
//
// Any violation is an error; per RFC 7692 a server then declines that offer and
// a client fails the connection.
func ParseDeflateParams(e Extension, offer bool) (DeflateParams, error) {
	var p DeflateParams
	if !equalFold(e.Name, DeflateName) {
		return p, fmt.Errorf("handshake: extension %q is not %s", e.Name, DeflateName)
	}
	var seen [4]bool
	for _, prm := range e.Params {
		var idx int
		switch {
		case equalFold(prm.Name, paramServerNoContextTakeover):
			idx = 0
		case equalFold(prm.Name, paramClientNoContextTakeover):
			idx = 1
		case equalFold(prm.Name, paramServerMaxWindowBits):
			idx = 2
		case equalFold(prm.Name, paramClientMaxWindowBits):
			idx = 3
		default:
			return DeflateParams{}, fmt.Errorf("handshake: %s: unknown parameter %q", DeflateName, prm.Name)
		}
		if seen[idx] {
			return DeflateParams{}, fmt.Errorf("handshake: %s: duplicate parameter %q", DeflateName, prm.Name)
		}
		seen[idx] = true
		switch idx {
		case 0, 1:
			if prm.Value != "" {
				return DeflateParams{}, fmt.Errorf("handshake: %s: parameter %s takes no value", DeflateName, prm.Name)
			}
			if idx == 0 {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
		case 2, 3:
			if prm.Value == "" {
				if idx == 3 && offer {
					p.ClientMaxWindowBits = -1
					continue
				}
				return DeflateParams{}, fmt.Errorf("handshake: %s: parameter %s needs a value", DeflateName, prm.Name)
			}
			bits, ok := parseWindowBits(prm.Value)
			if !ok {
				return DeflateParams{}, fmt.Errorf("handshake: %s: parameter %s=%q is not a window size in 8..15", DeflateName, prm.Name, prm.Value)
			}
			if idx == 2 {
				p.ServerMaxWindowBits = bits
			} else {
				p.ClientMaxWindowBits = bits
			}
		}
	}
	return p, nil
}

// parseWindowBits accepts "8" through "15" exactly: 1*DIGIT, no leading zero.
func parseWindowBits(v string) (int, bool) {
	switch len(v) {
	case 1:
		if v[0] == '8' || v[0] == '9' {
			return int(v[0] - '0'), true
		}
	case 2:
		if v[0] == '1' && '0' <= v[1] && v[1] <= '5' {
			return 10 + int(v[1]-'0'), true
		}
	}
	return 0, false
}

// Extension returns p in header form, with the parameters in the order of
// RFC 7692 §7.1. ClientMaxWindowBits -1 becomes a valueless
// client_max_window_bits; values outside 8..15 other than 0 and -1 are
// written as they are (and would fail ParseDeflateParams).
func (p DeflateParams) Extension() Extension {
	e := Extension{Name: DeflateName}
	if p.ServerNoContextTakeover {
		e.Params = append(e.Params, Param{Name: paramServerNoContextTakeover})
	}
	if p.ClientNoContextTakeover {
		e.Params = append(e.Params, Param{Name: paramClientNoContextTakeover})
	}
	if p.ServerMaxWindowBits != 0 {
		e.Params = append(e.Params, Param{Name: paramServerMaxWindowBits, Value: strconv.Itoa(p.ServerMaxWindowBits)})
	}
	switch p.ClientMaxWindowBits {
	case 0:
	case -1:
		e.Params = append(e.Params, Param{Name: paramClientMaxWindowBits})
	default:
		e.Params = append(e.Params, Param{Name: paramClientMaxWindowBits, Value: strconv.Itoa(p.ClientMaxWindowBits)})
	}
	return e
}
