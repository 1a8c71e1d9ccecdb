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

var corpora = []corpus{
	{"JSON records (text, about 190 KB)", false, cached(jsonCorpus)},
	{"prose sent as binary (about 220 KB)", true, cached(proseCorpus)},
	{"a 512x512 grey-scale bitmap (binary, about 260 KB)", true, cached(bitmapCorpus)},
	{"HTML markup (text, about 84 KB)", false, cached(htmlCorpus)},
	{"a document with mixed text and compressed streams (binary, about 1 MB)", true, cached(documentCorpus)},
}

func seeded(n uint64) *rand.Rand { return rand.New(rand.NewPCG(n, 6455)) }

var words = strings.Fields(`der die das und ist nicht ein eine zu den mit sich des auf fuer
im dem von wie auch als an nach noch so wenn nur bei aus um was mein dein Geist Welt
Nacht Herz Licht Zeit Leben wohl doch schon hier dort immer nie vielleicht Freude`)

func jsonCorpus() []byte {
	rng := seeded(1)
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := 0; b.Len() < 190_000; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"id": %d, "name": "%s %s", "active": %v, "score": %.3f, "tags": ["%s", "%s"], "address": {"city": "%s", "zip": "%05d"}}`,
			i, words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(2) == 0, rng.Float64()*100,
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(100000))
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
			v := (x*x/512 + y/2 + (x^y)/16 + rng.IntN(24)) & 0xff
			b.WriteByte(byte(v))
		}
	}
	return b.Bytes()
}

func htmlCorpus() []byte {
	rng := seeded(4)
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html lang=\"de\">\n<head><meta charset=\"utf-8\"><title>Beispiel</title></head>\n<body>\n")
	for i := 0; b.Len() < 83_000; i++ {
		fmt.Fprintf(&b, "<div class=\"item item-%d\" id=\"e%d\">\n  <h2>%s %s</h2>\n  <p>%s <a href=\"/page/%d\">%s</a> %s.</p>\n</div>\n",
			i%7, i, words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))],
			rng.IntN(1000), words[rng.IntN(len(words))], words[rng.IntN(len(words))])
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
		if i%3 == 0 {
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
