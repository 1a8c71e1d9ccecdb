package suite

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/wsframe"
)

// Protocol states of a case connection, as in the real suite's engine.
const (
	stateConnecting = iota
	stateOpen
	stateClosing
	stateClosed
)

// maxMessage bounds what the suite buffers for one received message, so a
// peer cannot make it allocate without limit (group 9 needs 16 MiB).
const maxMessage = 64 << 20

// maxLogData is how many payload bytes a wire log entry keeps.
const maxLogData = 256

// Timeouts are the waits of the suite's protocol engine. The zero value
// of each field means the real suite's default.
type Timeouts struct {
	// Open bounds the opening handshake (default 5s).
	Open time.Duration
	// CloseHandshake is how long the suite waits for the peer's reply to
	// a close frame it sent (default 1s).
	CloseHandshake time.Duration
	// ServerDrop is how long the suite, as a client, waits for the server
	// to close TCP after the closing handshake (default 1s).
	ServerDrop time.Duration
	// Scale multiplies every wait for the peer: the cases' own deadlines
	// (fail or close the connection after N seconds), the close handshake
	// and the server drop timeouts. The real suite's values (Scale 1, the
	// default) suit a quiet machine; a loaded one (CI, -race) may need
	// more so that a slow but correct peer is not cut off. Waits that pace
	// the traffic a case sends are not scaled, and the wire log shows the
	// case's nominal values.
	Scale float64
	// Case bounds a whole case as a last resort: a case is cut off this
	// long after it starts or after the end of its own longest wait,
	// whichever is later (default 30s).
	Case time.Duration
	// FailByDrop is the real suite's protocol option of that name (it
	// lives here, with the other settings of the protocol engine): when
	// the suite fails a connection (the peer broke the protocol, or a
	// case's deadline passed) it drops TCP at once instead of starting a
	// closing handshake. Off by default, as in the real suite's fuzzing
	// modes.
	FailByDrop bool
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Scale <= 0 {
		t.Scale = 1
	}
	if t.Open <= 0 {
		t.Open = 5 * time.Second
	}
	if t.CloseHandshake <= 0 {
		t.CloseHandshake = time.Second
	}
	if t.ServerDrop <= 0 {
		t.ServerDrop = time.Second
	}
	t.CloseHandshake = t.scaled(t.CloseHandshake)
	t.ServerDrop = t.scaled(t.ServerDrop)
	return t
}

func (t Timeouts) scaled(d time.Duration) time.Duration {
	if t.Scale <= 0 {
		return d
	}
	return time.Duration(float64(d) * t.Scale)
}

// frameSpec is a frame a case sends, valid or not.
type frameSpec struct {
	op      byte
	payload []byte
	fin     bool
	rsv     byte
	// repeat, when > 0, sends payload repeated (and cut) to this length.
	repeat int
	// chop, when > 0, writes the frame in pieces of this many bytes.
	chop int
	// sync writes the frame with its own write call, not coalesced.
	sync bool
}

type readResult struct {
	data []byte
	err  error
}

