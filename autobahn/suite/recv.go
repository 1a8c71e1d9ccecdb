package suite

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ws6455/ws6455/wsframe"
)

// onData takes octets from the peer and processes every complete piece of
// frame in them, the way the real suite's engine does: headers are judged
// as soon as they arrive, payload is handled as it streams in (so invalid
// UTF-8 fails the connection at the first bad fragment), and processing
// goes on after a protocol error so that the peer's close reply is seen.
func (r *run) onData(b []byte) {
	r.rxOctets[len(b)]++
	if r.createWirelog {
		r.appendLog([]any{"RO", hexData(b)})
	}
	if r.state != stateOpen && r.state != stateClosing {
		return
	}
	// Everything taken from r.buf is copied out (message, control payload,
	// compressed input, log), so once it is used up its storage is reused
	// for the next octets instead of growing a new buffer per read.
	if len(r.buf) == 0 {
		r.buf = append(r.bufStore[:0], b...)
		r.bufStore = r.buf[:0]
	} else {
		r.buf = append(r.buf, b...)
	}
	for r.state != stateClosed && r.processData() {
	}
}

// processData handles one step; it reports whether to call it again.
func (r *run) processData() bool {
	if r.frame == nil {
		return r.processHeader()
	}
	f := r.frame
	rest := f.h.Length - f.got
	n := int64(len(r.buf))
	if n > rest {
		n = rest
	}
	data := r.buf[:n]
	r.buf = r.buf[n:]
	if f.h.Masked {
		f.maskPos = wsframe.Mask(f.h.Mask, f.maskPos, data)
	}
	f.got += n
	if r.createWirelog && len(f.logData) < maxLogData+1 {
		f.logData = append(f.logData, data[:min(len(data), maxLogData+1-len(f.logData))]...)
	}
	if !r.onFrameData(data) {
		return false
	}
	if f.got == f.h.Length {
		if !r.onFrameEnd() {
			return false
		}
	}
	return len(r.buf) > 0
}

func (r *run) processHeader() bool {
	if len(r.buf) < 2 {
		return false
	}
	h, n, err := wsframe.ParseHeader(r.buf)
	if errors.Is(err, wsframe.ErrShortHeader) {
		return false
	}
	if err != nil {
		// A length with the top bit set: nothing sensible can follow.
		r.protocolViolation("frame length above 2^63")
		r.dropConnection(true)
		return false
	}
	op := byte(h.Opcode)
	if h.Rsv != 0 && !(r.pmd != nil && h.Rsv == 4) {
		if r.protocolViolation(fmt.Sprintf("RSV = %d and no extension negotiated", h.Rsv)) {
			return false
		}
	}
	if r.isServer && !h.Masked {
		if r.protocolViolation("unmasked client-to-server frame") {
			return false
		}
	}
	if !r.isServer && h.Masked {
		if r.protocolViolation("masked server-to-client frame") {
			return false
		}
	}
	if op > 7 {
		if !h.Fin && r.protocolViolation("fragmented control frame") {
			return false
		}
		if h.Length > 125 && r.protocolViolation("control frame with payload longer than 125 octets") {
			return false
		}
		if op != 8 && op != 9 && op != 10 && r.protocolViolation(fmt.Sprintf("reserved control opcode %d", op)) {
			return false
		}
		if op == 8 && h.Length == 1 && r.protocolViolation("close frame with a 1-octet payload") {
			return false
		}
		if r.pmd != nil && h.Rsv == 4 && r.protocolViolation("compressed control frame") {
			return false
		}
	} else {
		if op > 2 && r.protocolViolation(fmt.Sprintf("reserved data opcode %d", op)) {
			return false
		}
		if !r.inMsg && op == 0 && r.protocolViolation("continuation frame outside a fragmented message") {
			return false
		}
		if r.inMsg && op != 0 && r.protocolViolation("new data frame inside a fragmented message") {
			return false
		}
		if r.pmd != nil && h.Rsv == 4 && r.inMsg && r.protocolViolation("continuation frame with the compression bit") {
			return false
		}
	}
	if lb := r.buf[1] & 0x7f; (lb == 126 && h.Length < 126) || (lb == 127 && h.Length < 65536) {
		if r.protocolViolation("frame length not in its shortest form") {
			return false
		}
	}
	r.buf = r.buf[n:]
	r.frame = &rxFrame{h: h}
	r.onFrameBegin()
	return h.Length == 0 || len(r.buf) > 0
}

func (r *run) onFrameBegin() {
	h := r.frame.h
	if h.Opcode > 7 {
		r.ctrl = r.ctrl[:0]
		return
	}
	if !r.inMsg {
		r.inMsg = true
		r.msgCompressed = r.pmd != nil && h.Rsv == 4
		if r.msgCompressed {
			r.pmd.startMessage()
		}
		r.msgBinary = h.Opcode == 2
		r.validateUTF8 = h.Opcode == 1
		r.utf8v.Reset()
		r.msg = nil
		if !r.msgCompressed && h.Fin && h.Length <= maxMessage {
			// An unfragmented message: its size is known, so grow the
			// buffer once (the length is checked against the limit
			// just below, and the peer must send what it declared
			// before the buffer fills up).
			r.msg = make([]byte, 0, min(h.Length, 1<<20))
		}
	}
	if !r.failedByMe && int64(len(r.msg))+h.Length > maxMessage && !r.msgCompressed {
		r.failConnection(1009, "message too big for the suite")
	}
}

