package labserver

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// CountingListener wraps ln so that the lab can count the bytes of each
// connection exactly (what TCP carried, headers included); set the
// http.Server's ConnContext to ConnContext too:
//
//	hs := &http.Server{Handler: mux, ConnContext: labserver.ConnContext}
//	hs.Serve(labserver.CountingListener(ln))
//
// Without it the lab estimates the bytes from the requests and responses
// as net/http presents them, and says so. Counting costs two atomic adds
// per read or write; the connections lose the kernel's sendfile and splice
// shortcuts, which the examples do not use.
func CountingListener(ln net.Listener) net.Listener { return countingListener{ln} }

type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c}, nil
}

type connKey struct{}

// ConnContext is an http.Server ConnContext function that makes the
// connections of a CountingListener known to the lab's handlers. It looks
// under TLS too (then the bytes counted are TLS records).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	for range 4 {
		if cc, ok := c.(*countConn); ok {
			return context.WithValue(ctx, connKey{}, cc)
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return ctx
}

func countingConnFrom(ctx context.Context) *countConn {
	cc, _ := ctx.Value(connKey{}).(*countConn)
	return cc
}

// countConn counts the bytes read and written on a connection, and
// attributes them to measurement runs request by request. HTTP/1.1 serves
// one request at a time on a connection: the bytes read by the time a
// handler starts are the request's head (up to the previous snapshot),
// the bytes written since the previous handler started are the previous
// response; so each handler's start and end take a snapshot and credit
// the difference to the run that owns it.
type countConn struct {
	net.Conn
	r, w atomic.Int64

	mu           sync.Mutex
	lastR, lastW int64
	owner        *run // the run of the request served last, or nil
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.Add(int64(n))
	return n, err
}

// Write counts p before it goes out: a client that has received it may ask
// for the result at once, on another connection.
func (c *countConn) Write(p []byte) (int, error) {
	c.w.Add(int64(len(p)))
	n, err := c.Conn.Write(p)
	c.w.Add(int64(n - len(p)))
	return n, err
}

// begin is called as a handler starts serving a request of rn (nil: of no
// run).
func (c *countConn) begin(rn *run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, w := c.r.Load(), c.w.Load()
	if c.owner != nil {
		c.owner.addBytes(0, w-c.lastW, "socket")
	}
	if rn != nil {
		rn.addBytes(r-c.lastR, 0, "socket")
		rn.addConn(c)
	}
	c.owner = rn
	c.lastR, c.lastW = r, w
}

// end is called as a handler returns; the bytes since begin are its run's.
func (c *countConn) end() { c.settle(nil) }

// settle credits the bytes since the last snapshot to the connection's
// run, if that is rn (or, for rn nil, whichever run it is).
func (c *countConn) settle(rn *run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == nil || rn != nil && c.owner != rn {
		return
	}
	r, w := c.r.Load(), c.w.Load()
	c.owner.addBytes(r-c.lastR, w-c.lastW, "socket")
	c.lastR, c.lastW = r, w
}

// requestHeadSize is the size of r's head on the wire as net/http parsed
// it: the request line, the header fields ("Name: value\r\n"; net/http
// keeps their lengths, not their spelling), and the blank line.
func requestHeadSize(r *http.Request) int64 {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return int64(n + 2)
}

// estimateWriter estimates what a response costs on the wire when the
// connection is not counted: the status line, the header fields net/http
// writes (those set, plus Date and either Content-Length or chunked
// transfer coding), the body and its chunk framing. A streamed (flushed)
// response is credited to the run as it goes.
type estimateWriter struct {
	http.ResponseWriter
	rn       *run
	status   int     // 0 until the head is decided; -1 once hijacked
	head     []int64 // sizes of the header fields set when the head went out
	credited bool    // the head has been credited (chunked responses)
	chunked  bool
	pending  int64 // body bytes since the last flush
	body     int64
}

// dateLine is "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n".
const dateLine = 37

func (e *estimateWriter) WriteHeader(code int) {
	if e.status == 0 {
		e.status = code
		for k, vs := range e.Header() {
			for _, v := range vs {
				e.head = append(e.head, int64(len(k)+2+len(v)+2))
			}
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *estimateWriter) Write(p []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	n, err := e.ResponseWriter.Write(p)
	e.body += int64(n)
	e.pending += int64(n)
	return n, err
}

// Flush sends what is buffered: a response without a Content-Length is
// chunked from then on, each flush one chunk.
func (e *estimateWriter) Flush() {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if !e.chunked && e.status > 0 && e.Header().Get("Content-Length") == "" {
		e.chunked = true
	}
	e.creditChunk()
	http.NewResponseController(e.ResponseWriter).Flush()
}

// headSize is the estimated size of the response head.
func (e *estimateWriter) headSize() int64 {
	n := int64(len("HTTP/1.1 ") + 3 + 1 + len(http.StatusText(e.status)) + 2 + dateLine + 2)
	for _, h := range e.head {
		n += h
	}
	return n
}

// creditChunk credits the head (once) and the chunk of the pending bytes
// of a chunked response.
func (e *estimateWriter) creditChunk() {
	if !e.chunked {
		return
	}
	var n int64
	if !e.credited {
		e.credited = true
		n += e.headSize() + int64(len("Transfer-Encoding: chunked\r\n"))
	}
	if e.pending > 0 {
		n += int64(len(strconv.FormatInt(e.pending, 16))+4) + e.pending // size CRLF data CRLF
		e.pending = 0
	}
	e.rn.addBytes(0, n, "estimate")
}

func (e *estimateWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// Hijack counts the hijacked connection's bytes exactly from then on.
func (e *estimateWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(e.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	hc := &hijackCounter{Conn: nc, rn: e.rn}
	e.status = -1 // nothing more to estimate: the connection is counted
	br := bufio.NewReader(hc)
	if brw != nil && brw.Reader != nil {
		br = brw.Reader
		e.rn.addBytes(int64(br.Buffered()), 0, "estimate")
	}
	return hc, bufio.NewReadWriter(br, bufio.NewWriter(hc)), nil
}

// finish credits the rest of the response to the run.
func (e *estimateWriter) finish() {
	switch {
	case e.status < 0:
		return
	case e.chunked:
		e.creditChunk()
		e.rn.addBytes(0, 5, "estimate") // the last chunk, "0\r\n\r\n"
		return
	case e.status == 0:
		e.status = http.StatusOK
	}
	n := e.headSize() + e.body
	if e.Header().Get("Content-Length") == "" {
		n += int64(len("Content-Length: ") + len(strconv.FormatInt(e.body, 10)) + 2)
	}
	e.rn.addBytes(0, n, "estimate")
}

// hijackCounter counts a hijacked connection's bytes for a run.
type hijackCounter struct {
	net.Conn
	rn *run
}

func (c *hijackCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rn.addBytes(int64(n), 0, "estimate")
	return n, err
}

func (c *hijackCounter) Write(p []byte) (int, error) {
	c.rn.addBytes(0, int64(len(p)), "estimate") // first: see countConn.Write
	n, err := c.Conn.Write(p)
	c.rn.addBytes(0, int64(n-len(p)), "estimate")
	return n, err
}
