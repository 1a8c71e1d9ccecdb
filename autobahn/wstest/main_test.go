package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/autobahn/report"
	"github.com/ws6455/ws6455/wsframe"
)

// miniEcho is the smallest server that passes 1.1.1 and 2.1: it echoes
// one text frame, answers pings and completes the closing handshake.
func miniEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
					base64.StdEncoding.EncodeToString(h[:])+"\r\n\r\n")
				for {
					fh, err := wsframe.ReadHeader(br)
					if err != nil || fh.Length > 1<<20 {
						return
					}
					p := make([]byte, fh.Length)
					if _, err := io.ReadFull(br, p); err != nil {
						return
					}
					wsframe.Mask(fh.Mask, 0, p)
					op := fh.Opcode
					if op == wsframe.OpPing {
						op = wsframe.OpPong
					}
					out := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: op, Length: int64(len(p))})
					nc.Write(append(out, p...))
					if op == wsframe.OpClose {
						return
					}
				}
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

func TestFuzzingClientMode(t *testing.T) {
	url := miniEcho(t)
	dir := t.TempDir()
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", url, "-agent", "mini", "-cases", "1.1.1,2.1", "-parallel", "1", "-out", dir}, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stderr.String(), "2/2 cases")
	idx, err := report.ReadIndex(filepath.Join(dir, "index.json"))
	require.NoError(t, err)
	require.Equal(t, report.OK, idx["mini"]["1.1.1"].Behavior)
	require.Equal(t, report.OK, idx["mini"]["2.1"].Behavior)
	_, err = os.Stat(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
}

func TestFuzzingServerMode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	go func() {
		done <- run(ctx, []string{"-mode", "fuzzingserver", "-addr", addr, "-cases", "1.1.*", "-out", t.TempDir()}, &stderr)
	}()
	// Wait until it listens (bounded), then stop it.
	var ok bool
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			ok = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.True(t, ok, "server did not start")
	resp, err := http.Get("http://" + addr + "/getCaseCount")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	cancel()
	require.NoError(t, <-done)
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "nonsense"},
		{"-cases", "8.*"},
		{"-url", "http://127.0.0.1:1"},
		{"-bogus"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, &stderr)
		require.Error(t, err, strings.Join(args, " "))
	}
}
