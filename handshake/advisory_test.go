package handshake

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Published handshake attacks on other WebSocket servers, replayed over a
// loopback TCP connection against UpgradeConn (the server without
// net/http). SECURITY.md has the table; conn/advisory_test.go replays the
// same inputs through net/http and conn.Accept.

// advUpgradeConn serves one connection on 127.0.0.1 with UpgradeConn and
// opts, sends raw from a client, and returns what the client read until the
// server closed, and UpgradeConn's result.
func advUpgradeConn(t *testing.T, raw string, opts *ServerOptions) (string, Result, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- outcome{err: err}
			return
		}
		defer c.Close()
		res, err := UpgradeConn(c, bufio.NewReader(c), opts)
		done <- outcome{res, err}
		// Half-close and drain what the client still sends, as a server
		// should after refusing a request it did not read to the end:
		// closing with unread bytes would reset the connection, and the
		// client might lose the answer.
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
	}()
	cli, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer cli.Close()
	cli.SetDeadline(time.Now().Add(20 * time.Second))
	go io.WriteString(cli, raw) // the server may answer before it read it all
	var got strings.Builder
	buf := make([]byte, 4096)
	for got.Len() < 1<<16 {
		n, err := cli.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
		if strings.HasPrefix(got.String(), "HTTP/1.1 101") && strings.Contains(got.String(), "\r\n\r\n") {
			break // an upgraded connection stays open
		}
	}
	cli.Close()
	o := <-done
	return got.String(), o.res, o.err
}

// ws (Node) CVE-2024-37890, GHSA-3h5v-q93c-6h6q: 2000 header fields (the
// advisory's proof of concept: two-character names from the token
// alphabet) crashed the server. UpgradeConn stops at 128 fields with 400.
func TestAdvisoryManyHeadersUpgradeConn(t *testing.T) {
	const alphabet = "!#$%&'*+-.0123456789abcdefghijklmnopqrstuvwxyz^_`|~"
	var extra strings.Builder
	n := 0
	for i := 0; i < len(alphabet) && n < 2000; i++ {
		for j := 0; j < len(alphabet) && n < 2000; j++ {
			extra.WriteString(alphabet[i:i+1] + alphabet[j:j+1] + ": x\r\n")
			n++
		}
	}
	got, _, err := advUpgradeConn(t, edit("\r\n\r\n", "\r\n"+extra.String()+"\r\n"), nil)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(400, "too many request headers"), got)
}

// tungstenite CVE-2023-43669, GHSA-9mcr-873m-xcxp: a header line of
// millions of bytes was parsed again and again as it arrived (minutes of
// CPU). UpgradeConn reads each line once, and a line longer than its
// reader's buffer (4 KiB by default) is refused with 400 at once.
func TestAdvisoryHugeHeaderLineUpgradeConn(t *testing.T) {
	got, _, err := advUpgradeConn(t, edit("\r\n\r\n", "\r\nX-Long: "+strings.Repeat("a", 4<<20)+"\r\n\r\n"), nil)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(400, "request header too large"), got)
}

// ws (Node) CVE-2021-32640, GHSA-6fc8-4gx4-v693: a letter, thousands of
// spaces and a letter in Sec-WebSocket-Protocol hit a super-linear regular
// expression. UpgradeConn scans the list once: the element is not a token,
// nothing is chosen, the upgrade goes on without a subprotocol.
func TestAdvisorySubprotocolListUpgradeConn(t *testing.T) {
	req := edit("\r\n\r\n", "\r\nSec-WebSocket-Protocol: b"+strings.Repeat(" ", 4000)+"x\r\n\r\n")
	got, res, err := advUpgradeConn(t, req, &ServerOptions{Subprotocols: []string{"chat"}})
	require.NoError(t, err)
	assert.Equal(t, "", res.Subprotocol)
	assert.Equal(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+rfcAccept+"\r\n\r\n", got)
}

// websocket-extensions GHSA-g78m-2chm-r7qv: an unclosed quoted parameter
// value made of backslash pairs took exponential time to refuse. Here it
// is one pass and a 400.
func TestAdvisoryExtensionHeaderUpgradeConn(t *testing.T) {
	req := edit("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate; a=\""+strings.Repeat(`\c`, 1900)+"\r\n\r\n")
	accept := func(offers []Extension) ([]Extension, error) { return offers[:1], nil }
	got, _, err := advUpgradeConn(t, req, &ServerOptions{NegotiateExtensions: accept})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(400, reasonBadExtension), got)
}

// websocket-driver GHSA-xv26-6w52-cph6: the length encoding of the old
// draft-76 protocol let a peer build an integer past float precision. Only
// version 13 is spoken here: a draft-76 style request (no version, two
// Sec-WebSocket-Key1/2 headers) is answered 426 with the version we speak.
func TestAdvisoryOldProtocolUpgradeConn(t *testing.T) {
	req := "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n^n:ds[4U"
	got, _, err := advUpgradeConn(t, req, nil)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, refusal(426, reasonNoVersion), got)
}