// run is one case on one connection: the protocol engine (a single-goroutine
// event loop, like the real suite's reactor) plus the case's verdict state.
type run struct {
	c        *Case
	isServer bool
	nc       net.Conn
	to       Timeouts
	ctx      context.Context

	// verdict state
	expected      []outcome
	expClose      expectedClose
	received      []event
	behavior      string
	result        string
	behaviorClose string
	resultClose   string
	suppressClose bool
	// caseState is private state of the case's script.
	caseState any

	// connection facts
	state                          int
	closedByMe, failedByMe         bool
	droppedByMe, wasClean          bool
	wasNotCleanReason              string
	wasServerConnectionDropTimeout bool
	wasCloseHandshakeTimeout       bool
	wasOpenHandshakeTimeout        bool
	localCloseCode                 *int
	localCloseReason               []byte
	remoteCloseCode                *int
	remoteCloseReason              *string
	httpRequest, httpResponse      string
	// origin and protocols go into the client's opening handshake.
	origin    string
	protocols []string

	// wirelog is appended to by the event loop, and by the writer for
	// the queued writes it sends (logMu).
	wirelog       []any
	logMu         sync.Mutex
	createWirelog bool
	rxFrames      map[int]int
	txFrames      map[int]int
	// rxOctets and txOctets count reads and writes by size, as the real
	// suite's rxOctetStats and txOctetStats do, whether or not the wire
	// log is on: every read, and every write handed to the transport at
	// once (the writer counts the queued ones it writes, wq.written).
	rxOctets map[int]int
	txOctets map[int]int

	// receive side
	buf           []byte
	bufStore      []byte // reusable storage behind buf
	frame         *rxFrame
	inMsg         bool
	msgBinary     bool
	msgCompressed bool
	validateUTF8  bool
	utf8v         wsframe.UTF8Validator
	msg           []byte
	ctrl          []byte
	pmd           *pmdConn

	// event loop
	reads  chan readResult
	free   chan []byte
	events chan func()
	done   chan struct{}
	timers []*time.Timer
	// safety bounds the whole case; safetyAt is when it fires.
	safety   *time.Timer
	safetyAt time.Time
	chTmr    *time.Timer
	sdTmr    *time.Timer
	wq       *writeQueue
	lost     bool

	start, end time.Time
	started    time.Time
}

type rxFrame struct {
	h       wsframe.Header
	got     int64
	maskPos int
	logData []byte
}

func newRun(ctx context.Context, c *Case, nc net.Conn, isServer bool, to Timeouts) *run {
	r := &run{
		c:             c,
		isServer:      isServer,
		nc:            nc,
		to:            to.withDefaults(),
		ctx:           ctx,
		behavior:      report.Failed,
		result:        "The events received differ from every expected outcome.",
		behaviorClose: report.CloseFailed,
		resultClose:   "The TCP connection was dropped without a closing handshake.",
		suppressClose: c.suppressClose,
		createWirelog: true,
		rxFrames:      map[int]int{},
		txFrames:      map[int]int{},
		rxOctets:      map[int]int{},
		txOctets:      map[int]int{},
		reads:         make(chan readResult),
		free:          make(chan []byte, 2),
		events:        make(chan func()),
		done:          make(chan struct{}),
		started:       time.Now().UTC(),
	}
	r.wq = newWriteQueue(nc, r.done, func(b []byte, sync bool) { r.appendLog([]any{"TO", hexData(b), sync}) })
	return r
}

// expect adds an allowed outcome: receiving exactly events earns behavior.
func (r *run) expect(behavior string, events ...event) {
	r.expected = append(r.expected, outcome{Behavior: behavior, Events: events})
}

// expectCloseByMe: the suite starts a clean close with one of codes.
func (r *run) expectCloseByMe(codes ...int) {
	r.expClose = expectedClose{ClosedByMe: true, CloseCodes: codes, RequireClean: true}
}

// expectFail: the peer fails the connection with one of codes.
func (r *run) expectFail(codes ...int) {
	r.expClose = expectedClose{ClosedByMe: false, CloseCodes: codes}
}

// loop runs the case after the opening handshake: it calls the case's
// script and then serves reads, timers and cancellation until the
// connection is gone. leftover holds bytes read along with the handshake.
func (r *run) loop(leftover []byte) {
	go r.readLoop()
	r.state = stateOpen
	r.start = time.Now()
	limit := r.to.Case
	if limit <= 0 {
		limit = 30 * time.Second
	}
	r.safetyAt = time.Now().Add(limit)
	r.safety = time.NewTimer(limit)
	defer r.safety.Stop()
	r.c.open(r)
	if len(leftover) > 0 && !r.lost {
		r.onData(leftover)
	}
	for !r.lost {
		r.wq.endTurn()
		select {
		case rr := <-r.reads:
			if len(rr.data) > 0 {
				r.onData(rr.data)
			}
			r.recycle(rr.data)
			if rr.err != nil {
				r.connectionLost()
			}
		case f := <-r.events:
			f()
		case <-r.safety.C:
			r.wasNotCleanReason = "the case ran past its time limit"
			r.dropConnection(true)
		case <-r.ctx.Done():
			r.wasNotCleanReason = "the run was cancelled"
			r.dropConnection(true)
		}
	}
}

