package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// rawClient is the neutral load client of the pipelined cell: after the
// opening handshake it writes each message as one pre-encoded masked frame
// in one write call and parses the echoes itself, with no library on the
// data path. So what the cell measures is the server, not how a client
// library batches or schedules its writes and reads (a ws6455 client, with
// its own coalescing, moved the cell by 2× between runs).
type rawClient struct {
	nc    net.Conn
	br    *bufio.Reader
	frame []byte // header, mask and masked payload of the last message sent
	key   [4]byte
}

// dialRaw opens a WebSocket to addr with the handshake package and keeps
// the bare connection.
func dialRaw(addr string) (*rawClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	nc, br, _, _, err := handshake.Dial(ctx, "ws://"+addr+"/", &handshake.ClientOptions{
		Proxy: noProxy,
	})
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 64<<10)
	}
	return &rawClient{nc: nc, br: br, key: [4]byte{0x37, 0xfa, 0x21, 0x3d}}, nil
}

// send writes msg as one masked binary frame, in one write.
func (c *rawClient) send(ctx context.Context, msg []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(dl)
	}
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, Mask: c.key, Length: int64(len(msg))}
	c.frame = wsframe.AppendHeader(c.frame[:0], h)
	start := len(c.frame)
	c.frame = append(c.frame, msg...)
	wsframe.Mask(c.key, 0, c.frame[start:])
	_, err := c.nc.Write(c.frame)
	return err
}

// recv reads one unfragmented, unmasked binary frame of size bytes: the
// echo a server sends for each message of the cell.
func (c *rawClient) recv(ctx context.Context, buf []byte, size int) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetReadDeadline(dl)
	}
	h, err := wsframe.ReadHeader(c.br)
	if err != nil {
		return nil, err
	}
	if !h.Fin || h.Opcode != wsframe.OpBinary || h.Masked || h.Rsv != 0 || h.Length != int64(size) {
		return nil, fmt.Errorf("raw client: expected one unmasked binary frame of %d bytes, got %+v", size, h)
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	_, err = io.ReadFull(c.br, buf)
	return buf, err
}

// close sends a close frame (1000) and drops the connection.
func (c *rawClient) close() {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], 1000)
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: true, Mask: c.key, Length: 2}
	f := wsframe.AppendHeader(nil, h)
	start := len(f)
	f = append(f, p[:]...)
	wsframe.Mask(c.key, 0, f[start:])
	c.nc.Write(f)
	c.nc.Close()
}

// dialRawAll opens n raw clients one after the other.
func dialRawAll(addr string, n int) ([]echoClient, error) {
	out := make([]echoClient, 0, n)
	for range n {
		c, err := dialRaw(addr)
		if err != nil {
			closeClients(out)
			return nil, errors.Join(errors.New("raw client"), err)
		}
		out = append(out, c)
	}
	return out, nil
}
