// Package parquet writes a job's results as Parquet files, one part file per
// chunk, so that a chunk delivered twice replaces its part instead of adding
// rows:
//
//	w, err := parquet.New(parquet.Config{Dir: "./out"})
//	err = w.WriteChunk(ctx, &sinks.Chunk{Job: "nightly", Number: 7, Rows: rows})
//	// ./out/nightly/part-000007.parquet, zstd, columns id, embedding (LIST<FLOAT>), …
//	err = w.Finish(ctx, summary) // ./out/nightly/_manifest.json and failed.jsonl
//
//	err = parquet.ReadJob("./out", "nightly", func(e sinks.Embedding) error { … })
//
// Only the vector columns a chunk's rows carry are written: embedding
// (LIST<FLOAT>, FLOAT[] in DuckDB), embedding_int8 (LIST<INT(8)>),
// embedding_uint8 (LIST<UINT(8)>) and embedding_binary (BYTE_ARRAY, bit-packed).
// Lookup tells a re-run which records a part already holds unchanged.
//
// Classify and rerank chunks (Chunk.Classifications, Chunk.Reranks) get
// parts of their own shape, read back with ReadClassifications and
// ReadReranks: id, label, confidence (null where the API gives none),
// labels (a JSON object of every label's confidence, as a string), model,
// fingerprint, content_sha256, metadata, classified_at, route,
// labels_predicted; and query_id, rank, doc_id, doc_index,
// relevance_score, model, scored_at.
//
// The rows of a declared kind (Config.RowKind, Chunk.Declared) are written
// through a schema built from its columns: id, then each declared column,
// optional (a nil value is null): text STRING, int INT64, float DOUBLE,
// bool BOOLEAN, json STRING (the JSON text, as labels), vector LIST<FLOAT>,
// time TIMESTAMP(MICROS); then fingerprint and content_sha256. Unchanged
// records are carried over and looked up as for classifications, and
// ReadRows reads them back.
package parquet
