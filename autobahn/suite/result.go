package suite

import (
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// Result is the full record of one case run, written as the case's JSON
// report. Field names follow the real suite's per-case reports so that
// tools reading those can read these.
type Result struct {
	// Case is the case's 1-based position in the run.
	Case int `json:"case"`
	// ID is the case id, like "5.19".
	ID string `json:"id"`
	// Description and Expectation are the case's texts.
	Description string `json:"description"`
	Expectation string `json:"expectation"`
	// Agent names the implementation under test.
	Agent string `json:"agent"`
	// Started is when the case began (RFC 3339, UTC).
	Started string `json:"started"`
	// Duration is how long the case ran, in milliseconds.
	Duration int64 `json:"duration"`
	// ReportTime marks performance cases, whose duration matters.
	ReportTime bool `json:"reportTime"`
	// Behavior and BehaviorClose are the verdicts; Result and ResultClose
	// say why.
	Behavior      string `json:"behavior"`
	BehaviorClose string `json:"behaviorClose"`
	Result        string `json:"result"`
	ResultClose   string `json:"resultClose"`
	// Expected maps each acceptable behaviour to its list of events;
	// Received is what was observed. Events are [kind, payload, binary].
	Expected map[string][][]any `json:"expected"`
	Received [][]any            `json:"received"`
	// ExpectedClose says how the connection should have ended.
	ExpectedClose map[string]any `json:"expectedClose"`
	// Wirelog lists octets and frames both ways, in order: TO/RO (octets
	// sent/received), TF/RF (frames), and timer marks (KL, CT, TI, ...).
	Wirelog []any `json:"wirelog"`
	// CreateWirelog is false when logging was off at the end.
	CreateWirelog bool `json:"createWirelog"`
	// Close facts.
	ClosedByMe                     bool    `json:"closedByMe"`
	FailedByMe                     bool    `json:"failedByMe"`
	DroppedByMe                    bool    `json:"droppedByMe"`
	WasClean                       bool    `json:"wasClean"`
	WasNotCleanReason              *string `json:"wasNotCleanReason"`
	WasServerConnectionDropTimeout bool    `json:"wasServerConnectionDropTimeout"`
	WasOpenHandshakeTimeout        bool    `json:"wasOpenHandshakeTimeout"`
	WasCloseHandshakeTimeout       bool    `json:"wasCloseHandshakeTimeout"`
	LocalCloseCode                 *int    `json:"localCloseCode"`
	LocalCloseReason               *string `json:"localCloseReason"`
	RemoteCloseCode                *int    `json:"remoteCloseCode"`
	RemoteCloseReason              *string `json:"remoteCloseReason"`
	// IsServer is true when the suite played the server.
	IsServer bool `json:"isServer"`
	// RxFrameStats and TxFrameStats count frames by opcode.
	RxFrameStats map[string]int `json:"rxFrameStats"`
	TxFrameStats map[string]int `json:"txFrameStats"`
	// RxOctetStats and TxOctetStats count the reads and the writes of
	// the connection by size in octets, the opening handshake included.
	RxOctetStats map[string]int `json:"rxOctetStats"`
	TxOctetStats map[string]int `json:"txOctetStats"`
	// HTTPRequest and HTTPResponse are the opening handshake.
	HTTPRequest  string `json:"httpRequest"`
	HTTPResponse string `json:"httpResponse"`
	// ReportFile is the name of this report next to index.json.
	ReportFile string `json:"-"`
}

// maxEventLog is how many payload bytes a report keeps per event.
const maxEventLog = 128

func eventJSON(e event) []any {
	var p string
	b := e.Data
	cut := b[:min(len(b), maxEventLog)]
	if e.Kind == "timeout" || (!e.Binary && utf8.Valid(b)) {
		p = string(cut)
	} else {
		p = "0x" + hex.EncodeToString(cut)
	}
	if len(b) > maxEventLog {
		p += " ..."
	}
	if e.Kind == "message" {
		return []any{e.Kind, p, e.Binary}
	}
	return []any{e.Kind, p}
}

func strPtr(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func stats(m map[int]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[strconv.Itoa(k)] = v
	}
	return out
}

// addOctets counts one transfer of n octets (none when n is 0).
func addOctets(m map[string]int, n int) {
	if n > 0 {
		m[strconv.Itoa(n)]++
	}
}

// toResult turns a finished run into its report record.
func (r *run) toResult(index int, agent string) *Result {
	res := &Result{
		Case:                           index,
		ID:                             r.c.ID,
		Description:                    r.c.Description,
		Expectation:                    r.c.Expectation,
		Agent:                          agent,
		Started:                        r.started.Format("2006-01-02T15:04:05.000Z"),
		ReportTime:                     r.c.reportTime,
		Behavior:                       r.behavior,
		BehaviorClose:                  r.behaviorClose,
		Result:                         r.result,
		ResultClose:                    r.resultClose,
		Expected:                       map[string][][]any{},
		Received:                       [][]any{},
		Wirelog:                        r.wirelog,
		CreateWirelog:                  r.createWirelog,
		ClosedByMe:                     r.closedByMe,
		FailedByMe:                     r.failedByMe,
		DroppedByMe:                    r.droppedByMe,
		WasClean:                       r.wasClean,
		WasServerConnectionDropTimeout: r.wasServerConnectionDropTimeout,
		WasOpenHandshakeTimeout:        r.wasOpenHandshakeTimeout,
		WasCloseHandshakeTimeout:       r.wasCloseHandshakeTimeout,
		LocalCloseCode:                 r.localCloseCode,
		LocalCloseReason:               strPtr(r.localCloseReason),
		RemoteCloseCode:                r.remoteCloseCode,
		RemoteCloseReason:              r.remoteCloseReason,
		IsServer:                       r.isServer,
		RxFrameStats:                   stats(r.rxFrames),
		TxFrameStats:                   stats(r.txFrames),
		RxOctetStats:                   stats(r.rxOctets),
		TxOctetStats:                   stats(r.txOctets),
		HTTPRequest:                    r.httpRequest,
		HTTPResponse:                   r.httpResponse,
	}
	for n, k := range r.wq.written() {
		res.TxOctetStats[strconv.Itoa(n)] += k
	}
	// The opening handshake's octets: what the suite wrote, and the head
	// of what it read (any frame octets read along with it are counted
	// by the receive side).
	if r.isServer {
		addOctets(res.RxOctetStats, len(r.httpRequest))
		addOctets(res.TxOctetStats, len(r.httpResponse))
	} else {
		addOctets(res.TxOctetStats, len(r.httpRequest))
		addOctets(res.RxOctetStats, len(r.httpResponse))
	}
	if !r.start.IsZero() && !r.end.IsZero() {
		res.Duration = r.end.Sub(r.start).Milliseconds()
	}
	if r.wasNotCleanReason != "" && !r.wasClean {
		s := r.wasNotCleanReason
		res.WasNotCleanReason = &s
	}
	for _, o := range r.expected {
		evs := [][]any{}
		for _, e := range o.Events {
			evs = append(evs, eventJSON(e))
		}
		res.Expected[o.Behavior] = evs
	}
	for _, e := range r.received {
		res.Received = append(res.Received, eventJSON(e))
	}
	ec := map[string]any{
		"closedByMe":   r.expClose.ClosedByMe,
		"closeCode":    r.expClose.CloseCodes,
		"requireClean": r.expClose.RequireClean,
	}
	if r.expClose.WrongEndpointFatal {
		ec["closedByWrongEndpointIsFatal"] = true
	}
	res.ExpectedClose = ec
	if res.Wirelog == nil {
		res.Wirelog = []any{}
	}
	return res
}
