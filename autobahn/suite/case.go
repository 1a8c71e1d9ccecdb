package suite

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/ws6455/ws6455/autobahn/report"
)

// A Case is one entry of the catalogue: its id (like "5.19"), what it does
// and what it expects, in this project's own words, and the script that
// drives the connection.
type Case struct {
	// ID is the case id of the real suite, like "6.4.1".
	ID string
	// Description says what traffic the case sends.
	Description string
	// Expectation says what a conforming peer does in reply.
	Expectation string

	// deflate, when set, makes the opening handshake offer (client role)
	// or accept (server role) permessage-deflate with these parameters.
	deflate *deflateSpec
	// open runs once the opening handshake is complete.
	open func(r *run)
	// message, when set, replaces the default recording of a message.
	message func(r *run, data []byte, binary bool)
	// lost, when set, adjusts the verdicts after the standard evaluation.
	lost func(r *run)
	// suppressClose stops the automatic close once the expected events
	// have arrived (cases that close in their own way).
	suppressClose bool
	// reportTime marks performance cases whose duration matters.
	reportTime bool
}

// event is one thing the suite observed on a connection and compares with
// the expected outcomes: a message, a pong, or a timeout marker a case
// records itself when a wait ends without the connection having failed.
type event struct {
	// Kind is "message", "pong" or "timeout".
	Kind string
	// Data is the message or pong payload, or the timeout's tag.
	Data []byte
	// Binary is set for binary messages.
	Binary bool
}

func (e event) equal(o event) bool {
	return e.Kind == o.Kind && e.Binary == o.Binary && bytes.Equal(e.Data, o.Data)
}

func eventsEqual(a, b []event) bool {
	return slices.EqualFunc(a, b, event.equal)
}

func msgEvent(data []byte, binary bool) event {
	return event{Kind: "message", Data: data, Binary: binary}
}

func textEvent(s string) event { return msgEvent([]byte(s), false) }

func pongEvent(p []byte) event { return event{Kind: "pong", Data: p} }

// outcome is one allowed list of events and the behaviour verdict it earns.
type outcome struct {
	Behavior string
	Events   []event
}

// expectedClose says how the connection should end.
type expectedClose struct {
	// ClosedByMe: the suite, not the peer, is meant to start the closing
	// handshake.
	ClosedByMe bool `json:"closedByMe"`
	// CloseCodes are the acceptable codes in the peer's close frame.
	CloseCodes []int `json:"closeCode"`
	// RequireClean demands a completed closing handshake.
	RequireClean bool `json:"requireClean"`
	// WrongEndpointFatal turns the behaviour verdict into FAILED when the
	// wrong side closed (the peer did not detect bad input at all).
	WrongEndpointFatal bool `json:"closedByWrongEndpointIsFatal,omitempty"`
}

var (
	catalogueOnce sync.Once
	catalogue     []*Case
	catalogueByID map[string]*Case
)

// Cases returns the whole catalogue in the real suite's order (by case id,
// numerically). The slice is shared: do not modify it.
func Cases() []*Case {
	catalogueOnce.Do(func() {
		var all []*Case
		for _, g := range groups {
			all = append(all, g()...)
		}
		slices.SortFunc(all, func(a, b *Case) int { return report.CompareCaseIDs(a.ID, b.ID) })
		catalogueByID = make(map[string]*Case, len(all))
		for _, c := range all {
			if _, dup := catalogueByID[c.ID]; dup {
				panic("suite: duplicate case id " + c.ID)
			}
			catalogueByID[c.ID] = c
		}
		catalogue = all
	})
	return catalogue
}

// groups lists the generators of each catalogue group.
var groups []func() []*Case

// Select returns the cases whose ids match one of the comma-separated
// include patterns and none of the exclude patterns, in catalogue order.
// A pattern is a case id with '*' matching any run of characters, as in
// the real suite's configuration ("1.*", "6.4.1", "9.*"). An empty include
// list selects every case. A pattern that matches nothing is an error, so
// that a typo does not silently run nothing.
func Select(include, exclude string) ([]*Case, error) {
	inc, err := splitPatterns(include)
	if err != nil {
		return nil, err
	}
	exc, err := splitPatterns(exclude)
	if err != nil {
		return nil, err
	}
	all := Cases()
	matched := func(pats []string, id string) (bool, []bool) {
		hits := make([]bool, len(pats))
		any := false
		for i, p := range pats {
			if ok, _ := path.Match(p, id); ok {
				hits[i] = true
				any = true
			}
		}
		return any, hits
	}
	used := make([]bool, len(inc))
	var out []*Case
	for _, c := range all {
		in := len(inc) == 0
		if len(inc) > 0 {
			var hits []bool
			in, hits = matched(inc, c.ID)
			for i, h := range hits {
				used[i] = used[i] || h
			}
		}
		if !in {
			continue
		}
		if ex, _ := matched(exc, c.ID); ex {
			continue
		}
		out = append(out, c)
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("suite: case pattern %q matches no case", inc[i])
		}
	}
	return out, nil
}

func splitPatterns(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		for _, r := range p {
			if !(r == '*' || r == '.' || (r >= '0' && r <= '9')) {
				return nil, fmt.Errorf("suite: bad case pattern %q: use digits, dots and *", p)
			}
		}
		// path.Match treats '*' as "anything but /", which is what we
		// want; '.' is literal there.
		out = append(out, p)
	}
	return out, nil
}

// caseByID returns the catalogue entry for id, or nil.
func caseByID(id string) *Case {
	Cases()
	return catalogueByID[id]
}
