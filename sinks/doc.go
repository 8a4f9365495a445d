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
package sinks
