package conn

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/wsframe"
)

// MessageType is the type of a data message: text (UTF-8) or binary.
type MessageType int

// The two data message types. Their values are the frame opcodes.
const (
	MessageText   MessageType = MessageType(wsframe.OpText)
	MessageBinary MessageType = MessageType(wsframe.OpBinary)
)

// String returns "text", "binary" or "MessageType(n)".
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// DefaultReadLimit is the largest message a Conn accepts unless SetReadLimit
// or the options say otherwise: 1 MiB. It bounds the memory a peer can make
// one connection hold; raise it for applications that need bigger messages.
const DefaultReadLimit = 1 << 20

// DefaultCloseTimeout bounds each wait of the close handshake when the
// options do not say otherwise.
const DefaultCloseTimeout = 5 * time.Second

// Direction says which way a frame travelled, for a FrameObserver.
type Direction uint8

// Frame directions.
const (
	Inbound  Direction = iota // received from the peer
	Outbound                  // sent to the peer
)

// String returns "in" or "out".
func (d Direction) String() string {
	if d == Inbound {
		return "in"
	}
	return "out"
}

// A FrameObserver is told about every frame a Conn sends or receives, for
// tracing and for studying the protocol. The header is as on the wire
// (Length is the payload length). payload is the unmasked payload when the
// whole frame is in memory at that moment (always for control frames and for
// sent frames; nil for received data frames, which are streamed). It must
// not be retained or modified, and the observer must not block: it runs on
// the reading or writing goroutine.
type FrameObserver func(dir Direction, h wsframe.Header, payload []byte)

// Options configures a Conn. The zero value is ready to use; AcceptOptions
// and DialOptions carry the same fields for the two usual ways to make one.
type Options struct {
	// ReadLimit is the largest message accepted, in bytes, counted over all
	// fragments (after decompression). 0 means DefaultReadLimit; negative
	// means no limit (not recommended).
	ReadLimit int64
	// CloseTimeout bounds each wait of the close handshake (for the peer's
	// close frame, then for the TCP close). 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// PingInterval, when positive, makes the Conn send a ping after this much
	// time without receiving anything. If neither the pong nor any other
	// byte arrives within PingTimeout (default: PingInterval) after that,
	// the connection is closed with 1001. Payload bytes count: a peer that
	// is slowly sending a large frame, behind which its pong has to wait,
	// is alive.
	// Keepalive needs a goroutine that reads (as every Conn does).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// OnFrame, when set, observes every frame. It costs nothing when nil.
	OnFrame FrameObserver

	// Deflate, when not nil, turns on permessage-deflate with the
	// parameters of the handshake's response (Accept and Dial set it from
	// the negotiation; set it yourself after a handshake of your own).
	Deflate *handshake.DeflateParams
	// CompressionLevel is the compress/flate level for compressed messages;
	// 0 means flate.BestSpeed.
	CompressionLevel int
	// CompressionThreshold: messages shorter than this many bytes are sent
	// uncompressed. 0 means DefaultCompressionThreshold.
	CompressionThreshold int
}

// settings are the options a Conn consults after New (the others are
// applied by New): fewer bytes in every Conn.
type settings struct {
	CloseTimeout time.Duration
	PingInterval time.Duration
	PingTimeout  time.Duration
	OnFrame      FrameObserver
}

// Conn is a WebSocket connection. It is created by Accept (server), Dial
// (client) or New (over a connection whose handshake is done).
//
// Writes (Write, Writer, Ping, Close) are safe to call from many goroutines:
// messages go out one at a time and frames are never interleaved. Reads
// (Read, ReadInto, Reader) must come from one goroutine at a time, and some
// goroutine must be reading for the Conn to answer pings, see pongs and
// complete a close handshake started by the peer.
type Conn struct {
	nc    net.Conn
	sub   string
	opts  settings
	limit atomic.Int64

	rd reader // read side state, used by the reading goroutine
	wr writer // write side state

	// readMu is held by whoever reads frames (the reading goroutine, or Close
	// when no goroutine reads). A waitLock, so that waits can be cancelled.
	readMu      waitLock
	readWaiters atomic.Int32 // reads waiting for readMu: Close hands over to them
	waiters     *waitQueue   // goroutines waiting for the waitLocks; made on first contention, under errMu

	// Close state. (The small fields sit together to keep the Conn small.)
	closeSent  atomic.Bool // a close frame was written
	closeOnce  sync.Once
	client     bool // the role: a client masks what it sends
	ended      bool // the Conn is finished; under errMu
	peerClosed bool // the peer's close frame arrived; under errMu
	writev     bool // the writer sends a frame with one system call (see writer.send)
	fragile    bool // a write that timed out fails the connection (TLS: see fragileWrites)
	// closed and closeRcvd are made on first use (see done and
	// closeRcvdChan), so that an idle connection holds neither: closed is
	// closed when the Conn is finished, closeRcvd when the peer's close
	// frame arrived.
	closed    chan struct{}
	closeRcvd chan struct{}
	// errMu guards err, ended, onCloseFn, the close channels and the ping
	// state: one mutex for the rarely used state, fewer bytes per Conn.
	errMu sync.Mutex
	err   error // first terminal error, returned by later calls

	onCloseFn func() // called once the connection has ended

	// closeOut is closed once the close frame that closeSent claimed has
	// been written (or its write failed), closeWritten says so; made on
	// first use, under errMu, like closed.
	closeOut     chan struct{}
	closeWritten bool

	pg       *pingState   // made by the first Ping or by keepalive; under errMu
	lastRead atomic.Int64 // unix nanos of the last bytes received, for keepalive

	// watch keeps contexts and the user's deadlines apart (see watch.go);
	// made on first use.
	watch atomic.Pointer[watches]
}

