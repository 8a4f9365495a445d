package pgvector_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
)

// BenchmarkSink100k measures the sink on 100,000 × 1024-d rows in 1,000-row
// chunks against a raw binary COPY of the same float bytes into a bytea
// column, measured in the same run (the machines are too noisy for absolute
// figures to compare across runs):
//
//	fresh      WriteChunk into an empty table (the COPY fast path)
//	upsert     WriteChunk over every row with a changed vector
//	unchanged  WriteChunk of the same rows again (rewrites nothing)
//	hnsw_s     BuildIndex, cosine, m 16, ef_construction 64
//
// Each ratio's raw COPY runs interleaved with its pass, chunk by chunk.
func BenchmarkSink100k(b *testing.B) {
	const n, d, size = 100_000, 1024, 1_000
	ctx := context.Background()
	url := testenv.DatabaseURL(b)
	r := rand.New(rand.NewPCG(1, 2))
	rs := make([]sinks.Embedding, n)
	for i := range rs {
		v := make([]float32, d)
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		rs[i] = sinks.Embedding{
			ID: fmt.Sprintf("doc-%07d", i), Float: v, Model: "embed-v4.0", InputType: "search_document",
			Fingerprint: "fp", Metadata: []byte(`{"source":"bench"}`), EmbeddedAt: time.Now(),
		}
		rs[i].ContentSHA256[0] = byte(i)
	}
	c := connect(b, url)
	rawCopy := func(table string, k int) {
		src := pgx.CopyFromSlice(size, func(i int) ([]any, error) {
			v := rs[k+i].Float
			return []any{rs[k+i].ID, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)}, nil
		})
		if _, err := c.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "embedding"}, src); err != nil {
			b.Fatal(err)
		}
	}
	for it := 0; b.Loop(); it++ {
		b.StopTimer()
		table := fmt.Sprintf("docs_%d", it)
		w, err := pgvector.Open(ctx, pgvector.Config{URL: url, Table: table, Dims: d})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		// Each pass alternates chunk by chunk between the sink and a raw COPY
		// into a fresh bytea table, so that both meet the same load from
		// whatever else runs on the machine.
		pass := func(job string) (sink, raw float64) {
			rawTable := "raw_" + job
			if _, err := c.Exec(ctx, "CREATE TABLE "+rawTable+" (id text PRIMARY KEY, embedding bytea)"); err != nil {
				b.Fatal(err)
			}
			var sinkDur, rawDur time.Duration
			for k := 0; k < n; k += size {
				start := time.Now()
				rawCopy(rawTable, k)
				rawDur += time.Since(start)
				start = time.Now()
				if err := w.WriteChunk(ctx, &sinks.Chunk{Job: job, Number: k / size, Rows: rs[k : k+size]}); err != nil {
					b.Fatal(err)
				}
				sinkDur += time.Since(start)
			}
			if _, err := c.Exec(ctx, "DROP TABLE "+rawTable); err != nil {
				b.Fatal(err)
			}
			return n / sinkDur.Seconds(), n / rawDur.Seconds()
		}
		fresh, freshRaw := pass(fmt.Sprintf("fresh_%d", it))
		b.StopTimer()
		for i := range rs {
			rs[i].Float[0] += 0.5
		}
		b.StartTimer()
		upsert, upsertRaw := pass(fmt.Sprintf("upsert_%d", it))
		unchanged, unchangedRaw := pass(fmt.Sprintf("unchanged_%d", it))

		start := time.Now()
		if err := w.BuildIndex(ctx, pgvector.IndexOptions{Distance: "cosine"}); err != nil {
			b.Fatal(err)
		}
		hnsw := time.Since(start).Seconds()

		b.ReportMetric(freshRaw, "raw_copy_rows/s")
		b.ReportMetric(fresh, "fresh_rows/s")
		b.ReportMetric(fresh/freshRaw, "fresh/raw")
		b.ReportMetric(upsert, "upsert_rows/s")
		b.ReportMetric(upsert/upsertRaw, "upsert/raw")
		b.ReportMetric(unchanged, "unchanged_rows/s")
		b.ReportMetric(unchanged/unchangedRaw, "unchanged/raw")
		b.ReportMetric(hnsw, "hnsw_s")
		b.StopTimer()
		w.Close()
		c.Exec(ctx, "DROP TABLE "+table)
		b.StartTimer()
	}
}
