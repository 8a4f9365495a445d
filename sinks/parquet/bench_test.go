package parquet

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

// BenchmarkWriteChunk writes 100,000 rows of 1024-d float vectors as 100
// chunks of 1,000 and compares that with writing the same float bytes raw,
// one fsynced and renamed file per chunk, in the same run: x_raw is the
// Parquet throughput as a fraction of the raw one.
//
//	go test -run '^$' -bench WriteChunk -benchtime 3x ./sinks/parquet/
func BenchmarkWriteChunk(b *testing.B) {
	const (
		total     = 100_000
		chunkRows = 1_000
		dims      = 1024
	)
	base := make([]sinks.Embedding, chunkRows)
	for i := range base {
		base[i] = row("", vecFloat, dims, i)
		for j := range base[i].Float {
			// Unit-vector-like values: what a model returns, unlike the
			// awkward values of the round-trip tests.
			base[i].Float[j] = float32(math.Sin(float64(i*dims+j))) * 0.05
		}
	}
	chunkIDs := make([][]string, total/chunkRows)
	for c := range chunkIDs {
		chunkIDs[c] = make([]string, chunkRows)
		for i := range chunkIDs[c] {
			chunkIDs[c][i] = fmt.Sprintf("doc-%07d", c*chunkRows+i)
		}
	}
	floatBytes := float64(total * dims * 4)

	for _, codec := range []string{"zstd", "snappy", "none"} {
		b.Run(codec, func(b *testing.B) {
			dir := b.TempDir()
			w, err := New(Config{Dir: dir, Compression: codec})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			rows := make([]sinks.Embedding, chunkRows)
			copy(rows, base)
			var parquetDur, rawDur time.Duration
			var partBytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// Raw and Parquet alternate chunk by chunk so that both see
				// the same load on a shared machine.
				for c, idsOfChunk := range chunkIDs {
					b.StopTimer()
					start := time.Now()
					if err := writeRaw(dir, base, c); err != nil {
						b.Fatal(err)
					}
					rawDur += time.Since(start)
					b.StartTimer()

					start = time.Now()
					for i := range rows {
						rows[i].ID = idsOfChunk[i]
					}
					if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "bench", Number: c, Rows: rows}); err != nil {
						b.Fatal(err)
					}
					parquetDur += time.Since(start)
				}
			}
			b.StopTimer()
			n := float64(b.N)
			partBytes = dirSize(b, filepath.Join(dir, "bench"))
			b.ReportMetric(n*total/parquetDur.Seconds(), "rows/s")
			b.ReportMetric(n*floatBytes/1e6/parquetDur.Seconds(), "MB/s")
			b.ReportMetric(n*floatBytes/1e6/rawDur.Seconds(), "raw_MB/s")
			b.ReportMetric(rawDur.Seconds()/parquetDur.Seconds(), "x_raw")
			b.ReportMetric(float64(partBytes)/floatBytes, "size/raw")
		})
	}
}

// writeRaw is the baseline: the same float bytes as one file for the chunk,
// with the same fsync and rename a part gets.
func writeRaw(dir string, rows []sinks.Embedding, chunk int) error {
	rawDir := filepath.Join(dir, "raw")
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(rawDir, ".raw-*.tmp")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var buf [4]byte
	for i := range rows {
		for _, x := range rows[i].Float {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(x))
			bw.Write(buf[:])
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(rawDir, fmt.Sprintf("raw-%06d.bin", chunk))); err != nil {
		return err
	}
	return syncDir(rawDir)
}

func dirSize(b *testing.B, dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// BenchmarkEncodePaths compares, in memory, the struct path used for
// single-vector layouts with the row path the other layouts take, on the
// same 1,000 rows of 1024-d floats: x_row is struct throughput ÷ row throughput.
//
//	go test -run '^$' -bench EncodePaths ./sinks/parquet/
func BenchmarkEncodePaths(b *testing.B) {
	rs := rows("r", 1000, vecFloat, 1024)
	w, err := New(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	fast := embeddingLayout(vecFloat)
	slow := *fast
	slow.write = nil
	var fastDur, slowDur time.Duration
	for b.Loop() {
		start := time.Now()
		if err := writeRows(context.Background(), io.Discard, fast, rs, w.opts); err != nil {
			b.Fatal(err)
		}
		fastDur += time.Since(start)
		start = time.Now()
		if err := writeRows(context.Background(), io.Discard, &slow, rs, w.opts); err != nil {
			b.Fatal(err)
		}
		slowDur += time.Since(start)
	}
	n := float64(b.N * len(rs))
	b.ReportMetric(n/fastDur.Seconds(), "struct_rows/s")
	b.ReportMetric(n/slowDur.Seconds(), "row_rows/s")
	b.ReportMetric(slowDur.Seconds()/fastDur.Seconds(), "x_row")
}

// BenchmarkReadJob reads back 10 parts of 1,000 rows of 1024-d floats, as the
// nearest-neighbour query and the end-to-end checks do.
//
//	go test -run '^$' -bench ReadJob ./sinks/parquet/
func BenchmarkReadJob(b *testing.B) {
	dir := b.TempDir()
	w, err := New(Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	rs := rows("r", 1000, vecFloat, 1024)
	for c := range 10 {
		if err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "bench", Number: c, Rows: rs}); err != nil {
			b.Fatal(err)
		}
	}
	var n int
	for b.Loop() {
		if err := ReadJob(dir, "bench", func(e sinks.Embedding) error {
			n += len(e.Float) / 1024
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteChunkMemory writes one chunk of 16,384 rows of 1024-d floats
// (64 MiB of vectors) and reports the writer's peak heap above the chunk
// itself, sampled every millisecond, for several row-group sizes: parquet-go
// buffers a whole row group, so RowGroupRows is what bounds it.
//
//	go test -run '^$' -bench WriteChunkMemory -benchtime 2x ./sinks/parquet/
func BenchmarkWriteChunkMemory(b *testing.B) {
	rs := rows("r", 16384, vecFloat, 1024)
	for _, groupRows := range []int{1024, 8192, 1 << 20} {
		b.Run(fmt.Sprintf("rowgroup=%d", groupRows), func(b *testing.B) {
			w, err := New(Config{Dir: b.TempDir(), RowGroupRows: groupRows})
			if err != nil {
				b.Fatal(err)
			}
			var peak uint64
			for b.Loop() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				done := make(chan struct{})
				sampled := make(chan uint64)
				go func() {
					var top uint64
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-done:
							sampled <- top
							return
						case <-tick.C:
							var ms runtime.MemStats
							runtime.ReadMemStats(&ms)
							if ms.HeapAlloc > base && ms.HeapAlloc-base > top {
								top = ms.HeapAlloc - base
							}
						}
					}
				}()
				if err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "mem", Number: 0, Rows: rs}); err != nil {
					b.Fatal(err)
				}
				close(done)
				peak = max(peak, <-sampled)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
		})
	}
}
