package wsframe_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ws6455/ws6455/wsframe"
)

// Encode the header of a masked text frame, as a client sends it.
func ExampleAppendHeader() {
	h := wsframe.Header{
		Fin:    true,
		Opcode: wsframe.OpText,
		Masked: true,
		Mask:   [4]byte{0x37, 0xfa, 0x21, 0x3d},
		Length: 5,
	}
	var buf [wsframe.MaxHeaderSize]byte
	b := wsframe.AppendHeader(buf[:0], h)
	fmt.Printf("% x (%d bytes)\n", b, h.Size())
	// Output: 81 85 37 fa 21 3d (6 bytes)
}

// Parse a header from bytes that arrive a few at a time: ErrShortHeader
// says how many bytes to wait for.
func ExampleParseHeader() {
	stream := []byte{0x82, 0x7e, 0x01, 0x00 /* 256-byte payload follows */}
	have := 1
	for {
		h, n, err := wsframe.ParseHeader(stream[:have])
		if errors.Is(err, wsframe.ErrShortHeader) {
			fmt.Printf("have %d, need %d\n", have, n)
			have = n
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%v fin=%v len=%d, header is %d bytes, check: %v\n",
			h.Opcode, h.Fin, h.Length, n, h.Check(1024))
		fmt.Println("over a 100-byte limit:", h.Check(100))
		return
	}
	// Output:
	// have 1, need 2
	// have 2, need 4
	// binary fin=true len=256, header is 4 bytes, check: <nil>
	// over a 100-byte limit: wsframe: message too big (close code 1009)
}

// Unmask a payload that arrives in two pieces.
func ExampleMask() {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	payload := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	pos := wsframe.Mask(key, 0, payload[:2])
	wsframe.Mask(key, pos, payload[2:])
	fmt.Printf("%s\n", payload)
	// Output: Hello
}

// Build and parse the payload of a close frame.
func ExampleAppendClosePayload() {
	p, err := wsframe.AppendClosePayload(nil, wsframe.CloseGoingAway, "restarting")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", p[:2])
	code, reason, err := wsframe.ParseClosePayload(p)
	fmt.Println(code, reason, err)

	_, _, err = wsframe.ParseClosePayload([]byte{0x03, 0xed}) // 1005 may not be sent
	var perr *wsframe.Error
	if errors.As(err, &perr) {
		fmt.Println("reply with", perr.Code, "-", perr.Reason)
	}
	// Output:
	// 03 e9
	// 1001 (going away) restarting <nil>
	// reply with 1002 (protocol error) - invalid close code
}

// Validate a text message fragment by fragment; the error comes at the
// first bad byte, not at the end of the message.
func ExampleUTF8Validator() {
	var v wsframe.UTF8Validator
	fragments := [][]byte{[]byte("caf\xc3"), []byte("\xa9 \xe2\x82"), []byte("\xac ok")}
	for _, f := range fragments {
		if _, err := v.Write(f); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("fragment ok, on a character boundary:", v.Complete())
	}
	fmt.Println("message:", v.Done())

	v.Reset()
	n, err := v.Write([]byte("bad \xed\xa0\x80 surrogate"))
	fmt.Println(n, err)
	// Output:
	// fragment ok, on a character boundary: false
	// fragment ok, on a character boundary: false
	// fragment ok, on a character boundary: true
	// message: <nil>
	// 5 wsframe: invalid UTF-8 in text (close code 1007)
}

// Write a masked frame in pieces and read it back.
func ExampleReader() {
	var conn bytes.Buffer
	fw := wsframe.NewWriter(&conn)
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 11}
	_ = fw.WriteHeader(h)
	_, _ = fw.Write([]byte("hello "))
	_, _ = fw.Write([]byte("world"))
	_ = fw.WriteFrame(wsframe.Header{Fin: true, Opcode: wsframe.OpPing}, []byte("?"))

	fr := wsframe.NewReader(&conn)
	for {
		h, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = h.Check(1 << 20)
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		payload, _ := io.ReadAll(fr)
		fmt.Printf("%v masked=%v %q\n", h.Opcode, h.Masked, payload)
	}
	// Output:
	// text masked=true "hello world"
	// ping masked=false "?"
}

// Stream a large payload as one frame without holding it in memory: the
// header announces the length, and Write calls supply it in pieces.
func ExampleWriter_WriteHeader() {
	var conn bytes.Buffer
	fw := wsframe.NewWriter(&conn)
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: 300}
	if err := fw.WriteHeader(h); err != nil {
		fmt.Println(err)
		return
	}
	chunk := make([]byte, 101)
	for _, n := range []int{100, 100, 101, 100} {
		if _, err := fw.Write(chunk[:n]); err != nil {
			fmt.Println(err, "- remaining:", fw.Remaining())
		}
	}
	fmt.Printf("% x ... (%d bytes)\n", conn.Bytes()[:4], conn.Len())
	// Output:
	// wsframe: write exceeds the frame's payload length - remaining: 100
	// 82 7e 01 2c ... (304 bytes)
}
