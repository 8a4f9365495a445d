package testenv

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Verse is one record of examples/kjv/bible.jsonl.gz.
type Verse struct {
	ID      string `json:"id"`
	Text    string `json:"text"`
	Book    string `json:"book"`
	Chapter int    `json:"chapter"`
}

// KJV returns the first n verses of the bundled King James Bible
// (examples/kjv/bible.jsonl.gz), real text for tests that want it; all of
// them when n < 0.
func KJV(t testing.TB, n int) []Verse {
	t.Helper()
	vs, err := ReadKJV(n)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// ReadKJV is KJV for callers that return errors: the one reader of the
// bundled verses.
func ReadKJV(n int) ([]Verse, error) {
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "examples", "kjv", "bible.jsonl.gz")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Verse
	sc := bufio.NewScanner(zr)
	for line := 1; (n < 0 || len(out) < n) && sc.Scan(); line++ {
		var v Verse
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n >= 0 && len(out) != n {
		return nil, fmt.Errorf("%s: %d verses, want %d", path, len(out), n)
	}
	return out, nil
}
