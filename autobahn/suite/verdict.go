package suite

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ws6455/ws6455/autobahn/report"
)

// closeFacts are the facts about how a connection ended that the close
// verdict depends on.
type closeFacts struct {
	// ClosedByMe: the suite sent the first close frame.
	ClosedByMe bool
	// DroppedByMe: the suite, not the peer, closed TCP.
	DroppedByMe bool
	// WasClean: close frames went both ways (and, for a client, the server
	// closed TCP in time).
	WasClean bool
	// IsServer: the suite played the server.
	IsServer bool
	// RemoteCloseCode is the code in the peer's close frame, if any.
	RemoteCloseCode *int
}

// verdict is the outcome of judging one case.
type verdict struct {
	matched       bool
	fatal         bool
	behavior      string
	result        string
	behaviorClose string
	resultClose   string
}

// judge applies the real suite's rules. The behaviour is that of the first
// expected outcome whose events equal the received ones exactly (in order);
// with no match the case keeps the behaviour it set itself (FAILED unless
// it decided otherwise). The close verdict checks, in this order: that the
// right side started the close, that the close was clean when required,
// that the peer's close code is acceptable, and that a server under test
// closed TCP itself.
func judge(expected []outcome, received []event, ec expectedClose, f closeFacts) verdict {
	var v verdict
	for _, o := range expected {
		if eventsEqual(received, o.Events) {
			v.matched = true
			v.behavior = o.Behavior
			v.result = "The events received match an expected outcome."
			break
		}
	}
	switch {
	case ec.ClosedByMe != f.ClosedByMe:
		v.behaviorClose = report.CloseFailed
		if ec.ClosedByMe {
			v.resultClose = "The peer closed the connection, but the suite was meant to."
		} else {
			v.resultClose = "The suite had to close the connection: the peer should have failed it first."
		}
	case ec.RequireClean && !f.WasClean:
		v.behaviorClose = report.CloseUnclean
		v.resultClose = "The closing handshake did not complete cleanly, and this case requires that it does."
	case f.RemoteCloseCode != nil && !slices.Contains(ec.CloseCodes, *f.RemoteCloseCode):
		v.behaviorClose = report.CloseWrongCode
		codes := make([]string, len(ec.CloseCodes))
		for i, c := range ec.CloseCodes {
			codes[i] = strconv.Itoa(c)
		}
		v.resultClose = fmt.Sprintf("The peer closed with code %d; acceptable: %s, or no code.", *f.RemoteCloseCode, strings.Join(codes, ", "))
	case !f.IsServer && f.DroppedByMe:
		v.behaviorClose = report.CloseFailedByClient
		v.resultClose = "The suite had to close TCP itself; the server should close it after the closing handshake."
	default:
		v.behaviorClose = report.CloseOK
		v.resultClose = "The connection was closed properly."
	}
	v.fatal = ec.WrongEndpointFatal && ec.ClosedByMe != f.ClosedByMe
	return v
}