// onFrameData handles a piece of payload; false stops processing.
func (r *run) onFrameData(p []byte) bool {
	if r.frame.h.Opcode > 7 {
		r.ctrl = append(r.ctrl, p...)
		return true
	}
	if r.msgCompressed {
		var err error
		p, err = r.pmd.inflate(p, maxMessage-len(r.msg))
		if err != nil {
			return !r.failPayload(1007, "cannot decompress message: "+err.Error())
		}
	}
	if r.validateUTF8 {
		if _, err := r.utf8v.Write(p); err != nil {
			if r.invalidPayload("invalid UTF-8 in text message") {
				return false
			}
		}
	}
	if !r.failedByMe {
		if len(r.msg)+len(p) > maxMessage {
			r.failConnection(1009, "message too big for the suite")
			return r.state != stateClosed
		}
		r.msg = append(r.msg, p...)
	}
	return true
}

func (r *run) failPayload(code int, reason string) bool {
	r.failConnection(code, reason)
	return r.state == stateClosed
}

func (r *run) logRxFrame() {
	f := r.frame
	r.rxFrames[int(f.h.Opcode)]++
	if !r.createWirelog {
		return
	}
	var mask any
	if f.h.Masked {
		mask = hex.EncodeToString(f.h.Mask[:])
	}
	d := logData(f.logData, maxLogData)
	d[0] = int(f.h.Length)
	r.appendLog([]any{"RF", d, int(f.h.Opcode), f.h.Fin, int(f.h.Rsv), f.h.Masked, mask})
}

// onFrameEnd finishes a frame; false stops processing.
func (r *run) onFrameEnd() bool {
	f := r.frame
	r.logRxFrame()
	if f.h.Opcode > 7 {
		r.frame = nil
		return r.processControl(f.h.Opcode)
	}
	if f.h.Fin {
		if r.msgCompressed && !r.failedByMe {
			p, err := r.pmd.endMessage(maxMessage - len(r.msg))
			if err != nil {
				if r.failPayload(1007, "cannot decompress message: "+err.Error()) {
					return false
				}
			} else {
				if r.validateUTF8 {
					if _, err := r.utf8v.Write(p); err != nil && r.invalidPayload("invalid UTF-8 in text message") {
						return false
					}
				}
				if len(r.msg) == 0 {
					r.msg = p // endMessage returns storage of its own
				} else {
					r.msg = append(r.msg, p...)
				}
			}
		}
		if r.validateUTF8 && !r.utf8v.Complete() {
			if r.invalidPayload("text message ends inside a UTF-8 sequence") {
				return false
			}
		}
		r.inMsg = false
		msg := r.msg
		r.msg = nil
		if !r.failedByMe {
			r.onMessage(msg, r.msgBinary)
		}
	}
	r.frame = nil
	return true
}

// closeCodeAllowed reports whether a peer may send code in a close frame.
func closeCodeAllowed(code int) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return false
}

func (r *run) processControl(op wsframe.Opcode) bool {
	p := append([]byte(nil), r.ctrl...)
	switch op {
	case 8:
		var code *int
		var reason []byte
		if len(p) > 1 {
			c := int(binary.BigEndian.Uint16(p))
			code = &c
			if len(p) > 2 {
				reason = p[2:]
			}
		}
		return !r.onCloseFrame(code, reason)
	case 9:
		if r.state == stateOpen {
			r.sendFrame(frameSpec{op: 10, payload: p, fin: true})
		}
	case 10:
		r.onPong(p)
	}
	return true
}

// onCloseFrame handles the peer's close frame; true stops processing.
func (r *run) onCloseFrame(code *int, reason []byte) bool {
	r.remoteCloseCode = nil
	r.remoteCloseReason = nil
	if code != nil && *code < 5000 && !(*code < 3000 && !closeCodeAllowed(*code)) {
		r.remoteCloseCode = code
	} else if code != nil {
		if r.protocolViolation(fmt.Sprintf("invalid close code %d", *code)) {
			return true
		}
		normal := 1000
		r.remoteCloseCode = &normal
	}
	if reason != nil {
		if !utf8.Valid(reason) {
			if r.invalidPayload("close reason is not valid UTF-8") {
				return true
			}
		} else {
			s := string(reason)
			r.remoteCloseReason = &s
		}
	}
	switch r.state {
	case stateClosing:
		if r.chTmr != nil {
			r.chTmr.Stop()
			r.chTmr = nil
		}
		r.wasClean = true
		if r.isServer {
			r.dropConnection(true)
		} else {
			r.sdTmr = r.later(r.to.ServerDrop, r.onServerDropTimeout)
		}
	case stateOpen:
		r.wasClean = true
		normal := 1000
		r.sendCloseFrame(&normal, nil, true)
		if r.isServer {
			r.dropConnection(false)
		}
	}
	return false
}
