// Package sinks defines what a job hands to a result writer, and holds the
// writers themselves in sub-packages: sinks/parquet and sinks/pgvector.
//
// A writer receives one Chunk at a time and stores it atomically and
// idempotently: asynq delivers a chunk at least once, so writing the same
// chunk twice (or two copies of it concurrently) must leave exactly one row
// per record and must not change anything the first write stored.
//
//	err := w.WriteChunk(ctx, &sinks.Chunk{Job: "nightly", Number: 7, Rows: rows, Kept: ids})
package sinks
