package parquet

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cobatch/cobatch/sinks"
)

// A second run of a job with fewer chunks leaves exactly its own parts, rows
// and dead letters: the first run's later chunks are gone from the directory
// and from the manifest.
func TestRerunWithFewerChunksKeepsOnlyItsParts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{})
	jd := filepath.Join(dir, "shrink")
	for n := range 5 {
		c := sinks.Chunk{Job: "shrink", Number: n, Rows: rows("r1-", 3, vecFloat, 8)}
		if n == 4 {
			c.Failed = []sinks.Failure{{File: "in.jsonl", Line: 13, ID: "old", Reason: "empty text"}}
		}
		for i := range c.Rows {
			c.Rows[i].ID = string(rune('a'+n)) + c.Rows[i].ID
		}
		if err := w.WriteChunk(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(ctx, sinks.Summary{Job: "shrink", Written: 15, Failed: 1, Total: 16, Chunks: 5, AllChunks: true}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, filepath.Join(jd, "failed")); !slices.Equal(got, []string{"part-000004.jsonl"}) {
		t.Fatalf("first run: failed/ holds %v", got)
	}

	// The second run: two chunks, new rows in each.
	var want []sinks.Embedding
	for n := range 2 {
		c := sinks.Chunk{Job: "shrink", Number: n, Rows: rows("r2-", 2, vecFloat, 8)}
		for i := range c.Rows {
			c.Rows[i].ID = string(rune('a'+n)) + c.Rows[i].ID
		}
		want = append(want, c.Rows...)
		if err := w.WriteChunk(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(ctx, sinks.Summary{Job: "shrink", Written: 4, Total: 4, Chunks: 2, AllChunks: true}); err != nil {
		t.Fatal(err)
	}
	assertSame(t, readAll(t, dir, "shrink"), want)
	if got := listDir(t, jd); !slices.Equal(got, []string{"_manifest.json", "failed", "failed.jsonl", "part-000000.parquet", "part-000001.parquet"}) {
		t.Fatalf("job directory holds %v", got)
	}
	if got := listDir(t, filepath.Join(jd, "failed")); len(got) != 0 {
		t.Fatalf("failed/ holds %v, want nothing", got)
	}
	if b, err := os.ReadFile(filepath.Join(jd, FailedFile)); err != nil || len(b) != 0 {
		t.Fatalf("failed.jsonl: %q, %v; want empty", b, err)
	}
	m, err := ReadManifest(dir, "shrink")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Parts) != 2 || m.Parts[0].File != "part-000000.parquet" || m.Parts[1].File != "part-000001.parquet" || m.Counts.Rows != 4 {
		t.Fatalf("manifest parts %+v rows %d; want parts 0 and 1, 4 rows", m.Parts, m.Counts.Rows)
	}
}
