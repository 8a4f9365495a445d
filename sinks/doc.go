// Package sinks defines what a job hands to a result writer and the registry
// of writers: each sub-package (sinks/parquet, sinks/pgvector) registers the
// -sink scheme it answers to (Register), and a worker opens the sink a job
// names with Open, one per job, closing it when the job ends.
//
// A writer receives one Chunk at a time and stores it atomically and
// idempotently: asynq delivers a chunk at least once, so writing the same
// chunk twice (or two copies of it concurrently) must leave exactly one row
// per record and must not change anything the first write stored.
//
//	err := w.WriteChunk(ctx, &sinks.Chunk{Job: "nightly", Number: 7, Rows: rows, Kept: ids})
//
// The rows of the operations built in have types of their own (Embedding,
// Classification, RerankResult, ChatResult) and a writer for each in every
// sink. Any other operation declares its row instead (RowKind: a name and
// typed columns), and every sink writes it with no code of its own: it is
// told the kind when it opens (Target.RowKind), creating a table from it
// where it has tables, and gets the rows in Chunk.Declared, each with the
// key columns id, fingerprint and content_sha256 for Lookup:
//
//	kind := &sinks.RowKind{Name: "tokens", Columns: []sinks.Column{{Name: "tokens", Type: sinks.TypeInt}}}
//	err := w.WriteChunk(ctx, &sinks.Chunk{Job: "t", Number: 0, Declared: []sinks.Row{
//		{ID: "doc-1", ContentSHA256: sha, Fingerprint: fp, Values: []any{int64(12)}},
//	}})
package sinks
