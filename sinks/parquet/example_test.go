package parquet_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// The methods a job's worker calls on a sink.
var _ interface {
	Lookup(ctx context.Context, job string, chunk int, keys []sinks.Key) (map[string]bool, error)
	WriteChunk(ctx context.Context, c *sinks.Chunk) error
	Finish(ctx context.Context, s sinks.Summary) error
	Close() error
} = (*parquet.Writer)(nil)

func Example() {
	dir, _ := os.MkdirTemp("", "cobatch-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	w, err := parquet.New(parquet.Config{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	now := time.Now()
	rows := []sinks.Embedding{
		{ID: "doc-1", Float: []float32{0.1, 0.2, 0.3}, Model: "embed-v4.0", InputType: "search_document", EmbeddedAt: now},
		{ID: "doc-2", Float: []float32{0.4, 0.5, 0.6}, Model: "embed-v4.0", InputType: "search_document", EmbeddedAt: now},
	}
	failed := []sinks.Failure{{File: "in.jsonl", Line: 3, ID: "doc-3", Reason: "empty text"}}
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "nightly", Number: 0, Rows: rows, Failed: failed}); err != nil {
		panic(err)
	}
	err = w.Finish(ctx, sinks.Summary{Job: "nightly", Model: "embed-v4.0", Written: 2, Failed: 1, Total: 3, Chunks: 1})
	if err != nil {
		panic(err)
	}

	_ = parquet.ReadJob(dir, "nightly", func(e sinks.Embedding) error {
		fmt.Println(e.ID, e.Float)
		return nil
	})
	m, _ := parquet.ReadManifest(dir, "nightly")
	fmt.Println(m.Parts[0].File, m.Parts[0].Rows, m.Counts.Total, m.Schema[1].Name, m.Schema[1].Type)
	// Output:
	// doc-1 [0.1 0.2 0.3]
	// doc-2 [0.4 0.5 0.6]
	// part-000000.parquet 2 3 embedding LIST<FLOAT>
}
