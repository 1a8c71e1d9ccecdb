package wsframe

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callRecorder records every Write call it gets.
type callRecorder struct {
	bytes.Buffer
	calls int
}

func (c *callRecorder) Write(p []byte) (int, error) {
	c.calls++
	return c.Buffer.Write(p)
}

func TestWriterVectors(t *testing.T) {
	for _, v := range frameVectors {
		frame, payload, ok := vectorFrame(t, v)
		if !ok || !v.minimal {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			keep := bytes.Clone(payload)

			var out callRecorder
			fw := NewWriter(&out)
			h := v.h
			h.Length = 12345 // WriteFrame sets it from the payload
			require.NoError(t, fw.WriteFrame(h, payload))
			assert.True(t, bytes.Equal(frame, out.Bytes()), "WriteFrame bytes")
			assert.Equal(t, keep, payload, "payload modified")
			if len(frame) <= writerBufSize {
				assert.Equal(t, 1, out.calls, "small frame in one call")
			}

			for _, chunk := range []int{1, 3, 4, 5, 100, writerBufSize - 1, writerBufSize + 1} {
				out.Reset()
				fw := NewWriter(&out)
				require.NoError(t, fw.WriteHeader(v.h))
				for p := payload; len(p) > 0; {
					n := min(chunk, len(p))
					m, err := fw.Write(p[:n])
					require.NoError(t, err)
					require.Equal(t, n, m)
					p = p[n:]
				}
				assert.Zero(t, fw.Remaining())
				assert.True(t, bytes.Equal(frame, out.Bytes()), "streamed in chunks of %d", chunk)
				assert.Equal(t, keep, payload, "payload modified")
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	var out bytes.Buffer
	fw := NewWriter(&out)

	n, err := fw.Write([]byte("x"))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ErrNoFrame)
	n, err = fw.Write(nil)
	assert.Zero(t, n)
	assert.NoError(t, err)

	assert.ErrorIs(t, fw.WriteHeader(Header{Opcode: OpBinary, Length: -1}), ErrLengthOverflow)

	require.NoError(t, fw.WriteHeader(Header{Fin: true, Opcode: OpBinary, Length: 4}))
	assert.ErrorIs(t, fw.WriteHeader(Header{Fin: true, Opcode: OpPing}), ErrFrameIncomplete)
	assert.ErrorIs(t, fw.WriteFrame(Header{Fin: true, Opcode: OpPing}, nil), ErrFrameIncomplete)

	n, err = fw.Write([]byte("abcde"))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ErrWriteTooLong)
	assert.Equal(t, int64(4), fw.Remaining())

	n, err = fw.Write([]byte("abc"))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = fw.Write([]byte("de"))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ErrWriteTooLong)
	n, err = fw.Write([]byte("d"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = fw.Write([]byte("e"))
	assert.ErrorIs(t, err, ErrNoFrame)

	assert.Equal(t, wire(t, "82 04 61626364"), out.Bytes())
}

// failingWriter accepts limit bytes, then fails (or writes short).
type failingWriter struct {
	limit int
	short bool
	err   error
	n     int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	room := f.limit - f.n
	if len(p) <= room {
		f.n += len(p)
		return len(p), nil
	}
	f.n = f.limit
	if f.short {
		return room, nil
	}
	return room, f.err
}

func TestWriterUnderlyingErrorsAreSticky(t *testing.T) {
	boom := errors.New("boom")
	big := make([]byte, 3*writerBufSize)
	for _, masked := range []bool{false, true} {
		for _, limit := range []int{0, 1, 5, writerBufSize, 2*writerBufSize + 7} {
			for _, short := range []bool{false, true} {
				want := boom
				if short {
					want = io.ErrShortWrite
				}
				fw := NewWriter(&failingWriter{limit: limit, short: short, err: boom})
				h := Header{Fin: true, Opcode: OpBinary, Masked: masked, Length: int64(len(big))}
				err := fw.WriteFrame(h, big)
				require.ErrorIs(t, err, want, "masked %v limit %d short %v", masked, limit, short)
				require.ErrorIs(t, fw.WriteHeader(Header{Opcode: OpPing, Fin: true}), want)
				_, err = fw.Write([]byte("x"))
				require.ErrorIs(t, err, want)
			}
		}
	}
	// An empty frame fails at WriteHeader, which writes at once.
	fw := NewWriter(&failingWriter{err: boom})
	assert.ErrorIs(t, fw.WriteHeader(Header{Fin: true, Opcode: OpClose}), boom)
}

func TestWriterReaderRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var stream bytes.Buffer
	fw := NewWriter(&stream)
	type sent struct {
		h       Header
		payload []byte
	}
	var frames []sent
	sizes := []int{0, 1, 2, 125, 126, 127, 4095, 4096, 4097, 65535, 65536, 65537, 200003}
	for i := 0; i < 60; i++ {
		size := sizes[r.IntN(len(sizes))]
		h := Header{
			Fin:    r.IntN(2) == 0,
			Rsv:    byte(r.IntN(8)),
			Opcode: Opcode(r.IntN(16)),
			Masked: r.IntN(2) == 0,
			Length: int64(size),
		}
		if h.Masked {
			h.Mask = [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		}
		payload := randBytes(r, size)
		if r.IntN(2) == 0 {
			require.NoError(t, fw.WriteFrame(h, payload))
		} else {
			require.NoError(t, fw.WriteHeader(h))
			for p := payload; len(p) > 0; {
				n := min(1+r.IntN(10000), len(p))
				_, err := fw.Write(p[:n])
				require.NoError(t, err)
				p = p[n:]
			}
		}
		frames = append(frames, sent{h, payload})
	}
	fr := NewReader(&stream)
	for i, f := range frames {
		h, err := fr.Next()
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, f.h, h, "frame %d", i)
		got, err := io.ReadAll(fr)
		require.NoError(t, err)
		require.True(t, bytes.Equal(f.payload, got), "frame %d", i)
	}
	_, err := fr.Next()
	assert.ErrorIs(t, err, io.EOF)
}

func TestWriterReset(t *testing.T) {
	var a, b bytes.Buffer
	fw := NewWriter(&a)
	require.NoError(t, fw.WriteHeader(Header{Fin: true, Opcode: OpText, Length: 5}))
	fw.Reset(&b)
	assert.Zero(t, fw.Remaining())
	require.NoError(t, fw.WriteFrame(Header{Fin: true, Opcode: OpText}, []byte("hi")))
	assert.Equal(t, wire(t, "81 02 6869"), b.Bytes())
}

func TestWriterZeroAllocs(t *testing.T) {
	fw := NewWriter(io.Discard)
	payload := make([]byte, 10000)
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: rfcKey}
	require.NoError(t, fw.WriteFrame(h, payload)) // allocates the buffer
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if err := fw.WriteFrame(h, payload); err != nil {
			panic(err)
		}
		if err := fw.WriteFrame(Header{Fin: true, Opcode: OpPong}, payload[:10]); err != nil {
			panic(err)
		}
	}))
}

func BenchmarkWriter(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		payload := make([]byte, size)
		for _, masked := range []bool{false, true} {
			name := strconv.Itoa(size)
			if masked {
				name += "-masked"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				fw := NewWriter(io.Discard)
				h := Header{Fin: true, Opcode: OpBinary, Masked: masked, Mask: rfcKey}
				for b.Loop() {
					if err := fw.WriteFrame(h, payload); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
