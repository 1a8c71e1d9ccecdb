package conn

import (
	"context"
	"fmt"

	"github.com/ws6455/ws6455/wsframe"
)

// PreparedMessage is a message encoded once and sent to many connections,
// for broadcast. The server's frame (unmasked) is built when the message is
// prepared, and written to each server connection as it is, with no
// further encoding or copying. Client connections must mask with a fresh
// key per frame, so for them the message is encoded at each write.
type PreparedMessage struct {
	typ   MessageType
	data  []byte
	frame []byte // header + payload, unmasked (server role)
}

// NewPreparedMessage prepares data as one message of type typ. data must
// not be modified afterwards.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("conn: cannot prepare a message of type %v", typ)
	}
	h := wsframe.Header{Fin: true, Opcode: wsframe.Opcode(typ), Length: int64(len(data))}
	frame := make([]byte, 0, h.Size()+len(data))
	frame = wsframe.AppendHeader(frame, h)
	frame = append(frame, data...)
	return &PreparedMessage{typ: typ, data: data, frame: frame}, nil
}

// Type returns the message type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Data returns the message payload. It must not be modified.
func (pm *PreparedMessage) Data() []byte { return pm.data }

// WritePrepared sends a prepared message. Like Write, it is safe to call
// from many goroutines.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if c.client {
		return c.Write(ctx, pm.typ, pm.data)
	}
	if c.closeSent.Load() {
		return c.writeFailedErr()
	}
	if err := c.wr.msgMu.lock(ctx, c); err != nil {
		return c.writeLockErr(err)
	}
	defer c.wr.msgMu.unlock(c)
	return c.wr.writeEncoded(ctx, pm.frame, len(pm.frame)-len(pm.data))
}

// writeEncoded writes a frame that is already encoded (server role).
func (w *writer) writeEncoded(ctx context.Context, frame []byte, hdrLen int) error {
	if err := w.lockFrame(ctx, false); err != nil {
		return err
	}
	defer w.unlockFrame() // sends what coalescing holds, if it must
	c := w.c
	if err := c.beginIO(ctx, false); err != nil {
		c.endIO(false)
		return err // nothing was written
	}
	if c.opts.OnFrame != nil {
		h, _, _ := wsframe.ParseHeader(frame)
		c.opts.OnFrame(Outbound, h, frame[hdrLen:])
	}
	var err error
	if len(w.pending) > 0 {
		err = w.flushPending()
	}
	if err == nil {
		if c.writev {
			err = w.send(nil, frame)
		} else {
			err = w.writeChunk(frame)
		}
	}
	if err == nil && c.watch.Load() == nil {
		return nil
	}
	return w.endFrame(ctx, err)
}