// New makes a Conn over nc, whose opening handshake has already been done.
// br, when not nil, holds bytes that were read from nc after the handshake
// (for example the hijacked reader of net/http); they are read first, and
// the reader is not used again once drained. client selects the role: a
// client masks what it sends and requires unmasked frames from the server.
// subprotocol is the negotiated subprotocol, reported by Subprotocol.
func New(nc net.Conn, br *bufio.Reader, client bool, subprotocol string, opts *Options) *Conn {
	c := &Conn{
		nc:     nc,
		client: client,
		sub:    subprotocol,
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	c.opts = settings{CloseTimeout: o.CloseTimeout, PingInterval: o.PingInterval, PingTimeout: o.PingTimeout, OnFrame: o.OnFrame}
	switch {
	case o.ReadLimit == 0:
		c.limit.Store(DefaultReadLimit)
	case o.ReadLimit < 0:
		c.limit.Store(0)
	default:
		c.limit.Store(o.ReadLimit)
	}
	if c.opts.CloseTimeout <= 0 {
		c.opts.CloseTimeout = DefaultCloseTimeout
	}
	c.rd.init(nc, br)
	c.wr.init(c)
	if p := o.Deflate; p != nil {
		cfg := newDeflateConfig(*p, client, o.CompressionLevel, o.CompressionThreshold)
		c.rd.inflate = &decompressor{takeover: cfg.readTakeover}
		c.wr.comp = &compressor{cfg: cfg}
	}
	if c.opts.PingInterval > 0 {
		c.startKeepalive()
	}
	return c
}

// Subprotocol returns the subprotocol chosen in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.sub }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the underlying connection. Reading from or writing to it
// directly corrupts the WebSocket stream; it is meant for inspection (for
// example TLS state) and for setting socket options.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetReadLimit sets the largest message accepted, in bytes, over all its
// fragments. A larger message fails the connection with 1009 (message too
// big) before its payload is read. n <= 0 removes the limit.
func (c *Conn) SetReadLimit(n int64) {
	if n < 0 {
		n = 0
	}
	c.limit.Store(n)
}

// Done returns a channel that is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done() }

// done returns the channel that is closed when the Conn has ended, making
// it on first use.
func (c *Conn) done() <-chan struct{} {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.doneLocked()
}

// doneLocked is done for a caller holding errMu.
func (c *Conn) doneLocked() <-chan struct{} { return lazyChan(&c.closed, c.ended) }

// lazyChan returns *ch, making it first if there is none yet: closed
// already when what it signals has happened. The caller holds the mutex
// that guards *ch and happened.
func lazyChan(ch *chan struct{}, happened bool) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
		if happened {
			close(*ch)
		}
	}
	return *ch
}

// isEnded reports whether the Conn has ended.
func (c *Conn) isEnded() bool {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.ended
}

// setErr records the first terminal error; it returns the recorded one.
func (c *Conn) setErr(err error) error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		c.err = err
	}
	return c.err
}

func (c *Conn) getErr() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// onClose registers f to run once the connection has ended (or at once if
// it already has). One callback per Conn: it is used by Group.
func (c *Conn) onClose(f func()) {
	c.errMu.Lock()
	if c.ended {
		c.errMu.Unlock()
		f()
		return
	}
	c.onCloseFn = f
	c.errMu.Unlock()
}
