package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxVectorPayload bounds the payloads the reader and writer tests build
// for the shared vectors; longer vectors are header-only.
const maxVectorPayload = 1 << 17

// vectorFrame returns the complete frame of v on the wire and its unmasked
// payload, or ok == false for header-only vectors.
func vectorFrame(t testing.TB, v frameVector) (frame, payload []byte, ok bool) {
	t.Helper()
	if v.h.Length > maxVectorPayload {
		return nil, nil, false
	}
	payload = []byte(v.payload)
	if v.payload == "" {
		payload = make([]byte, v.h.Length)
		for i := range payload {
			payload[i] = byte(i*7 + 3)
		}
	}
	require.EqualValues(t, v.h.Length, len(payload), v.name)
	onWire := bytes.Clone(payload)
	if v.masked != "" {
		onWire = wire(t, v.masked)
	} else if v.h.Masked {
		maskNaive(v.h.Mask, 0, onWire)
	}
	return append(wire(t, v.header), onWire...), payload, true
}

var readerWrappers = map[string]func(io.Reader) io.Reader{
	"bytes":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"half":     iotest.HalfReader,
	"data err": iotest.DataErrReader,
	"bufio":    func(r io.Reader) io.Reader { return bufio.NewReaderSize(r, 16) },
}

func TestReaderVectors(t *testing.T) {
	for _, v := range frameVectors {
		frame, payload, ok := vectorFrame(t, v)
		if !ok {
			continue
		}
		for wname, wrap := range readerWrappers {
			t.Run(v.name+"/"+wname, func(t *testing.T) {
				fr := NewReader(wrap(bytes.NewReader(frame)))
				h, err := fr.Next()
				require.NoError(t, err)
				assert.Equal(t, v.h, h)
				assert.Equal(t, v.h, fr.Header())
				assert.Equal(t, v.h.Length, fr.Remaining())
				got, err := io.ReadAll(fr)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(payload, got), "payload")
				assert.Zero(t, fr.Remaining())
				_, err = fr.Next()
				assert.ErrorIs(t, err, io.EOF)
			})
		}
	}
}

func TestReaderStreamSkipsUnreadPayload(t *testing.T) {
	var stream []byte
	var payloads [][]byte
	var headers []Header
	for _, v := range frameVectors {
		frame, payload, ok := vectorFrame(t, v)
		if ok {
			stream = append(stream, frame...)
			payloads = append(payloads, payload)
			headers = append(headers, v.h)
		}
	}
	for wname, wrap := range readerWrappers {
		for _, readEvery := range []int{1, 2, 3} {
			fr := NewReader(wrap(bytes.NewReader(stream)))
			for i := range headers {
				h, err := fr.Next()
				require.NoError(t, err, "%s frame %d", wname, i)
				require.Equal(t, headers[i], h, "%s frame %d", wname, i)
				if i%readEvery == 0 {
					got, err := io.ReadAll(fr)
					require.NoError(t, err)
					require.True(t, bytes.Equal(payloads[i], got), "%s frame %d", wname, i)
				} else if len(payloads[i]) > 2 {
					// Read a little, leave the rest to Next.
					var two [2]byte
					_, err := io.ReadFull(fr, two[:])
					require.NoError(t, err)
					require.Equal(t, payloads[i][:2], two[:])
				}
			}
			_, err := fr.Next()
			require.ErrorIs(t, err, io.EOF, wname)
		}
	}
}

func TestReaderTruncated(t *testing.T) {
	// Two frames cut at every byte: the reader reports io.EOF exactly at a
	// frame boundary, io.ErrUnexpectedEOF anywhere else, and never
	// returns more bytes than were there.
	first := wire(t, "81 85 37fa213d 7f9f4d5158")
	second := wire(t, "82 7E 0080 "+string(bytes.Repeat([]byte("ab"), 128)))
	stream := append(bytes.Clone(first), second...)
	for cut := 0; cut <= len(stream); cut++ {
		for wname, wrap := range readerWrappers {
			fr := NewReader(wrap(bytes.NewReader(stream[:cut])))
			var err error
			frames, total := 0, 0
			for i := 0; i < 4 && err == nil; i++ {
				if _, err = fr.Next(); err != nil {
					break
				}
				frames++
				var b []byte
				b, err = io.ReadAll(fr)
				total += len(b)
			}
			switch cut {
			case 0, len(first), len(stream):
				require.ErrorIs(t, err, io.EOF, "cut %d %s", cut, wname)
			default:
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut %d %s", cut, wname)
			}
			require.LessOrEqual(t, total, cut, "cut %d %s", cut, wname)
			// Errors are sticky.
			_, err2 := fr.Next()
			require.ErrorIs(t, err2, err, "cut %d %s", cut, wname)
			n, err3 := fr.Read(make([]byte, 8))
			require.Zero(t, n)
			require.Error(t, err3)
		}
	}
}

