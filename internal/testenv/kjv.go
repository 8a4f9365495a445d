package testenv

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Verse is one record of examples/kjv/bible.jsonl.gz.
type Verse struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	Book string `json:"book"`
}

// KJV returns the first n verses of the bundled King James Bible
// (examples/kjv/bible.jsonl.gz), real text for tests that want it.
func KJV(t testing.TB, n int) []Verse {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(here), "..", "..", "examples", "kjv", "bible.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []Verse
	sc := bufio.NewScanner(zr)
	for len(out) < n && sc.Scan() {
		var v Verse
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("%d verses, want %d", len(out), n)
	}
	return out
}
