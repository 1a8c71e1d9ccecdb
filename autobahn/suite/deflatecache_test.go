package suite

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainDeflate compresses msgs as the suite did before its cache: one
// compressor, reset before every message without context takeover.
func plainDeflate(t *testing.T, msgs [][]byte, level int, takeover bool) [][]byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	require.NoError(t, err)
	var out [][]byte
	for _, m := range msgs {
		if !takeover {
			w.Reset(&buf)
		}
		buf.Reset()
		w.Write(m)
		require.NoError(t, w.Flush())
		b := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
		if len(b) == 0 {
			b = []byte{0}
		}
		out = append(out, bytes.Clone(b))
	}
	return out
}

// cacheMessages makes n JSON-like messages of 200 to 400 bytes (the
// compressor matches only within messages of at least 128 bytes).
func cacheMessages(tag string, n int) [][]byte {
	var msgs [][]byte
	for i := range n {
		msgs = append(msgs, bytes.Repeat(fmt.Appendf(nil, `{"%s":%d,"x":"abcabc"}`, tag, i%7), 8+i%5))
	}
	return msgs
}

// The cache changes no byte on the wire: a second connection that sends
// the same messages and then others gets, message by message, what a
// compressor without the cache produces, with and without context
// takeover (where the compressor must catch up after the hits).
func TestDeflateCacheSameBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params deflateParams
		level  int
		keep   bool
	}{
		{"takeover", deflateParams{}, flate.BestSpeed, true},
		{"no takeover", deflateParams{serverNoContextTakeover: true}, flate.BestSpeed, false},
		{"small window", deflateParams{serverMaxWindowBits: 9}, flate.HuffmanOnly, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared := cacheMessages(t.Name(), 12)
			other := append(append([][]byte{}, shared[:8]...), cacheMessages(t.Name()+"/other", 6)...)
			for _, msgs := range [][][]byte{shared, other} {
				want := plainDeflate(t, msgs, tc.level, tc.keep)
				before := deflateCache.hits
				c := newPMD(tc.params, true)
				for i, m := range msgs {
					require.Equal(t, want[i], c.compress(m), "message %d", i)
				}
				if &msgs[0] == &other[0] {
					require.GreaterOrEqual(t, deflateCache.hits-before, 8, "the shared messages come from the cache")
				}
			}
		})
	}
}

// An echo inflated before is taken as the expected message only when its
// checksum and length match; otherwise it is inflated, and the window
// stays right either way.
func TestInflateCache(t *testing.T) {
	for _, p := range []deflateParams{{}, {clientNoContextTakeover: true}} {
		msgs := cacheMessages(fmt.Sprintf("inflate %v", p), 10)
		comp := plainDeflate(t, msgs, flate.BestSpeed, !p.clientNoContextTakeover)
		for pass := range 3 {
			before := inflateCache.hits
			s := newPMD(p, true)
			for i, c := range comp {
				s.startMessage()
				_, err := s.inflate(c, maxMessage)
				require.NoError(t, err)
				s.expect = msgs[i]
				if pass == 2 && i%2 == 0 {
					// An expectation of the right length but other
					// content: the real output comes back.
					s.expect = bytes.Repeat([]byte{'?'}, len(msgs[i]))
				}
				got, err := s.endMessage(maxMessage)
				require.NoError(t, err)
				require.Equal(t, msgs[i], got, "pass %d message %d", pass, i)
			}
			if pass == 1 {
				require.Equal(t, len(comp), inflateCache.hits-before)
			}
		}
	}
}

// What the suite sent is known to inflate to what it compressed: an echo
// that comes back as the same compressed bytes (a peer compressing like
// the suite) is taken from the cache without ever having been inflated,
// and an echo compressed differently is inflated. The window stays right
// either way.
func TestInflateSeededBySend(t *testing.T) {
	for _, p := range []deflateParams{{}, {serverNoContextTakeover: true, clientNoContextTakeover: true}} {
		msgs := cacheMessages(fmt.Sprintf("seeded %v", p), 10)
		sender := newPMD(p, true)
		var sent [][]byte
		for _, m := range msgs {
			sent = append(sent, bytes.Clone(sender.compress(m)))
		}
		// The same messages compressed at another level: other bytes.
		other := plainDeflate(t, msgs, flate.BestCompression, !p.clientNoContextTakeover)
		for _, tc := range []struct {
			name  string
			echo  [][]byte
			cache bool
		}{{"same bytes", sent, true}, {"other bytes", other, false}} {
			before := inflateCache.hits
			recv := newPMD(p, false)
			for i, c := range tc.echo {
				recv.startMessage()
				_, err := recv.inflate(c, maxMessage)
				require.NoError(t, err)
				recv.expect = msgs[i]
				got, err := recv.endMessage(maxMessage)
				require.NoError(t, err)
				require.Equal(t, msgs[i], got, "%s: message %d", tc.name, i)
			}
			if tc.cache {
				require.Equal(t, len(msgs), inflateCache.hits-before, tc.name)
			} else {
				require.Zero(t, inflateCache.hits-before, tc.name)
			}
		}
	}
}

// The checksum of the message last sent is reused, and equals the one
// computed from its bytes; a copy of it is hashed again, to the same sum.
func TestSumOfExpected(t *testing.T) {
	c := newPMD(deflateParams{}, true)
	msgs := cacheMessages("sum", 3)
	for _, m := range msgs {
		c.compress(m)
	}
	last := msgs[len(msgs)-1]
	require.Equal(t, sumOf(last), c.sumOfExpected(last))
	require.Equal(t, sumOf(last), c.sumOfExpected(bytes.Clone(last)))
	require.Equal(t, sumOf(msgs[0]), c.sumOfExpected(msgs[0]))
	require.NotEqual(t, sumOf(msgs[0]), c.sumOfExpected(last))
}
