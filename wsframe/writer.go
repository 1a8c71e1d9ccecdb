package wsframe

import "io"

// writerBufSize is the size of the Writer's internal buffer: large enough
// that a masked payload is written in few system calls, small enough to
// keep idle connections cheap.
const writerBufSize = 4096

// Writer writes frames to an underlying io.Writer: whole frames with
// WriteFrame, or a header with WriteHeader followed by its payload in any
// number of Write calls, so that large payloads are streamed.
//
// When a header is masked, the payload is masked on its way through a
// small internal buffer; the caller's bytes are never modified. Small
// frames go to the underlying writer in a single Write call (header and
// payload together). Writer allocates its buffer once, on first use.
//
// A Writer is not safe for concurrent use. After an error from the
// underlying writer, every later call returns that error: a partly
// written frame cannot be repaired.
type Writer struct {
	w         io.Writer
	buf       []byte
	hdr       Header
	remaining int64 // payload bytes still owed for hdr
	pos       int   // masking key position of the next payload byte
	err       error
}

// NewWriter returns a Writer that writes frames to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Reset makes fw write frames to w, as a new Writer would, keeping its
// buffer, so that a Writer can be reused.
func (fw *Writer) Reset(w io.Writer) {
	*fw = Writer{w: w, buf: fw.buf[:0]}
}

// Remaining returns the number of payload bytes still owed for the frame
// started by WriteHeader.
func (fw *Writer) Remaining() int64 { return fw.remaining }

// WriteFrame writes one complete frame: h with h.Length set to
// len(payload), then the payload, masked with h.Mask if h.Masked (in a
// copy: payload is not modified). It does not judge h; see Header.Check.
func (fw *Writer) WriteFrame(h Header, payload []byte) error {
	h.Length = int64(len(payload))
	if err := fw.WriteHeader(h); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := fw.Write(payload)
	return err
}

// WriteHeader starts a frame whose payload of exactly h.Length bytes is
// then supplied by Write calls. The header is sent together with the
// first payload bytes (at once, if h.Length is 0). It returns
// ErrFrameIncomplete if the previous frame's payload is not complete, and
// ErrLengthOverflow for a negative h.Length. It does not judge h
// otherwise; see Header.Check.
func (fw *Writer) WriteHeader(h Header) error {
	if fw.err != nil {
		return fw.err
	}
	if fw.remaining > 0 {
		return ErrFrameIncomplete
	}
	if h.Length < 0 {
		return ErrLengthOverflow
	}
	if fw.buf == nil {
		fw.buf = make([]byte, 0, writerBufSize)
	}
	fw.hdr, fw.remaining, fw.pos = h, h.Length, 0
	fw.buf = AppendHeader(fw.buf[:0], h)
	if h.Length == 0 {
		return fw.flush()
	}
	return nil
}

// Write writes the next len(p) bytes of the current frame's payload,
// masking them if the header asks for it. Writing more than the header
// announced is ErrWriteTooLong, and nothing of p is written; writing
// without a frame in progress is ErrNoFrame. Every call hands its bytes to
// the underlying writer before it returns.
func (fw *Writer) Write(p []byte) (int, error) {
	if fw.err != nil {
		return 0, fw.err
	}
	if fw.remaining == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, ErrNoFrame
	}
	if int64(len(p)) > fw.remaining {
		return 0, ErrWriteTooLong
	}
	written := 0
	if !fw.hdr.Masked {
		if len(fw.buf)+len(p) <= cap(fw.buf) {
			// Small: one call for the pending header and the payload.
			fw.buf = append(fw.buf, p...)
			written = len(p)
		} else {
			if err := fw.flush(); err != nil {
				return 0, err
			}
			n, err := fw.w.Write(p)
			if err == nil && n < len(p) {
				err = io.ErrShortWrite
			}
			fw.remaining -= int64(n)
			if err != nil {
				fw.err = err
				return n, err
			}
			return n, nil
		}
	} else {
		for len(p) > 0 {
			if len(fw.buf) == cap(fw.buf) {
				if err := fw.flush(); err != nil {
					return written, err
				}
			}
			start := len(fw.buf)
			chunk := min(cap(fw.buf)-start, len(p))
			fw.buf = append(fw.buf, p[:chunk]...)
			fw.pos = Mask(fw.hdr.Mask, fw.pos, fw.buf[start:])
			p = p[chunk:]
			written += chunk
		}
	}
	// Bytes count as written once they are in the buffer; flushing here
	// keeps the promise that Write hands them on before returning.
	fw.remaining -= int64(written)
	if err := fw.flush(); err != nil {
		return 0, err
	}
	return written, nil
}

// flush writes the buffer to the underlying writer.
func (fw *Writer) flush() error {
	if len(fw.buf) == 0 {
		return nil
	}
	n, err := fw.w.Write(fw.buf)
	if err == nil && n < len(fw.buf) {
		err = io.ErrShortWrite
	}
	fw.buf = fw.buf[:0]
	if err != nil {
		fw.err = err
	}
	return err
}
