package suite

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/wsframe"
)

// echoServer is a small, deliberately strict WebSocket echo server built
// on wsframe only, used to exercise the suite's engine without the
// module's conn package. Its utf8 mode says how it checks text.
type echoServer struct {
	ln      net.Listener
	utf8    utf8Mode
	deflate bool
	wg      sync.WaitGroup
}

type utf8Mode int

const (
	// utf8FailFast fails at the first invalid byte (the RFC's preference).
	utf8FailFast utf8Mode = iota
	// utf8AtEnd checks whole messages, like gorilla's /m server.
	utf8AtEnd
	// utf8Never does not check at all, like coder/websocket.
	utf8Never
)

func startEcho(t testing.TB, mode utf8Mode, deflate bool) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, utf8: mode, deflate: deflate}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *echoServer) url() string { return "ws://" + s.ln.Addr().String() + "/echo" }

type echoConn struct {
	nc  net.Conn
	br  *bufio.Reader
	pmd *pmdConn
}

func (c *echoConn) write(op byte, rsv byte, p []byte) error {
	h := wsframe.Header{Fin: true, Rsv: rsv, Opcode: wsframe.Opcode(op), Length: int64(len(p))}
	b := wsframe.AppendHeader(nil, h)
	_, err := c.nc.Write(append(b, p...))
	return err
}

// fail sends a close frame with code, waits briefly for the client's
// close, and closes TCP.
func (c *echoConn) fail(code int) {
	c.write(8, 0, closePayload(code, nil))
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for range 1000 {
		h, err := wsframe.ReadHeader(c.br)
		if err != nil || h.Length > 1<<20 {
			return
		}
		if _, err := io.CopyN(io.Discard, c.br, h.Length); err != nil || h.Opcode == 8 {
			return
		}
	}
}

func (s *echoServer) serve(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	key, err := checkUpgrade(req)
	if err != nil {
		return
	}
	c := &echoConn{nc: nc, br: br}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	if s.deflate {
		if offers, _ := parseClientOffers(strings.Join(req.Header.Values("Sec-WebSocket-Extensions"), ",")); len(offers) > 0 {
			p, _ := acceptAsOffered(offers[0])
			c.pmd = newPMD(p, true)
			resp += "Sec-WebSocket-Extensions: " + p.header() + "\r\n"
		}
	}
	if _, err := nc.Write([]byte(resp + "\r\n")); err != nil {
		return
	}
	var (
		inMsg      bool
		msgOp      byte
		compressed bool
		msg        []byte
		v          wsframe.UTF8Validator
	)
	for {
		h, err := wsframe.ReadHeader(br)
		if err != nil {
			if errors.Is(err, wsframe.ErrLengthOverflow) {
				c.fail(1002)
			}
			return
		}
		op := byte(h.Opcode)
		if h.Length > 64<<20 {
			c.fail(1009)
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		switch {
		case !h.Masked,
			h.Rsv != 0 && !(c.pmd != nil && h.Rsv == 4 && op < 8 && op != 0),
			op > 2 && op < 8, op > 10,
			op >= 8 && (!h.Fin || h.Length > 125),
			op == 0 && !inMsg, (op == 1 || op == 2) && inMsg:
			if op == 8 {
				c.write(8, 0, closePayload(1002, nil))
				return
			}
			c.fail(1002)
			return
		}
		wsframe.Mask(h.Mask, 0, p)
		switch op {
		case 8:
			// The client started the closing handshake: answer and close
			// TCP at once, with 1002/1007 when its close frame is bad.
			switch {
			case len(p) == 1:
				c.write(8, 0, closePayload(1002, nil))
			case len(p) >= 2 && !closeCodeAllowed(int(binary.BigEndian.Uint16(p))):
				c.write(8, 0, closePayload(1002, nil))
			case len(p) >= 2 && s.utf8 != utf8Never && !utf8.Valid(p[2:]):
				c.write(8, 0, closePayload(1007, nil))
			case len(p) >= 2:
				c.write(8, 0, p[:2])
			default:
				c.write(8, 0, nil)
			}
			return
		case 9:
			c.write(10, 0, p)
			continue
		case 10:
			continue
		}
		if op != 0 {
			inMsg, msgOp, msg, compressed = true, op, nil, h.Rsv == 4
			v.Reset()
		}
		if !compressed && msgOp == 1 && s.utf8 == utf8FailFast {
			if _, err := v.Write(p); err != nil {
				c.fail(1007)
				return
			}
		}
		msg = append(msg, p...)
		if !h.Fin {
			continue
		}
		inMsg = false
		rsv := byte(0)
		if compressed {
			c.pmd.startMessage()
			c.pmd.inflate(msg, maxMessage)
			if msg, err = c.pmd.endMessage(maxMessage); err != nil {
				c.fail(1007)
				return
			}
			if msgOp == 1 && s.utf8 != utf8Never && !utf8.Valid(msg) {
				c.fail(1007)
				return
			}
		} else if msgOp == 1 && ((s.utf8 == utf8FailFast && !v.Complete()) || (s.utf8 == utf8AtEnd && !utf8.Valid(msg))) {
			c.fail(1007)
			return
		}
		if c.pmd != nil {
			msg = c.pmd.compress(msg)
			rsv = 4
		}
		if err := c.write(msgOp, rsv, bytes.Clone(msg)); err != nil {
			return
		}
	}
}
