package input

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// writeBigGzip writes JSONL records of random hex text, gzip-compressed,
// until the compressed file holds at least size bytes. It returns the
// records and the uncompressed size.
func writeBigGzip(tb testing.TB, path string, size int64) (records int, raw int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	w := bufio.NewWriterSize(zw, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 400)
	for {
		for range 1000 {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			n, _ := fmt.Fprintf(w, `{"id":"doc-%09d","text":"%s"}`+"\n", records, hex.EncodeToString(buf))
			raw += int64(n)
			records++
		}
		if st, _ := f.Stat(); st.Size() >= size {
			break
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return records, raw
}

// BenchmarkCompressedInput plans a ≥ 1 GB .gz (64 MB with -short) and reads
// every range back, as the workers of a job do. It reports the bytes
// decompressed over the uncompressed size (1.0: each byte once) and the
// speed of `zcat >/dev/null` on the same file, measured in the same run,
// over the speed of Split (which decompresses the file): zcat-time/split-time.
func BenchmarkCompressedInput(b *testing.B) {
	if _, err := exec.LookPath("zcat"); err != nil {
		b.Fatal("zcat is needed for the baseline")
	}
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "big.jsonl.gz")
	records, raw := writeBigGzip(b, path, size)
	for b.Loop() {
		start := time.Now()
		if err := exec.Command("zcat", path).Run(); err != nil {
			b.Fatal(err)
		}
		zcat := time.Since(start)

		before := decompressed.Load()
		start = time.Now()
		var ranges []Range
		err := Split(context.Background(), []string{path}, Options{}, 960, func(r Range) error {
			ranges = append(ranges, r)
			return nil
		})
		split := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		got := 0
		for _, r := range ranges {
			if err := Read(context.Background(), r, Options{}, func(Record) error { got++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
		read := time.Since(start)
		if got != records {
			b.Fatalf("read %d records, the file holds %d", got, records)
		}
		b.ReportMetric(float64(decompressed.Load()-before)/float64(raw), "decompressed/raw")
		b.ReportMetric(zcat.Seconds()/split.Seconds(), "zcat-time/split-time")
		b.ReportMetric(zcat.Seconds(), "zcat-s")
		b.ReportMetric(split.Seconds(), "split-s")
		b.ReportMetric(read.Seconds(), "read-ranges-s")
		b.ReportMetric(float64(raw)/(1<<20), "raw-MB")
		b.ReportMetric(float64(len(ranges)), "ranges")
		if err := RemoveSpools([]string{path}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "gz-MB")
	}
}
