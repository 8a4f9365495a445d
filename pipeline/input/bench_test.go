package input

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeBigJSONL streams about size bytes of ~1 KiB JSONL records to path.
func writeBigJSONL(tb testing.TB, path string, size int64) (records int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	words := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 25)[:960]
	var written int64
	for written < size {
		n, _ := fmt.Fprintf(w, `{"id":"doc-%09d","text":"%s","lang":"en"}`+"\n", records, words)
		written += int64(n)
		records++
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return records
}

// peakHeap samples live heap bytes until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// BenchmarkSplit1GB plans a ~1 GB JSONL file (64 MB with -short). The
// raw-read case reads the same file with a 64 KiB buffer and nothing else:
// the baseline the split case is a ratio of.
func BenchmarkSplit1GB(b *testing.B) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	path := filepath.Join(b.TempDir(), "big.jsonl")
	records := writeBigJSONL(b, path, size)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	readFile := func(b *testing.B, buf []byte) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for {
			_, err := f.Read(buf)
			if err == io.EOF {
				return
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	// Warm the page cache so that neither case pays for the disk.
	readFile(b, make([]byte, 64<<10))
	b.Run("raw-read", func(b *testing.B) {
		b.SetBytes(st.Size())
		buf := make([]byte, 64<<10)
		for b.Loop() {
			readFile(b, buf)
		}
	})
	b.Run("split", func(b *testing.B) {
		b.SetBytes(st.Size())
		var peak uint64
		for b.Loop() {
			stop := peakHeap()
			got, ranges := 0, 0
			err := Split(context.Background(), []string{path}, Options{}, 1000, func(r Range) error {
				got += r.Records
				ranges++
				return nil
			})
			p := stop()
			if err != nil {
				b.Fatal(err)
			}
			if got != records {
				b.Fatalf("ranges hold %d records, file has %d", got, records)
			}
			peak = max(peak, p)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		if rss := peakRSS(); rss > 0 {
			b.ReportMetric(float64(rss)/(1<<20), "process-peak-rss-MB")
		}
	})
}

// peakRSS is the process's high-water resident set (Linux), 0 elsewhere.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}
