package input

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// decodable decompresses a damaged stream as far as the decoder goes and
// returns the complete lines it yields, the non-blank ones among them, and
// their bytes, independently of Split.
func decodable(t *testing.T, compression string, b []byte) (lines, records int, size int64) {
	t.Helper()
	var r io.Reader
	switch compression {
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case CompressionZstd:
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(r)
	if err == nil {
		t.Fatal("the damaged stream decodes without error")
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	for _, l := range bytes.Split(data[:end], []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			records++
		}
	}
	return bytes.Count(data[:end], []byte("\n")), records, int64(end)
}

// TestSplitDamagedStreamKeepsItsReadableRecords cuts a gzip and a zstd
// stream in half: every record decodable before the cut is in a range (the
// one being built included) and reads back, and the error names the file,
// the line and byte after the last good record, and the decoder's error.
func TestSplitDamagedStreamKeepsItsReadableRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, compression, decoderErr string }{
		{"cut.jsonl.gz", CompressionGzip, "unexpected EOF"},
		{"cut.jsonl.zst", CompressionZstd, "unexpected EOF"},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			content, _ := corpus(50000)
			full := writeInput(t, dir, "full-"+tc.name, content)
			raw, err := os.ReadFile(full)
			if err != nil {
				t.Fatal(err)
			}
			cut := raw[:len(raw)/2]
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, cut, 0o644); err != nil {
				t.Fatal(err)
			}
			lines, want, wantBytes := decodable(t, tc.compression, cut)
			if want < 1000 {
				t.Fatalf("only %d decodable lines: the cut is too early to test anything", want)
			}
			var ranges []Range
			err = Split(t.Context(), []string{path}, Options{}, 500, func(r Range) error {
				ranges = append(ranges, r)
				return nil
			})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Split: %v, want ErrCorrupt", err)
			}
			msg := fmt.Sprintf("%s: corrupt input at line %d (byte %d of the decompressed stream): %s: ", path, lines+1, wantBytes, tc.compression)
			if !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), tc.decoderErr) {
				t.Errorf("Split error %q, want it to contain %q and %q", err, msg, tc.decoderErr)
			}
			if got := DamageLine(err); got != int64(lines+1) {
				t.Errorf("DamageLine = %d, want %d", got, lines+1)
			}
			recs := readAll(t, ranges, Options{})
			if len(recs) != want {
				t.Fatalf("ranges read back %d records, %d are decodable", len(recs), want)
			}
			for i, r := range recs {
				if r.Err != nil || r.ID != fmt.Sprintf("r%d", i) {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		})
	}
}
