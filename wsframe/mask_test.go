package wsframe

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maskNaive is the definition of RFC 6455 section 5.3, byte by byte.
func maskNaive(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestMaskMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := [][4]byte{{0, 0, 0, 0}, {0xFF, 0xFF, 0xFF, 0xFF}, rfcKey, {1, 2, 3, 4}}
	lengths := []int{}
	for n := 0; n <= 100; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 127, 128, 129, 1000, 4096, 4096+3, 65536, 65536+7, 1<<20+5)
	for _, key := range keys {
		for _, n := range lengths {
			src := randBytes(r, n)
			for pos := 0; pos < 8; pos++ { // 4-7 must behave as 0-3
				// Also at every alignment of the slice start.
				for off := 0; off < 8 && (n <= 4096 || off == 0 || off == 3); off++ {
					got := make([]byte, n+off)[off:]
					copy(got, src)
					want := bytes.Clone(src)
					wantNext := maskNaive(key, pos, want)
					next := Mask(key, pos, got)
					require.Equal(t, wantNext, next, "key %x len %d pos %d off %d", key, n, pos, off)
					require.True(t, bytes.Equal(want, got), "key %x len %d pos %d off %d", key, n, pos, off)
				}
			}
		}
	}
}

func TestMaskRFCExample(t *testing.T) {
	b := []byte("Hello")
	assert.Equal(t, 1, Mask(rfcKey, 0, b))
	assert.Equal(t, []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}, b)
	// Masking twice restores the input.
	Mask(rfcKey, 0, b)
	assert.Equal(t, "Hello", string(b))
}

func TestMaskInChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	src := randBytes(r, 10000)
	want := bytes.Clone(src)
	maskNaive(rfcKey, 0, want)
	for _, chunk := range []int{1, 2, 3, 5, 7, 8, 9, 31, 33, 100, 4099} {
		got := bytes.Clone(src)
		pos := 0
		for p := got; len(p) > 0; {
			n := min(chunk, len(p))
			pos = Mask(rfcKey, pos, p[:n])
			p = p[n:]
		}
		assert.Equal(t, len(src)&3, pos)
		require.True(t, bytes.Equal(want, got), "chunk %d", chunk)
	}
}

func TestMaskNegativePos(t *testing.T) {
	// pos&3 is used, so any int is a position.
	b := []byte("abcdefghijk")
	want := bytes.Clone(b)
	maskNaive(rfcKey, 3, want)
	Mask(rfcKey, -1, b)
	assert.Equal(t, want, b)
}

func TestMaskZeroAllocs(t *testing.T) {
	b := make([]byte, 4096)
	assert.Zero(t, testing.AllocsPerRun(100, func() { Mask(rfcKey, 1, b) }))
}

func FuzzMask(f *testing.F) {
	f.Add(uint32(0x37fa213d), 0, []byte("Hello"))
	f.Add(uint32(0xffffffff), 3, make([]byte, 100))
	f.Add(uint32(0x01020304), 1, []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789"))
	f.Fuzz(func(t *testing.T, k uint32, pos int, data []byte) {
		key := [4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
		want := bytes.Clone(data)
		wantNext := maskNaive(key, pos, want)
		got := bytes.Clone(data)
		if next := Mask(key, pos, got); next != wantNext {
			t.Fatalf("next position %d, want %d", next, wantNext)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Mask(%x, %d, %x) = %x, want %x", key, pos, data, got, want)
		}
		// In two pieces, split where the data says.
		if len(data) > 0 {
			cut := int(data[0]) % (len(data) + 1)
			got := bytes.Clone(data)
			p := Mask(key, pos, got[:cut])
			Mask(key, p, got[cut:])
			if !bytes.Equal(got, want) {
				t.Fatalf("split at %d: %x, want %x", cut, got, want)
			}
		}
	})
}

// BenchmarkMask measures Mask next to copy of the same size, so that their
// throughputs can be compared within one run:
//
//	go test -run '^$' -bench Mask -count 6 > m.txt && benchstat -col /impl m.txt
func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		name := map[int]string{16: "16B", 1024: "1KiB", 64 << 10: "64KiB"}[size]
		buf := make([]byte, size)
		b.Run("size="+name+"/impl=mask", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			pos := 0
			for b.Loop() {
				pos = Mask(rfcKey, pos, buf)
			}
		})
		b.Run("size="+name+"/impl=copy", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			src := make([]byte, size)
			for b.Loop() {
				copy(buf, src)
			}
		})
	}
}
