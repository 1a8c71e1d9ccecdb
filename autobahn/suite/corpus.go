package suite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
)

// Test data for the compression cases. The real suite ships five files
// (JSON, HTML, a novel, a bitmap and a PDF); the suite generates data of the
// same kinds instead, deterministically, so that runs are repeatable and
// nothing has to be downloaded. Text data is ASCII, so that any cut of it
// is valid UTF-8.

type corpus struct {
	name   string
	binary bool
	make   func() []byte
}

// cached wraps a generator so that it runs once.
func cached(f func() []byte) func() []byte {
	var once sync.Once
	var data []byte
	return func() []byte {
		once.Do(func() { data = f() })
		return data
	}
}

// corpora are in the real suite's order of 12.1 to 12.5 (JSON, a bitmap,
// prose sent as binary, HTML, a PDF-like document), with about the
// compressibility of its files: the real suite's reports show its
// messages of 131072 octets compressed to 4 %, 85 %, 39 %, 6 % and 76 % of
// their size; the suite's own compressor brings these corpora to about
// 5 %, 74 %, 35 %, 5 % and 74 %. So compressed messages, and with them the
// frame counts of the auto-fragmenting cases and the work of both sides,
// are alike.
var corpora = []corpus{
	{"JSON records (text, about 190 KB)", false, cached(jsonCorpus)},
	{"a 512x512 grey-scale bitmap (binary, about 260 KB)", true, cached(bitmapCorpus)},
	{"prose sent as binary (about 220 KB)", true, cached(proseCorpus)},
	{"HTML markup (text, about 84 KB)", false, cached(htmlCorpus)},
	{"a document with mixed text and compressed streams (binary, about 1 MB)", true, cached(documentCorpus)},
}

func seeded(n uint64) *rand.Rand { return rand.New(rand.NewPCG(n, 6455)) }

var words = strings.Fields(`der die das und ist nicht ein eine zu den mit sich des auf fuer
im dem von wie auch als an nach noch so wenn nur bei aus um was mein dein Geist Welt
Nacht Herz Licht Zeit Leben wohl doch schon hier dort immer nie vielleicht Freude`)

// jsonCorpus is an array of records the way data dumps look: a few dozen
// distinct records repeat, with ids that count up.
func jsonCorpus() []byte {
	rng := seeded(1)
	type rec struct {
		name, tag1, tag2, city string
		active                 bool
		score                  float64
		zip                    int
	}
	pool := make([]rec, 24)
	for i := range pool {
		pool[i] = rec{
			name:   words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
			tag1:   words[rng.IntN(len(words))],
			tag2:   words[rng.IntN(len(words))],
			city:   words[rng.IntN(len(words))],
			active: rng.IntN(2) == 0,
			score:  float64(rng.IntN(100)),
			zip:    rng.IntN(100000),
		}
	}
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := 0; b.Len() < 190_000; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		r := pool[rng.IntN(len(pool))]
		fmt.Fprintf(&b, `  {"id": %d, "name": "%s", "active": %v, "score": %.1f, "tags": ["%s", "%s"], "address": {"city": "%s", "zip": "%05d"}}`,
			i%100, r.name, r.active, r.score, r.tag1, r.tag2, r.city, r.zip)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

func proseCorpus() []byte {
	rng := seeded(2)
	var b bytes.Buffer
	for b.Len() < 220_000 {
		n := 5 + rng.IntN(12)
		for i := range n {
			w := words[rng.IntN(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < n-1 {
				b.WriteByte(' ')
			}
		}
		b.WriteString([]string{". ", "! ", "? ", ".\n"}[rng.IntN(4)])
	}
	return b.Bytes()
}

func bitmapCorpus() []byte {
	rng := seeded(3)
	const w, h = 512, 512
	var b bytes.Buffer
	b.WriteString("BM")
	binary.Write(&b, binary.LittleEndian, uint32(54+1024+w*h))
	binary.Write(&b, binary.LittleEndian, [2]uint16{})
	binary.Write(&b, binary.LittleEndian, uint32(54+1024))
	binary.Write(&b, binary.LittleEndian, []uint32{40, w, h})
	binary.Write(&b, binary.LittleEndian, []uint16{1, 8})
	binary.Write(&b, binary.LittleEndian, []uint32{0, w * h, 2835, 2835, 256, 0})
	for i := range 256 {
		b.Write([]byte{byte(i), byte(i), byte(i), 0})
	}
	for y := range h {
		for x := range w {
			v := (x/4 + y/4 + rng.IntN(3)) & 0xff
			b.WriteByte(byte(v))
		}
	}
	return b.Bytes()
}

// htmlCorpus is a page of repeated markup blocks: a few dozen distinct
// items repeat, as in generated listings.
func htmlCorpus() []byte {
	rng := seeded(4)
	pool := make([]string, 24)
	for i := range pool {
		pool[i] = fmt.Sprintf("<div class=\"item item-%d\">\n  <h2>%s %s</h2>\n  <p>%s <a href=\"/page/%d\">%s</a> %s.</p>\n</div>\n",
			i%7, words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))],
			rng.IntN(1000), words[rng.IntN(len(words))], words[rng.IntN(len(words))])
	}
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html lang=\"de\">\n<head><meta charset=\"utf-8\"><title>Beispiel</title></head>\n<body>\n")
	for b.Len() < 83_000 {
		b.WriteString(pool[rng.IntN(len(pool))])
	}
	b.WriteString("</body>\n</html>\n")
	return b.Bytes()
}

func documentCorpus() []byte {
	rng := seeded(5)
	var b bytes.Buffer
	prose := proseCorpus()
	b.WriteString("%PDF-1.4\n")
	for i := 1; b.Len() < 1_040_000; i++ {
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /Page /Contents %d 0 R /Length %d >>\nstream\n", i, i+1, 2048)
		if i%3 != 0 {
			for range 2048 {
				b.WriteByte(byte(rng.Uint32()))
			}
		} else {
			b.Write(prose[i*97%100_000 : i*97%100_000+2048])
		}
		b.WriteString("\nendstream\nendobj\n")
	}
	return b.Bytes()
}
