package input

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCompressedInputIsDecompressedOnce splits a gzip into many ranges and
// reads them all: the file is decompressed once, by Split, and the ranges
// read without it. Not parallel: it reads the process's decompression count.
func TestCompressedInputIsDecompressedOnce(t *testing.T) {
	dir := t.TempDir()
	content, want := corpus(20000)
	p := writeInput(t, dir, "many.jsonl.gz", content)
	before := decompressed.Load()
	ranges := splitAll(t, []string{p}, Options{}, 100)
	if len(ranges) != 200 {
		t.Fatalf("%d ranges, want 200", len(ranges))
	}
	// The ranges no longer need the compressed file.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, brief(readAll(t, ranges, Options{}), ""), want)
	if got := decompressed.Load() - before; got != int64(len(content)) {
		t.Errorf("%d bytes decompressed for a %d-byte stream", got, len(content))
	}
	spool := ranges[0].Path
	if filepath.Dir(spool) != dir {
		t.Errorf("spool %s is not beside its input", spool)
	}
	// A glob over the directory does not take the spool for an input.
	plain := writeInput(t, dir, "plain.jsonl", content)
	if got := splitAll(t, []string{filepath.Join(dir, "*")}, Options{}, 20000); len(got) != 1 || got[0].Path != plain {
		t.Errorf("a glob over the spool's directory planned %+v", got)
	}
	if err := RemoveSpools([]string{filepath.Join(dir, "*.gz")}, Options{}); err == nil {
		t.Error("RemoveSpools of a glob matching nothing: no error")
	}
}

// TestSpoolDirAndRemoveSpools: Options.SpoolDir moves the spool; a spool
// directory that cannot be written is an error naming the input; a re-split
// rewrites the same spool, and RemoveSpools deletes it.
func TestSpoolDirAndRemoveSpools(t *testing.T) {
	t.Parallel()
	content, want := corpus(300)
	p := writeInput(t, t.TempDir(), "a.jsonl.zst", content)
	spools := t.TempDir()
	opts := Options{SpoolDir: spools}
	first := splitAll(t, []string{p}, opts, 50)
	again := splitAll(t, []string{p}, opts, 50)
	if first[0].Path != again[0].Path || filepath.Dir(first[0].Path) != spools {
		t.Fatalf("spools %s and %s, want one in %s", first[0].Path, again[0].Path, spools)
	}
	equalStrings(t, brief(readAll(t, first, opts), ""), want)
	if err := RemoveSpools([]string{p}, opts); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(spools); len(entries) != 0 {
		t.Errorf("%d files left in the spool directory", len(entries))
	}
	err := Split(t.Context(), []string{p}, Options{SpoolDir: filepath.Join(spools, "missing")}, 50, func(Range) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "a.jsonl.zst: its decompressed copy") || !strings.Contains(err.Error(), "-spool-dir") {
		t.Errorf("Split with an unwritable spool directory: %v", err)
	}
}

// TestZstdWindowIsBounded: a frame asking for a 128 MiB window is refused as
// corrupt instead of making the decoder allocate it.
func TestZstdWindowIsBounded(t *testing.T) {
	t.Parallel()
	// A frame by hand: magic, a descriptor with no content size, a window
	// descriptor of 2^(10+17) bytes, then one raw last block.
	content := strings.Repeat(`{"id":"a","text":"b"}`+"\n", 10)
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3}
	h := uint32(len(content))<<3 | 1
	frame = append(frame, byte(h), byte(h>>8), byte(h>>16))
	frame = append(frame, content...)
	// The same frame with a 1 MiB window decodes.
	small := bytes.Clone(frame)
	small[5] = 10 << 3
	if _, err := zstd.NewReader(bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(t.TempDir(), "narrow.jsonl.zst")
	if err := os.WriteFile(sp, small, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := len(splitAll(t, []string{sp}, Options{}, 50)); n != 1 {
		t.Fatalf("%d ranges of the 1 MiB-window frame", n)
	}
	buf := bytes.NewBuffer(frame)
	p := filepath.Join(t.TempDir(), "wide.jsonl.zst")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Split(t.Context(), []string{p}, Options{}, 50, func(Range) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "wide.jsonl.zst") || !strings.Contains(err.Error(), "window") {
		t.Errorf("Split of a 128 MiB-window frame: %v", err)
	}
}
