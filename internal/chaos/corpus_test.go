package chaos

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// corpusFile is the whole King James Version, one verse a line; 270 texts
// repeat under different ids.
const corpusFile = "../../examples/kjv/bible.jsonl.gz"

// corpus is the first n verses written as plain JSONL, so that chunks are
// byte ranges a worker seeks to.
type corpus struct {
	path  string
	ids   []string          // in file order
	texts map[string]string // id → text
}

func loadCorpus(t testing.TB, n int) corpus {
	t.Helper()
	in, err := os.Open(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	c := corpus{path: filepath.Join(t.TempDir(), "kjv.jsonl"), texts: map[string]string{}}
	out, err := os.Create(c.path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for len(c.ids) < n && sc.Scan() {
		var v struct{ ID, Text string }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		c.ids = append(c.ids, v.ID)
		c.texts[v.ID] = v.Text
		w.Write(sc.Bytes())
		w.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(c.ids) != n {
		t.Fatalf("corpus has %d verses, want %d", len(c.ids), n)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

// paidOnce is what a job over the corpus pays for when nothing goes wrong:
// identical texts are paid once per chunk (a chunk dedupes its own texts,
// chunks do not share), and texts of records in exclude are not paid.
func (c corpus) paidOnce(chunkSize int, exclude map[string]bool) int {
	paid := 0
	for start := 0; start < len(c.ids); start += chunkSize {
		seen := map[string]bool{}
		for _, id := range c.ids[start:min(start+chunkSize, len(c.ids))] {
			if exclude[id] || seen[c.texts[id]] {
				continue
			}
			seen[c.texts[id]] = true
			paid++
		}
	}
	return paid
}

// uniqueText returns the id of a verse, past the first chunk, whose text no
// other verse shares.
func (c corpus) uniqueText(after int) string {
	count := map[string]int{}
	for _, id := range c.ids {
		count[c.texts[id]]++
	}
	for _, id := range c.ids[after:] {
		if count[c.texts[id]] == 1 {
			return id
		}
	}
	return ""
}
