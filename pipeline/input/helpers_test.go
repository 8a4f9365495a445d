package input

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// writeInput writes content to dir/name, compressing by the name's suffix.
func writeInput(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var buf bytes.Buffer
	switch {
	case strings.HasSuffix(name, ".gz"):
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(content))
		zw.Close()
	case strings.HasSuffix(name, ".zst"):
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write([]byte(content))
		zw.Close()
	default:
		buf.WriteString(content)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func splitAll(t testing.TB, paths []string, opts Options, perChunk int) []Range {
	t.Helper()
	var out []Range
	err := Split(context.Background(), paths, opts, perChunk, func(r Range) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	return out
}

func readRange(t testing.TB, r Range, opts Options) []Record {
	t.Helper()
	var out []Record
	if err := Read(context.Background(), r, opts, func(rec Record) error {
		out = append(out, rec)
		return nil
	}); err != nil {
		t.Fatalf("Read %+v: %v", r, err)
	}
	if len(out) != r.Records {
		t.Fatalf("Read yielded %d records, range says %d", len(out), r.Records)
	}
	return out
}

func readAll(t testing.TB, ranges []Range, opts Options) []Record {
	t.Helper()
	var out []Record
	for _, r := range ranges {
		out = append(out, readRange(t, r, opts)...)
	}
	return out
}

// brief renders records compactly for exact comparison, with dir+"/"
// removed from file names.
func brief(recs []Record, dir string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		if r.Err != nil {
			out[i] = "ERR " + r.ID + " " + strings.ReplaceAll(r.Err.Error(), dir+"/", "")
			continue
		}
		s := r.ID + "|" + r.Text
		if r.Meta != nil {
			s += "|" + string(r.Meta)
		}
		out[i] = s
	}
	return out
}

func equalStrings(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d items, want %d:\ngot:  %q\nwant: %q", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("item %d:\ngot:  %q\nwant: %q", i, got[i], want[i])
		}
	}
}