// finish stops every goroutine and timer of the run.
func (r *run) finish() {
	for _, t := range r.timers {
		t.Stop()
	}
	close(r.done)
	r.nc.Close()
	r.wq.wait()
}

// readBufSize is the size of the buffers the reader fills: 64 KiB, what
// the real suite's transport (Twisted) asks of each read.
const readBufSize = 64 << 10

// readLoop reads from the connection and hands what it read to the event
// loop. The event loop copies the octets it is given before it hands the
// buffer back on r.free, so two buffers serve the whole connection instead
// of a new one per read.
func (r *run) readLoop() {
	for {
		var b []byte
		select {
		case b = <-r.free:
		default:
			b = make([]byte, readBufSize)
		}
		n, err := r.nc.Read(b)
		if n > 0 || err != nil {
			select {
			case r.reads <- readResult{data: b[:n], err: err}:
			case <-r.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// recycle hands a buffer from the reader back once its octets are copied.
func (r *run) recycle(b []byte) {
	select {
	case r.free <- b[:cap(b)]:
	default:
	}
}

// later runs f on the event loop after d, unless the run is over.
func (r *run) later(d time.Duration, f func()) *time.Timer {
	t := time.AfterFunc(d, func() {
		select {
		case r.events <- f:
		case <-r.done:
		}
	})
	r.timers = append(r.timers, t)
	// Push the safety limit back so that a case's own long waits (groups
	// 9, 12, 13) are not cut short.
	grace := r.to.Case
	if grace <= 0 {
		grace = 30 * time.Second
	}
	if at := time.Now().Add(d + grace); r.safety != nil && at.After(r.safetyAt) {
		r.safetyAt = at
		r.safety.Reset(time.Until(at))
	}
	return t
}

func secs(d time.Duration) float64 { return d.Seconds() }

// killAfter fails the connection after d unless it is closed by then.
func (r *run) killAfter(d time.Duration) {
	r.mark("KL", secs(d))
	r.later(r.to.scaled(d), func() {
		if r.state != stateClosed {
			r.mark("KLE")
			r.failConnection(1001, "going away")
		}
	})
}

// closeAfter starts the closing handshake after d unless closed by then.
func (r *run) closeAfter(d time.Duration) {
	r.mark("TI", secs(d))
	r.later(r.to.scaled(d), func() {
		if r.state != stateClosed {
			r.mark("TIE")
			r.sendCloseFrame(nil, nil, false)
		}
	})
}

// continueLater runs f after d unless the connection is closed by then.
func (r *run) continueLater(d time.Duration, tag string, f func()) {
	var t any
	if tag != "" {
		t = tag
	}
	r.mark("CT", secs(d), t)
	r.later(d, func() {
		if r.state != stateClosed {
			r.mark("CTE", t)
			f()
		}
	})
}

func (r *run) log(entry ...any) {
	if r.createWirelog {
		r.appendLog(entry)
	}
}

// appendLog adds an entry to the wire log, from any goroutine.
func (r *run) appendLog(entry []any) {
	r.logMu.Lock()
	r.wirelog = append(r.wirelog, entry)
	r.logMu.Unlock()
}

// mark logs a timer entry; timer entries are kept even while the wire log
// is off, as in the real suite.
func (r *run) mark(entry ...any) {
	r.appendLog(entry)
}

// setWirelog switches wire logging (the performance cases turn it off);
// with announce the switch itself is logged.
func (r *run) setWirelog(on, announce bool) {
	if on != r.createWirelog {
		r.createWirelog = on
		if announce {
			r.appendLog([]any{"WLM", on})
		}
	}
}

// logData renders a payload for the wire log: as text when it is valid
// UTF-8, else as 0x-prefixed hex; long payloads are cut.
func logData(p []byte, limit int) []any {
	n := len(p)
	cut := p
	if len(cut) > limit {
		cut = cut[:limit]
	}
	var s string
	if utf8.Valid(p) {
		s = string(cut)
	} else {
		s = "0x" + hex.EncodeToString(cut)
	}
	if len(p) > limit {
		s += " ..."
	}
	return []any{n, s}
}

func hexData(p []byte) []any {
	s := hex.EncodeToString(p[:min(len(p), maxLogData)])
	if len(p) > maxLogData {
		s += " ..."
	}
	return []any{len(p), s}
}

// sendFrame encodes and sends one frame exactly as specified, masked when
// the suite is the client.
func (r *run) sendFrame(f frameSpec) {
	pl := f.payload
	if f.repeat > 0 && len(f.payload) > 0 {
		pl = make([]byte, f.repeat)
		for i := 0; i < f.repeat; i += len(f.payload) {
			copy(pl[i:], f.payload)
		}
	}
	h := wsframe.Header{Fin: f.fin, Rsv: f.rsv & 7, Opcode: wsframe.Opcode(f.op & 0xF), Length: int64(len(pl))}
	var maskHex any
	if !r.isServer {
		h.Masked = true
		binary.BigEndian.PutUint32(h.Mask[:], rand.Uint32())
		if r.createWirelog {
			maskHex = hex.EncodeToString(h.Mask[:])
		}
	}
	raw := wsframe.AppendHeader(make([]byte, 0, wsframe.MaxHeaderSize+len(pl)), h)
	start := len(raw)
	raw = append(raw, pl...)
	if h.Masked {
		wsframe.Mask(h.Mask, 0, raw[start:])
	}
	r.txFrames[int(f.op&0xF)]++
	// The log entry is built only when it is kept: the bulk cases send
	// thousands of frames with the wire log off.
	if r.createWirelog {
		var rep, chop any
		if f.repeat > 0 {
			rep = f.repeat
		}
		if f.chop > 0 {
			chop = f.chop
		}
		r.log("TF", logData(f.payload, maxLogData), int(f.op&0xF), f.fin, int(f.rsv&7), maskHex, rep, chop, f.sync)
	}
	r.sendData(raw, f.sync, f.chop)
}

// sendData queues octets for the writer the way the real suite's
// sendData does: chopped data goes out one chop per write call; other data
// is written at once (and coalesced with what else is written before the
// writer gets to it) unless it is sent "sync" or earlier chops or sync
// writes are still waiting, in which case it queues behind them and gets
// a write call of its own.
func (r *run) sendData(b []byte, sync bool, chop int) {
	if r.state == stateClosed {
		return
	}
	if chop > 0 {
		// As in the real suite, a chop that reaches the end ends the
		// loop, so no empty chop is written.
		for i := 0; i < len(b); i += chop {
			r.wq.push(b[i:min(i+chop, len(b))], true, r.createWirelog)
		}
		return
	}
	if !r.wq.push(b, sync, r.createWirelog) {
		// Handed to the transport at once: logged and counted now, as
		// the real suite logs and counts a transport write. Queued
		// pieces are logged and counted by the writer when (and if)
		// they are written.
		if r.createWirelog {
			r.log("TO", hexData(b), false)
		}
		r.txOctets[len(b)]++
	}
}

// sendMessage sends a whole message the way a normal endpoint does:
// compressed when permessage-deflate is in use, split into frames of
// fragment bytes when fragment > 0.
func (r *run) sendMessage(payload []byte, binary bool, fragment int) {
	if r.state != stateOpen {
		return
	}
	op := byte(1)
	if binary {
		op = 2
	}
	var rsv byte
	if r.pmd != nil {
		payload = r.pmd.compress(payload)
		rsv = 4
	}
	if fragment <= 0 || len(payload) <= fragment {
		r.sendFrame(frameSpec{op: op, payload: payload, fin: true, rsv: rsv})
		return
	}
	// The real suite's fragmentation loop ends only when a cut would run
	// past the end: a payload that is a multiple of fragment ends with an
	// empty continuation frame carrying FIN (4 MiB in 256-byte fragments
	// is 16385 frames, not 16384). Peers that limit the number of
	// fragments see the difference, so the suite keeps it.
	for i, done := 0, false; !done; i += fragment {
		end := i + fragment
		if end > len(payload) {
			done = true
			end = len(payload)
		}
		r.sendFrame(frameSpec{op: op, payload: payload[i:end], fin: done, rsv: rsv})
		op, rsv = 0, 0
	}
}

// sendClose starts the closing handshake with a code (nil: no code).
func (r *run) sendClose(code int) {
	r.sendCloseFrame(&code, nil, false)
}

// sendCloseFrame sends a close frame and moves to the closing state; it is
// a no-op unless the connection is open. It deliberately allows any code
// and reason bytes (the close cases send invalid ones).
func (r *run) sendCloseFrame(code *int, reason []byte, isReply bool) {
	if r.state != stateOpen {
		return
	}
	var p []byte
	if code != nil {
		p = binary.BigEndian.AppendUint16(p, uint16(*code))
	}
	p = append(p, reason...)
	r.sendCloseRaw(p, isReply)
}

// sendCloseRaw sends a close frame with exactly payload p (which may be
// malformed) and moves to the closing state.
func (r *run) sendCloseRaw(p []byte, isReply bool) {
	if r.state != stateOpen {
		return
	}
	r.sendFrame(frameSpec{op: 8, payload: p, fin: true})
	r.state = stateClosing
	r.closedByMe = !isReply
	if len(p) >= 2 {
		c := int(binary.BigEndian.Uint16(p))
		r.localCloseCode = &c
		if len(p) > 2 {
			r.localCloseReason = p[2:]
		}
	}
	if r.closedByMe {
		r.chTmr = r.later(r.to.CloseHandshake, r.onCloseHandshakeTimeout)
	}
}

func (r *run) onCloseHandshakeTimeout() {
	if r.state != stateClosed {
		r.wasClean = false
		r.wasNotCleanReason = "the peer did not answer our close frame in time"
		r.wasCloseHandshakeTimeout = true
		r.dropConnection(true)
	}
}

func (r *run) onServerDropTimeout() {
	if r.state != stateClosed {
		r.wasClean = false
		r.wasNotCleanReason = "the server did not close the TCP connection in time"
		r.wasServerConnectionDropTimeout = true
		r.dropConnection(true)
	}
}

// dropConnection closes TCP: at once (abort) or after the queued writes.
func (r *run) dropConnection(abort bool) {
	if r.state == stateClosed {
		return
	}
	r.droppedByMe = true
	r.state = stateClosed
	if abort {
		if tc, ok := r.nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		r.nc.Close()
		return
	}
	r.wq.closeWhenDrained()
}

// failConnection fails the WebSocket connection the way the real suite
// does (it does not just drop TCP): it starts a closing handshake with
// code, or drops TCP when a handshake is already under way.
func (r *run) failConnection(code int, reason string) {
	if r.state == stateClosed {
		return
	}
	r.failedByMe = true
	if r.to.FailByDrop {
		r.wasClean = false
		r.wasNotCleanReason = "the suite dropped the TCP connection: " + reason
		r.dropConnection(true)
		return
	}
	if r.state != stateClosing {
		r.sendCloseFrame(&code, truncateUTF8(reason, 123), false)
	} else {
		r.dropConnection(false)
	}
}

func truncateUTF8(s string, n int) []byte {
	b := []byte(s)
	for len(b) > n {
		_, size := utf8.DecodeLastRune(b)
		b = b[:len(b)-size]
	}
	return b
}

func (r *run) protocolViolation(reason string) bool {
	r.failConnection(1002, reason)
	return r.state == stateClosed
}

func (r *run) invalidPayload(reason string) bool {
	r.failConnection(1007, reason)
	return r.state == stateClosed
}

// connectionLost ends the run and computes the verdicts.
func (r *run) connectionLost() {
	r.lost = true
	r.end = time.Now()
	for _, t := range r.timers {
		t.Stop()
	}
	r.state = stateClosed
	if !r.wasClean && !r.droppedByMe && r.wasNotCleanReason == "" {
		r.wasNotCleanReason = "the peer dropped the TCP connection without a closing handshake"
	}
	r.evaluate()
	if r.c.lost != nil {
		r.c.lost(r)
	}
}

// evaluate applies the verdict rules to what happened.
func (r *run) evaluate() {
	v := judge(r.expected, r.received, r.expClose, closeFacts{
		ClosedByMe:      r.closedByMe,
		DroppedByMe:     r.droppedByMe,
		WasClean:        r.wasClean,
		IsServer:        r.isServer,
		RemoteCloseCode: r.remoteCloseCode,
	})
	if v.matched {
		r.behavior, r.result = v.behavior, v.result
	}
	if v.fatal {
		r.behavior = report.Failed
	}
	r.behaviorClose, r.resultClose = v.behaviorClose, v.resultClose
}

// onMessage hands a complete message to the case.
func (r *run) onMessage(data []byte, binary bool) {
	if r.c.message != nil {
		r.c.message(r, data, binary)
		return
	}
	r.received = append(r.received, msgEvent(data, binary))
	r.finishWhenDone()
}

func (r *run) onPong(p []byte) {
	r.received = append(r.received, pongEvent(p))
	r.finishWhenDone()
}

// finishWhenDone starts the closing handshake once the events received
// match every expected outcome (in practice: the only one), when the suite
// is the side meant to close.
func (r *run) finishWhenDone() {
	for _, o := range r.expected {
		if !eventsEqual(r.received, o.Events) {
			return
		}
	}
	if r.expClose.ClosedByMe && !r.suppressClose && len(r.expClose.CloseCodes) > 0 {
		r.sendClose(r.expClose.CloseCodes[0])
	}
}

// writeQueue is the connection's single writer: it writes queued chunks in
// order and never blocks the event loop. A chunk sent "sync" (and every
// chop) gets a write call of its own, so that it reaches the wire as a
// separate piece; runs of other chunks that are waiting together go out
// in one vectored write, as the real suite's transport buffers them (a
// message in 512 frames would otherwise cost 512 system calls).
type writeQueue struct {
	nc    net.Conn
	mu    sync.Mutex
	items []queued
	// waiting counts the queued items that get a write of their own.
	waiting int
	// turnAlone says such an item was queued during the event loop's
	// current turn: later items of the turn queue behind it even if the
	// writer already took it, as in the real suite, whose queue is
	// served only after the turn (so how fast our writer goroutine is
	// does not change what goes out together).
	turnAlone bool
	// sent counts those of them that were written, by size.
	sent   map[int]int
	drain  bool
	failed bool
	wake   chan struct{}
	done   <-chan struct{}
	exited chan struct{}
	// logTO adds a write's TO entry to the wire log.
	logTO func(b []byte, sync bool)
}

func newWriteQueue(nc net.Conn, done <-chan struct{}, logTO func([]byte, bool)) *writeQueue {
	q := &writeQueue{nc: nc, wake: make(chan struct{}, 1), done: done, exited: make(chan struct{}), logTO: logTO}
	go q.run()
	return q
}

// queued is one chunk waiting to be written.
type queued struct {
	b     []byte
	alone bool
	// For a write of its own: log says its TO entry goes into the wire
	// log when it is written (the wire log was on when it was queued),
	// with sync as the entry's flag (true for sync writes and chops).
	log, sync bool
}

// maxBatch bounds how many chunks one vectored write takes: Linux's limit
// on the buffers of one writev (IOV_MAX). The real suite's transport
// writes everything buffered during a turn with one send, so a message in
// 512 frames goes out in one system call, not eight.
const maxBatch = 1024

// push queues b; it reports whether b waits for a write of its own
// (alone, or behind others that do). Such a write is logged (if log) when
// it is written, as the real suite logs a queued write only when it sends
// it (and never, if the connection closed first).
func (q *writeQueue) push(b []byte, alone, log bool) bool {
	sync := alone
	q.mu.Lock()
	defer q.signal()
	defer q.mu.Unlock()
	if !q.failed {
		// Like the real suite's send queue: while a sync write or a
		// chop is still waiting, later writes queue behind it, each
		// with a write call of its own.
		if q.waiting > 0 || q.turnAlone {
			alone = true
		}
		if alone {
			q.waiting++
			q.turnAlone = true
		}
		q.items = append(q.items, queued{b: b, alone: alone, log: log && alone, sync: sync})
	}
	return alone
}

// endTurn marks the end of one turn of the event loop.
func (q *writeQueue) endTurn() {
	q.mu.Lock()
	q.turnAlone = false
	q.mu.Unlock()
}

// written returns the sizes of the queued pieces that were written, by
// size; call it once the writer is done.
func (q *writeQueue) written() map[int]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sent
}

func (q *writeQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// closeWhenDrained closes the connection once the octets handed to the
// transport are written. Like the real suite, which skips the writes still
// in its send queue once the connection is closed, it drops the chops and
// sync writes that are still waiting for their turn.
func (q *writeQueue) closeWhenDrained() {
	q.mu.Lock()
	q.drain = true
	for i, it := range q.items {
		if it.alone {
			clear(q.items[i:])
			q.items = q.items[:i]
			q.waiting = 0
			break
		}
	}
	q.mu.Unlock()
	q.signal()
}

// queuedWriteDelay is the pause after each write of its own while more are
// queued: the real suite writes one queued piece per turn of its event
// loop and schedules the next one 10 µs later, so that each piece gets onto
// the wire by itself and the peer's answers are read in between (a peer
// that fails the connection at the first bad octet sees the rest of a
// chopped frame arrive after its close frame, or not at all).
const queuedWriteDelay = 10 * time.Microsecond

// pause waits d by yielding the processor until d has passed: time.Sleep
// rounds waits this short up to the timer resolution of the machine (about
// a millisecond on a loaded Linux host), which would turn the 16384 chops
// of case 9.5.1 into 16 seconds instead of the real suite's half second.
func pause(d time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
		runtime.Gosched()
	}
}

func (q *writeQueue) wait() { <-q.exited }

func (q *writeQueue) run() {
	defer close(q.exited)
	var batch net.Buffers
	for {
		alone := false
		var first queued
		q.mu.Lock()
		batch = batch[:0]
		if len(q.items) > 0 {
			n := 1
			first = q.items[0]
			alone = first.alone
			if !alone {
				for n < len(q.items) && n < maxBatch && !q.items[n].alone {
					n++
				}
			}
			for i := range n {
				batch = append(batch, q.items[i].b)
				if q.items[i].alone {
					q.waiting--
				}
				q.items[i] = queued{}
			}
			q.items = q.items[n:]
		}
		drain := q.drain && len(batch) == 0
		q.mu.Unlock()
		if drain {
			q.nc.Close()
			return
		}
		if len(batch) == 0 {
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		var err error
		if len(batch) == 1 {
			if first.log && q.logTO != nil {
				// Logged before the write, so that an answer to it
				// cannot be logged ahead of it.
				q.logTO(batch[0], first.sync)
			}
			_, err = q.nc.Write(batch[0])
			if err == nil && alone {
				q.mu.Lock()
				more := len(q.items) > 0
				if q.sent == nil {
					q.sent = map[int]int{}
				}
				q.sent[len(batch[0])]++
				q.mu.Unlock()
				if more {
					pause(queuedWriteDelay)
				}
			}
		} else {
			bufs := batch // WriteTo consumes its receiver
			_, err = bufs.WriteTo(q.nc)
		}
		if err != nil {
			q.mu.Lock()
			q.failed = true
			q.items = nil
			q.waiting = 0
			q.mu.Unlock()
			if errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}
