package wsframe

import "io"

// Reader reads frames from an underlying io.Reader one at a time: Next
// returns a frame's header and Read streams its payload, unmasked, in
// whatever pieces the caller asks for. It never holds a whole frame, so
// a frame's size costs no memory; the caller decides (with Check and its
// own limit) whether a frame is acceptable before reading its payload.
//
// Reader does not buffer: it reads exactly the header bytes and then only
// the payload bytes the caller asks for, so it can sit on top of a
// bufio.Reader that a handshake has already used. When the underlying
// reader has Peek and Discard methods (as *bufio.Reader does), headers
// are parsed in place and skipped payload is discarded without copying.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r         io.Reader
	buf       [MaxHeaderSize]byte
	hdr       Header
	remaining int64 // payload bytes of hdr not yet read
	pos       int   // masking key position of the next payload byte
	err       error // sticky error of the underlying reader
}

// peekDiscarder is the part of *bufio.Reader that lets Reader parse
// headers without copying and skip payload without a scratch buffer.
type peekDiscarder interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
}

// NewReader returns a Reader that reads frames from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// Reset makes fr read frames from r, as a new Reader would, so that a
// Reader can be reused.
func (fr *Reader) Reset(r io.Reader) {
	*fr = Reader{r: r}
}

// Next skips whatever is left of the current frame's payload and reads the
// next frame header. It returns io.EOF if the stream ends cleanly before a
// header, io.ErrUnexpectedEOF if it ends inside a header or inside the
// skipped payload, and ErrLengthOverflow for a length with the top bit
// set. It does not apply Header.Check: what is acceptable depends on the
// caller's state and limits.
//
// After an error, every later call returns that error again: the frame
// stream is out of step and the connection must be failed.
func (fr *Reader) Next() (Header, error) {
	if fr.err != nil {
		return Header{}, fr.err
	}
	if fr.remaining > 0 {
		if err := fr.discard(fr.remaining); err != nil {
			return Header{}, fr.fail(err)
		}
	}
	fr.hdr, fr.remaining, fr.pos = Header{}, 0, 0
	var h Header
	var err error
	if pd, ok := fr.r.(peekDiscarder); ok {
		h, err = peekHeader(pd)
	} else {
		h, err = readHeader(fr.r, &fr.buf)
	}
	if err != nil {
		// After a length overflow the stream cannot be resynchronised
		// (the payload cannot be skipped), so every error is sticky. The
		// partly decoded header is returned for diagnostics.
		return h, fr.fail(err)
	}
	fr.hdr, fr.remaining = h, h.Length
	return h, nil
}

// peekHeader parses a header directly in the buffer of pd, peeking only
// as many bytes as the header needs.
func peekHeader(pd peekDiscarder) (Header, error) {
	need := 2
	// The needed size grows at most twice (2, then 4 to 14, then 14),
	// so three rounds suffice for any Peek that keeps its contract.
	for range 3 {
		b, err := pd.Peek(need)
		h, n, perr := ParseHeader(b)
		if perr == ErrShortHeader {
			if err != nil {
				if err == io.EOF && len(b) > 0 {
					err = io.ErrUnexpectedEOF
				}
				return Header{}, err
			}
			need = n
			continue
		}
		if _, err := pd.Discard(n); err != nil {
			return Header{}, err
		}
		return h, perr
	}
	return Header{}, io.ErrNoProgress
}

// discard skips n bytes of the underlying reader.
func (fr *Reader) discard(n int64) error {
	var err error
	if pd, ok := fr.r.(peekDiscarder); ok {
		for n > 0 && err == nil {
			chunk := int(min(n, 1<<30))
			var d int
			d, err = pd.Discard(chunk)
			n -= int64(d)
		}
	} else {
		var d int64
		d, err = io.CopyN(io.Discard, fr.r, n)
		n -= d
	}
	if n > 0 && (err == nil || err == io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if n == 0 {
		return nil
	}
	return err
}

// fail records err as sticky and returns it.
func (fr *Reader) fail(err error) error {
	fr.err = err
	fr.remaining = 0
	return err
}

// Header returns the header most recently returned by Next.
func (fr *Reader) Header() Header { return fr.hdr }

// Remaining returns the number of payload bytes of the current frame that
// have not been read yet.
func (fr *Reader) Remaining() int64 { return fr.remaining }

// Read reads up to len(p) bytes of the current frame's payload, unmasked.
// It returns io.EOF at the end of the payload (and before the first
// Next), and io.ErrUnexpectedEOF if the stream ends inside it.
func (fr *Reader) Read(p []byte) (int, error) {
	if fr.remaining == 0 {
		if fr.err != nil {
			return 0, fr.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > fr.remaining {
		p = p[:fr.remaining]
	}
	n, err := fr.r.Read(p)
	if n > 0 {
		if fr.hdr.Masked {
			fr.pos = Mask(fr.hdr.Mask, fr.pos, p[:n])
		}
		fr.remaining -= int64(n)
	}
	if err != nil {
		if err == io.EOF {
			if fr.remaining == 0 {
				// The payload is complete; the next Next will see
				// the end of the stream.
				return n, nil
			}
			err = io.ErrUnexpectedEOF
		}
		// The n bytes delivered are kept; the frame cannot go on.
		return n, fr.fail(err)
	}
	return n, nil
}
