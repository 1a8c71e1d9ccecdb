package conn

import "context"

// The buffers of ReadMessage (and of Read, which copies out of them) come
// from pools of arrays of 4, 8, 16, 32 and 64 KiB: a message's buffer starts at 4 KiB and doubles as the payload
// arrives (memory follows the bytes received, as for ReadInto), each array
// going back to its pool as the next one takes over. A message larger than
// 64 KiB grows on from there with ordinary allocations.
var (
	msgPool4  = newReservePool(reserveSize, func() *[4 << 10]byte { return new([4 << 10]byte) })
	msgPool8  = newReservePool(4, func() *[8 << 10]byte { return new([8 << 10]byte) })
	msgPool16 = newReservePool(4, func() *[16 << 10]byte { return new([16 << 10]byte) })
	msgPool32 = newReservePool(2, func() *[32 << 10]byte { return new([32 << 10]byte) })
	msgPool64 = newReservePool(2, func() *[64 << 10]byte { return new([64 << 10]byte) })
)

// A Message is a data message read by ReadMessage: its type and its
// payload, in a buffer that the Conn took from a pool.
type Message struct {
	Type    MessageType // text or binary
	Payload []byte      // the whole message; valid until Release
}

// ReadMessage waits for the next data message and returns it in a buffer
// taken from a pool once the message begins: a loop of ReadMessage and
// Release reads without allocating (messages up to 64 KiB) and without the
// caller managing a buffer, and a connection waiting for its next message
// holds none. (ReadInto holds its buffer between calls; Read allocates one
// per message.)
//
// Call Release once done with the payload, and do not use the payload
// after that. A Message that is not released costs nothing but the
// allocation the next one makes.
//
// The errors, and what a read cut short leaves behind, are those of
// ReadInto. (ReadMessage is inlined into its caller, so a goroutine that
// reads with it keeps the 2 KiB stack of one that reads with ReadInto.)
func (c *Conn) ReadMessage(ctx context.Context) (Message, error) {
	typ, buf, err := c.readInto(ctx, nil, readPooled)
	return Message{Type: typ, Payload: buf}, err
}

// Release gives the message's buffer back to the Conn's pool and sets
// Payload to nil. The payload must not be used after; releasing a copy of
// m as well would hand the same buffer to two readers, and so would
// releasing a Message made otherwise than by ReadMessage. It does nothing
// for a Message whose read failed.
func (m *Message) Release() {
	putPooled(m.Payload)
	m.Payload = nil
}

// growPooled moves a full buf into the next pooled array, twice its size
// (4 KiB for an empty one), and gives its array back; nil once buf is 64
// KiB or not pooled: growFor then grows it as it grows any buffer.
func growPooled(buf []byte) []byte {
	var b []byte
	switch cap(buf) {
	case 0:
		return msgPool4.Get()[:0]
	case 4 << 10:
		b = msgPool8.Get()[:0]
	case 8 << 10:
		b = msgPool16.Get()[:0]
	case 16 << 10:
		b = msgPool32.Get()[:0]
	case 32 << 10:
		b = msgPool64.Get()[:0]
	default:
		return nil
	}
	b = append(b, buf...)
	putPooled(buf)
	return b
}

// copyOut returns a new slice holding buf, which it gives back to its
// pool (Read). (Not inlined: see growFor.)
//
//go:noinline
func copyOut(buf []byte) []byte {
	out := make([]byte, len(buf))
	copy(out, buf)
	putPooled(buf)
	return out
}

// putPooled gives a buffer of growPooled back to its pool. A buffer of
// another size (a message over 64 KiB) is left to the garbage collector.
func putPooled(buf []byte) {
	switch cap(buf) {
	case 4 << 10:
		msgPool4.Put((*[4 << 10]byte)(buf[:4<<10]))
	case 8 << 10:
		msgPool8.Put((*[8 << 10]byte)(buf[:8<<10]))
	case 16 << 10:
		msgPool16.Put((*[16 << 10]byte)(buf[:16<<10]))
	case 32 << 10:
		msgPool32.Put((*[32 << 10]byte)(buf[:32<<10]))
	case 64 << 10:
		msgPool64.Put((*[64 << 10]byte)(buf[:64<<10]))
	}
}