func TestReaderTruncatedWhileSkipping(t *testing.T) {
	for wname, wrap := range readerWrappers {
		fr := NewReader(wrap(bytes.NewReader(wire(t, "82 0A 0102"))))
		_, err := fr.Next()
		require.NoError(t, err)
		_, err = fr.Next() // skips 10 bytes, only 2 are there
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, wname)
	}
}

func TestReaderBeforeNext(t *testing.T) {
	fr := NewReader(bytes.NewReader(wire(t, "81 01 41")))
	n, err := fr.Read(make([]byte, 4))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, Header{}, fr.Header())
}

func TestReaderLengthOverflow(t *testing.T) {
	for wname, wrap := range readerWrappers {
		fr := NewReader(wrap(bytes.NewReader(wire(t, "82 7F 8000000000000000 4142"))))
		h, err := fr.Next()
		assert.ErrorIs(t, err, ErrLengthOverflow, wname)
		assert.Equal(t, OpBinary, h.Opcode, wname)
		_, err = fr.Next()
		assert.ErrorIs(t, err, ErrLengthOverflow, wname)
	}
}

func TestReaderUnderlyingError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(wire(t, "82 05 4142")), iotest.ErrReader(boom))
	fr := NewReader(r)
	_, err := fr.Next()
	require.NoError(t, err)
	got, err := io.ReadAll(fr)
	assert.Equal(t, "AB", string(got))
	assert.ErrorIs(t, err, boom)
	_, err = fr.Next()
	assert.ErrorIs(t, err, boom)
}

func TestReaderUnmasksInAnyChunking(t *testing.T) {
	payload := make([]byte, 1000)
	for i := range payload {
		payload[i] = byte(i)
	}
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: [4]byte{9, 8, 7, 6}, Length: 1000}
	onWire := bytes.Clone(payload)
	maskNaive(h.Mask, 0, onWire)
	frame := append(AppendHeader(nil, h), onWire...)
	for _, chunk := range []int{1, 2, 3, 5, 8, 13, 999, 1000, 4096} {
		fr := NewReader(bytes.NewReader(frame))
		_, err := fr.Next()
		require.NoError(t, err)
		var got []byte
		buf := make([]byte, chunk)
		for i := 0; i < 2000; i++ {
			n, err := fr.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		require.Equal(t, payload, got, "chunk %d", chunk)
	}
}

func TestReaderReset(t *testing.T) {
	fr := NewReader(bytes.NewReader(nil))
	_, err := fr.Next()
	require.ErrorIs(t, err, io.EOF)
	fr.Reset(bytes.NewReader(wire(t, "89 00")))
	h, err := fr.Next()
	require.NoError(t, err)
	assert.Equal(t, Header{Fin: true, Opcode: OpPing}, h)
}

func TestReaderZeroAllocs(t *testing.T) {
	frame := wire(t, "82 85 37fa213d 7f9f4d5158 89 00")
	src := bytes.NewReader(frame)
	br := bufio.NewReader(src)
	for name, r := range map[string]io.Reader{"bytes": src, "bufio": br} {
		fr := NewReader(r)
		buf := make([]byte, 16)
		allocs := testing.AllocsPerRun(100, func() {
			src.Reset(frame)
			br.Reset(src)
			if _, err := fr.Next(); err != nil {
				panic(err)
			}
			if _, err := io.ReadFull(fr, buf[:5]); err != nil {
				panic(err)
			}
			if _, err := fr.Next(); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, name)
	}
}

func BenchmarkReader(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		payload := make([]byte, size)
		var stream bytes.Buffer
		NewWriter(&stream).WriteFrame(Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: rfcKey}, payload)
		frame := stream.Bytes()
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			src := bytes.NewReader(frame)
			fr := NewReader(src)
			buf := make([]byte, 32<<10)
			for b.Loop() {
				src.Reset(frame)
				if _, err := fr.Next(); err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := fr.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}

// liarPeeker returns fewer bytes than asked without an error, breaking
// the Peek contract; the Reader must not loop on it.
type liarPeeker struct{ bytes.Reader }

func (l *liarPeeker) Peek(n int) ([]byte, error) { return []byte{0x82}, nil }
func (l *liarPeeker) Discard(n int) (int, error) { return 0, nil }

func TestReaderBrokenPeeker(t *testing.T) {
	fr := NewReader(&liarPeeker{})
	_, err := fr.Next()
	assert.ErrorIs(t, err, io.ErrNoProgress)
}
