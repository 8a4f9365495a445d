// Package pgvector stores embed results in a PostgreSQL table with pgvector
// columns, idempotently and at COPY speed.
//
// Open applies the migrations and creates or checks the target table; it is
// meant to run before any API call so that a table of the wrong dimension or
// type stops the job before it costs anything:
//
//	w, err := pgvector.Open(ctx, pgvector.Config{URL: dbURL, Table: "public.docs", Dims: 1024})
//	if err != nil {
//		return err
//	}
//	defer w.Close()
//	done, _ := w.Lookup(ctx, job, n, keys) // ids stored with the same text and model: skip them
//	err = w.WriteChunk(ctx, &sinks.Chunk{Job: job, Number: n, Rows: rows, Kept: kept})
//	if pgvector.IsTransient(err) {
//		// retry the chunk later: the write was one transaction
//	}
//	err = w.BuildIndex(ctx, pgvector.IndexOptions{Distance: "cosine"}) // once, after the load
//
// A chunk is one transaction: its rows, its dead-lettered records
// (cobatch_failures) and its completion (cobatch_chunks). A fresh chunk is
// copied straight into the table; a chunk any of whose ids already exist goes
// through a temporary staging table and INSERT … ON CONFLICT DO UPDATE that
// skips rows whose stored values are the same, so a re-delivered chunk
// rewrites nothing.
//
// A created table has id text primary key, then embedding vector(D) or
// halfvec(D) (float), embedding_int8 and embedding_uint8 smallint[] (int8,
// uint8), embedding_binary bit(D) (binary, ubinary), model, input_type,
// fingerprint, content_sha256 bytea, metadata jsonb and embedded_at
// timestamptz. The float column is stored PLAIN (in the row, not in TOAST)
// while two rows fit a page: up to vector(948) or halfvec(1896).
//
// With Config.Kind set to KindClassify or KindRerank the same Writer keeps a
// classify table (id text primary key, label, confidence real, NULL where
// the API gives none, labels jsonb, model, fingerprint, content_sha256,
// metadata, classified_at, route, labels_predicted text[]) or a rerank
// table (query_id, rank, doc_id, doc_index, relevance_score, model,
// scored_at; primary key (query_id, doc_id)), with the same one-transaction
// chunk writes.
//
// With Config.RowKind set the table is a declared kind's: id text primary
// key, then each declared column, nullable (text text, int bigint, float
// double precision, bool boolean, json jsonb, vector real[], time
// timestamptz), then fingerprint text and content_sha256 bytea, which
// Lookup compares. A chunk's rows are copied into a staging table and
// upserted from it, rewriting only rows that differ, in the same
// one-transaction chunk writes.
package pgvector
