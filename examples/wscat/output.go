package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// printer writes received messages on standard output, decorated ("<
// text") or raw (bodies only, for pipes).
type printer struct {
	w      io.Writer
	raw    bool
	binfmt string // raw output: raw, hex or base64
}

// message prints one received message.
func (p *printer) message(typ conn.MessageType, msg []byte) error {
	var b []byte
	switch {
	case !p.raw && typ == conn.MessageText:
		b = fmt.Appendf(nil, "< %s\n", msg)
	case !p.raw:
		b = fmt.Appendf(nil, "< binary %d bytes: %s\n", len(msg), hexPreview(msg))
	case typ == conn.MessageText:
		b = append(append(make([]byte, 0, len(msg)+1), msg...), '\n')
	case p.binfmt == "hex":
		b = append(hex.AppendEncode(nil, msg), '\n')
	case p.binfmt == "base64":
		b = append(base64.StdEncoding.AppendEncode(nil, msg), '\n')
	default: // raw bytes, as received
		b = msg
	}
	_, err := p.w.Write(b)
	return err
}

// formatFrame renders one frame for -trace: direction, FIN, RSV bits,
// opcode, mask key, length, and a bounded preview of the payload.
func formatFrame(dir conn.Direction, h wsframe.Header, p []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-3s fin=%d rsv=%03b op=%s mask=", dir, btoi(h.Fin), h.Rsv&7, h.Opcode)
	if h.Masked {
		b.WriteString(hex.EncodeToString(h.Mask[:]))
	} else {
		b.WriteString("-")
	}
	fmt.Fprintf(&b, " len=%d", h.Length)
	switch {
	case h.Length == 0:
	case p == nil:
		b.WriteString(" data=(streamed)")
	case h.Opcode == wsframe.OpClose:
		code, reason, err := wsframe.ParseClosePayload(p)
		if err != nil {
			fmt.Fprintf(&b, " close=invalid(%v) data=%s", err, hexPreview(p))
		} else {
			fmt.Fprintf(&b, " close=%d%s", uint16(code), reasonText(reason))
		}
	case h.Rsv&wsframe.RSV1 != 0:
		b.WriteString(" data=" + hexPreview(p) + " (compressed)")
	default:
		b.WriteString(" data=" + preview(p))
	}
	return b.String()
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func reasonText(reason string) string {
	if reason == "" {
		return ""
	}
	return " " + strconv.Quote(reason)
}

// preview shows p as quoted text when it is printable UTF-8, else as hex,
// cut at previewLen bytes.
func preview(p []byte) string {
	cut := p
	if len(cut) > previewLen {
		cut = cut[:previewLen]
		for i := 1; i < utf8.UTFMax && !utf8.Valid(cut); i++ {
			cut = cut[:len(cut)-1] // do not split a character
		}
	}
	if !printable(cut) {
		return hexPreview(p)
	}
	s := strconv.Quote(string(cut))
	if len(cut) < len(p) {
		s += fmt.Sprintf("… (+%d bytes)", len(p)-len(cut))
	}
	return s
}

func printable(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, r := range string(p) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// hexPreview shows p in hex, cut at previewLen bytes.
func hexPreview(p []byte) string {
	if len(p) <= previewLen {
		return "hex:" + hex.EncodeToString(p)
	}
	return fmt.Sprintf("hex:%s… (+%d bytes)", hex.EncodeToString(p[:previewLen]), len(p)-previewLen)
}
