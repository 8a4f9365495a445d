package pgvector_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	pgv "github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
)

func TestWriteChunkBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const d, total, size = 128, 10_000, 500
	url := testenv.DatabaseURL(t)
	w := open(t, pgvector.Config{URL: url, Table: "docs", Dims: d})
	all := rows("doc", 0, total, d, 1)
	for n := 0; n < total/size; n++ {
		if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "backfill", Number: n, Rows: all[n*size : (n+1)*size]}); err != nil {
			t.Fatalf("chunk %d: %v", n, err)
		}
	}
	c := connect(t, url)
	if got := count(t, c, "SELECT count(*) FROM docs"); got != total {
		t.Fatalf("rows = %d, want %d", got, total)
	}
	if got := count(t, c, "SELECT count(DISTINCT id) FROM docs"); got != total {
		t.Fatalf("distinct ids = %d, want %d", got, total)
	}
	chunks := chunkRows(t, c, "backfill")
	if len(chunks) != total/size {
		t.Fatalf("bookkeeping has %d chunks, want %d", len(chunks), total/size)
	}
	for n, r := range chunks {
		if r != (chunkRow{written: size}) {
			t.Fatalf("chunk %d bookkeeping = %+v, want written %d", n, r, size)
		}
	}

	rs, err := c.Query(ctx, "SELECT id, embedding::real[], model, input_type, fingerprint, content_sha256, metadata->>'id' FROM docs")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]sinks.Embedding{}
	for _, e := range all {
		want[e.ID] = e
	}
	n := 0
	for rs.Next() {
		var id, model, it, fp, metaID string
		var v []float32
		var sha []byte
		if err := rs.Scan(&id, &v, &model, &it, &fp, &sha, &metaID); err != nil {
			t.Fatal(err)
		}
		e := want[id]
		if !slices.Equal(v, e.Float) {
			t.Fatalf("%s: vector differs from what was written", id)
		}
		if model != e.Model || it != e.InputType || fp != e.Fingerprint || string(sha) != string(e.ContentSHA256[:]) || metaID != id {
			t.Fatalf("%s: got %q %q %q %x %q", id, model, it, fp, sha, metaID)
		}
		n++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Fatalf("read %d rows, want %d", n, total)
	}

	for _, id := range []string{"doc-000000", "doc-004321", "doc-009999"} {
		var got []string
		rs, err := c.Query(ctx, "SELECT id FROM docs ORDER BY embedding <=> $1 LIMIT 5", pgv.NewVector(want[id].Float))
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var s string
			if err := rs.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		if len(got) != 5 || got[0] != id {
			t.Fatalf("nearest to %s = %v, want it first of 5", id, got)
		}
	}
}

func TestWriteChunkIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const d = 64
	chunk := func(n int) *sinks.Chunk {
		return &sinks.Chunk{
			Job: "j", Number: n,
			Rows:   rows("r", n*1000, 300, d, 1),
			Kept:   []string{"k1", "k2"},
			Failed: []sinks.Failure{{File: "in.jsonl", Line: 7, ID: "bad", Reason: "empty text"}},
		}
	}
	want := chunkRow{written: 300, skipped: 2, failed: 1}

	t.Run("sequential", func(t *testing.T) {
		t.Parallel()
		url := testenv.DatabaseURL(t)
		w := open(t, pgvector.Config{URL: url, Table: "docs", Dims: d})
		c := connect(t, url)
		if err := w.WriteChunk(ctx, chunk(0)); err != nil {
			t.Fatal(err)
		}
		before := xmins(t, c, "docs")
		bookBefore := count(t, c, "SELECT xmin::text::int FROM cobatch_chunks")
		failBefore := count(t, c, "SELECT xmin::text::int FROM cobatch_failures")
		if err := w.WriteChunk(ctx, chunk(0)); err != nil {
			t.Fatal(err)
		}
		after := xmins(t, c, "docs")
		if len(after) != 300 {
			t.Fatalf("rows = %d, want 300", len(after))
		}
		for id, x := range before {
			if after[id] != x {
				t.Fatalf("row %s rewritten by the second write", id)
			}
		}
		if got := chunkRows(t, c, "j"); len(got) != 1 || got[0] != want {
			t.Fatalf("bookkeeping = %+v, want chunk 0 = %+v", got, want)
		}
		if count(t, c, "SELECT xmin::text::int FROM cobatch_chunks") != bookBefore ||
			count(t, c, "SELECT xmin::text::int FROM cobatch_failures") != failBefore {
			t.Fatal("bookkeeping rewritten by the second write")
		}
		if got := count(t, c, "SELECT count(*) FROM cobatch_failures WHERE job = 'j' AND chunk = 0 AND id = 'bad' AND line = 7"); got != 1 {
			t.Fatalf("dead letters = %d, want 1", got)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		url := testenv.DatabaseURL(t)
		a := open(t, pgvector.Config{URL: url, Table: "docs", Dims: d})
		b := open(t, pgvector.Config{URL: url, Table: "docs", Dims: d})
		c := connect(t, url)
		// Several rounds: the two copies start together and race for the
		// chunk each time, on both the fresh and the upsert path.
		for n := range 4 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, w := range []*pgvector.Writer{a, b} {
				wg.Go(func() { errs[i] = w.WriteChunk(ctx, chunk(n)) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatalf("chunk %d: %v", n, err)
				}
			}
			if got := count(t, c, "SELECT count(DISTINCT xmin::text) FROM docs WHERE id LIKE 'r-%' AND substr(id, 3)::int / 1000 = $1", n); got != 1 {
				t.Fatalf("chunk %d: rows written by %d transactions, want 1", n, got)
			}
		}
		if got := count(t, c, "SELECT count(*) FROM docs"); got != 1200 {
			t.Fatalf("rows = %d, want 1200", got)
		}
		got := chunkRows(t, c, "j")
		if len(got) != 4 {
			t.Fatalf("bookkeeping has %d chunks, want 4", len(got))
		}
		for n, r := range got {
			if r != want {
				t.Fatalf("chunk %d bookkeeping = %+v, want %+v", n, r, want)
			}
		}
		if got := count(t, c, "SELECT count(*) FROM cobatch_failures"); got != 4 {
			t.Fatalf("dead letters = %d, want 4", got)
		}
	})

	t.Run("changed rows only", func(t *testing.T) {
		t.Parallel()
		url := testenv.DatabaseURL(t)
		w := open(t, pgvector.Config{URL: url, Table: "docs", Dims: d})
		c := connect(t, url)
		ch := chunk(0)
		if err := w.WriteChunk(ctx, ch); err != nil {
			t.Fatal(err)
		}
		before := xmins(t, c, "docs")
		changed := map[string]bool{}
		for i := 0; i < 300; i += 30 {
			ch.Rows[i] = row(ch.Rows[i].ID, d, 2)
			changed[ch.Rows[i].ID] = true
		}
		ch.Failed = nil
		if err := w.WriteChunk(ctx, ch); err != nil {
			t.Fatal(err)
		}
		after := xmins(t, c, "docs")
		rewritten := 0
		for id, x := range before {
			if after[id] != x {
				rewritten++
				if !changed[id] {
					t.Fatalf("unchanged row %s rewritten", id)
				}
			}
		}
		if rewritten != len(changed) {
			t.Fatalf("rewrote %d rows, want %d", rewritten, len(changed))
		}
		var v pgv.Vector
		if err := c.QueryRow(ctx, "SELECT embedding FROM docs WHERE id = $1", ch.Rows[30].ID).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v.Slice(), ch.Rows[30].Float) {
			t.Fatal("changed vector not stored")
		}
		if got := chunkRows(t, c, "j"); got[0] != (chunkRow{written: 300, skipped: 2}) {
			t.Fatalf("bookkeeping = %+v, want written 300 skipped 2 failed 0", got[0])
		}
		if got := count(t, c, "SELECT count(*) FROM cobatch_failures"); got != 0 {
			t.Fatalf("dead letters = %d, want 0 after a run without failures", got)
		}
	})
}

func TestWriteChunkDuplicateIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	w := open(t, pgvector.Config{URL: url, Table: "docs", Dims: 8})
	first, last := row("same", 8, 1), row("same", 8, 2)
	// In one chunk the later record wins; across chunks racing for one id,
	// both commit and the row holds one of them.
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Number: 0, Rows: []sinks.Embedding{first, last}}); err != nil {
		t.Fatal(err)
	}
	c := connect(t, url)
	var v pgv.Vector
	if err := c.QueryRow(ctx, "SELECT embedding FROM docs WHERE id = 'same'").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Slice(), last.Float) {
		t.Fatal("the later record of a duplicated id did not win")
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Number: 1 + i, Rows: rows("shared", 0, 50, 8, uint64(i))})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("chunk %d: %v", 1+i, err)
		}
	}
	if got := count(t, c, "SELECT count(*) FROM docs"); got != 51 {
		t.Fatalf("rows = %d, want 51", got)
	}
	if got := count(t, c, "SELECT count(*) FROM cobatch_chunks"); got != 9 {
		t.Fatalf("bookkeeping rows = %d, want 9", got)
	}
}

func TestExisting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := open(t, pgvector.Config{Table: "docs", Dims: 8})
	stored := rows("e", 0, 4, 8, 1)
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Rows: stored}); err != nil {
		t.Fatal(err)
	}
	key := func(e sinks.Embedding) sinks.Key {
		return sinks.Key{ID: e.ID, ContentSHA256: e.ContentSHA256, Fingerprint: e.Fingerprint}
	}
	changedHash := key(stored[1])
	changedHash.ContentSHA256[0] ^= 1
	changedFP := key(stored[2])
	changedFP.Fingerprint = "fp-2"
	absent := key(row("e-999999", 8, 1))
	got, err := w.Lookup(ctx, "j", 0, []sinks.Key{key(stored[0]), changedHash, changedFP, absent, key(stored[3])})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{stored[0].ID: true, stored[3].ID: true}
	if len(got) != len(want) || !got[stored[0].ID] || !got[stored[3].ID] {
		t.Fatalf("existing = %v, want %v (changed hash, changed fingerprint and absent ids excluded)", got, want)
	}
	if got, err := w.Lookup(ctx, "j", 0, nil); err != nil || len(got) != 0 {
		t.Fatalf("existing(nil) = %v, %v", got, err)
	}
}

func TestChunkDoneAndFinish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	w := open(t, pgvector.Config{URL: url, Table: "docs", Dims: 8})
	if done, err := w.ChunkDone(ctx, "j", 3); err != nil || done {
		t.Fatalf("before write: done = %v, %v", done, err)
	}
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Number: 3, Kept: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if done, err := w.ChunkDone(ctx, "j", 3); err != nil || !done {
		t.Fatalf("after write: done = %v, %v", done, err)
	}
	s := sinks.Summary{Job: "j", Model: "m", Fingerprint: "fp", Written: 5, Skipped: 1, Failed: 2, Total: 8, Chunks: 1, TokensIn: 40}
	for range 2 {
		if err := w.Finish(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	c := connect(t, url)
	var written, skipped, failed, total int64
	if err := c.QueryRow(ctx, "SELECT written, skipped, failed, total FROM cobatch_jobs WHERE job = 'j'").Scan(&written, &skipped, &failed, &total); err != nil {
		t.Fatal(err)
	}
	if written != 5 || skipped != 1 || failed != 2 || total != 8 {
		t.Fatalf("summary = %d/%d/%d/%d, want 5/1/2/8", written, skipped, failed, total)
	}
}
