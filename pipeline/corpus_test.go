package pipeline_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/passage"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// longDoc is a document of n sentences of about 40 bytes each.
func longDoc(doc, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "Document %d says %s sentence %d here.", doc, words[(doc+i)%len(words)], i)
	}
	return b.String()
}

// writeDocs writes docs (id → text) as JSONL in sorted id order.
func writeDocs(t *testing.T, path string, docs map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(docs)) {
		fmt.Fprintf(&b, "{\"id\":%q,\"text\":%q}\n", id, docs[id])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantPassages is every passage of docs under split, by passage id.
func wantPassages(split string, docs map[string]string) map[string]sinks.Passage {
	spec, _ := passage.Parse(split)
	out := map[string]sinks.Passage{}
	for id, text := range docs {
		for _, p := range spec.Split(text) {
			out[passage.ID(id, p.Index)] = sinks.Passage{Text: p.Text, DocID: id, ChunkIndex: p.Index, CharStart: p.CharStart, CharEnd: p.CharEnd}
		}
	}
	return out
}

// checkPassages compares rows to want passage by passage: each once, its
// text, place and vector (the fake's embedding of the passage's text).
func checkPassages(t *testing.T, spec pipeline.Spec, rows []sinks.Embedding, want map[string]sinks.Passage) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.ID] {
			t.Fatalf("passage %s stored twice", r.ID)
		}
		seen[r.ID] = true
		w, ok := want[r.ID]
		if !ok {
			t.Fatalf("stale or unknown passage %s (%+v)", r.ID, r.Passage)
		}
		if r.Passage != w {
			t.Fatalf("passage %s: %+v, want %+v", r.ID, r.Passage, w)
		}
		v := coheretest.Embedding(spec.Model, spec.InputType, w.Text, spec.Dims())
		if !slices.Equal(r.Float, v) {
			t.Fatalf("passage %s: vector is not the embedding of its text", r.ID)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d passages stored, want %d", len(seen), len(want))
	}
}

func readParquetRows(t *testing.T, dir, job string) []sinks.Embedding {
	t.Helper()
	var rows []sinks.Embedding
	if err := parquet.ReadJob(dir, job, func(e sinks.Embedding) error { rows = append(rows, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return rows
}

func readTableRows(t *testing.T, conn *pgx.Conn, table string) []sinks.Embedding {
	t.Helper()
	rs, err := conn.Query(context.Background(), "SELECT id, embedding, text, doc_id, chunk_index, char_start, char_end FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	var rows []sinks.Embedding
	for rs.Next() {
		var e sinks.Embedding
		var v pgv.Vector
		var idx, start, end int32
		if err := rs.Scan(&e.ID, &v, &e.Text, &e.DocID, &idx, &start, &end); err != nil {
			t.Fatal(err)
		}
		e.Float, e.ChunkIndex, e.CharStart, e.CharEnd = v.Slice(), int(idx), int(start), int(end)
		rows = append(rows, e)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestSplitPassagesBothSinks: documents become passages with their text
// and place in both sinks; an unchanged re-run costs no call; a document
// that shrank from 7 passages to 5 keeps no passage 6 or 7.
func TestSplitPassagesBothSinks(t *testing.T) {
	t.Parallel()
	for _, sink := range []string{"parquet", "postgres"} {
		t.Run(sink, func(t *testing.T) {
			h := newHarness(t)
			if sink == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(2)
			const split = "tokens:256"
			docs := map[string]string{}
			for i := range 40 {
				docs[fmt.Sprintf("doc-%02d", i)] = longDoc(i, 1+i%12)
			}
			docs["doc-07"] = longDoc(7, 42) // 7 passages of at most 256 bytes
			path := filepath.Join(t.TempDir(), "docs.jsonl")
			writeDocs(t, path, docs)
			night := 0
			run := func() (pipeline.Status, []sinks.Embedding, pipeline.Spec) {
				night++
				job := "corpus"
				if sink == "postgres" {
					job = fmt.Sprintf("night-%d", night) // the table carries over, job after job
				}
				spec := pipeline.Spec{ID: job, Model: "embed-v4.0", Dimensions: 256, Inputs: []string{path}, ChunkSize: 7,
					Sink: "parquet:" + h.out, CorpusOptions: pipeline.CorpusOptions{Split: split, StoreText: true}}
				if sink == "postgres" {
					spec.Sink, spec.Table = "postgres", "passages"
				}
				spec = spec.WithDefaults()
				if err := spec.Validate(); err != nil {
					t.Fatal(err)
				}
				if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
					t.Fatal(err)
				}
				h.fake.ResetStats()
				st := h.run(spec)
				if st.State != jobstore.StateDone || st.Total() != int64(len(docs)) {
					t.Fatalf("night %d: %s, total %d of %d docs (%s)", night, st.State, st.Total(), len(docs), st.Reason)
				}
				if sink == "postgres" {
					return st, readTableRows(t, connect(t, h.dbURL), "passages"), spec
				}
				return st, readParquetRows(t, h.out, spec.ID), spec
			}
			st, rows, spec := run()
			want := wantPassages(split, docs)
			if n := len(wantPassages(split, map[string]string{"d": docs["doc-07"]})); n != 7 {
				t.Fatalf("doc-07 makes %d passages, want 7", n)
			}
			checkPassages(t, spec, rows, want)
			if st.Written != int64(len(docs)) || h.fake.Stats().EmbeddedTexts != len(want) {
				t.Fatalf("first run: %d docs written, %d texts embedded; want %d, %d", st.Written, h.fake.Stats().EmbeddedTexts, len(docs), len(want))
			}

			st, rows, spec = run()
			checkPassages(t, spec, rows, want)
			if st.Skipped != int64(len(docs)) || h.fake.Stats().EmbeddedTexts != 0 {
				t.Fatalf("unchanged re-run: %d docs skipped, %d texts embedded", st.Skipped, h.fake.Stats().EmbeddedTexts)
			}

			docs["doc-07"] = longDoc(7, 29) // now 5 passages
			writeDocs(t, path, docs)
			st, rows, spec = run()
			want = wantPassages(split, docs)
			if n := len(wantPassages(split, map[string]string{"d": docs["doc-07"]})); n != 5 {
				t.Fatalf("shrunk doc-07 makes %d passages, want 5", n)
			}
			checkPassages(t, spec, rows, want)
			if st.Written != 1 || st.Skipped != int64(len(docs)-1) || h.fake.Stats().EmbeddedTexts != 5 {
				t.Fatalf("after doc-07 shrank: written %d skipped %d, embedded %d texts; want 1, %d, 5", st.Written, st.Skipped, h.fake.Stats().EmbeddedTexts, len(docs)-1)
			}
		})
	}
}

// TestTruncatedCounted: without -split, texts longer than the model's
// context are counted as truncated, never silently.
func TestTruncatedCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(2)
	docs := map[string]string{}
	for i := range 10 {
		docs[fmt.Sprintf("doc-%02d", i)] = longDoc(i, 1+i*3) // 40 bytes a sentence: 4 of them pass 512 tokens' bound
	}
	path := filepath.Join(t.TempDir(), "docs.jsonl")
	writeDocs(t, path, docs)
	spec := pipeline.Spec{ID: "trunc", Model: "embed-english-v3.0", Inputs: []string{path}, Sink: "parquet:" + h.out}.WithDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	st := h.run(spec)
	var long int64
	for _, text := range docs {
		if len(text) > 512-passage.Reserved {
			long++
		}
	}
	if st.State != jobstore.StateDone || st.Truncated != long || long == 0 {
		t.Fatalf("%s: truncated %d, want %d", st.State, st.Truncated, long)
	}
}

// TestNightlyParquetSnapshot: a date-stamped nightly job into the same
// directory pays only for what changed since the night before, and each
// night's directory is a complete snapshot.
func TestNightlyParquetSnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(2)
	path, texts := writeCorpus(t, 2000, corpusText)
	night := func(n int, wantEmbedded int) pipeline.Spec {
		t.Helper()
		spec := h.spec(fmt.Sprintf("nightly-2026-12-%02d", n), path)
		h.fake.ResetStats()
		st := h.run(spec)
		if st.State != jobstore.StateDone || st.Total() != 2000 || st.Written != int64(wantEmbedded) || h.fake.Stats().EmbeddedTexts != wantEmbedded {
			t.Fatalf("night %d: %s written %d skipped %d, fake embedded %d; want %d embedded (%s)",
				n, st.State, st.Written, st.Skipped, h.fake.Stats().EmbeddedTexts, wantEmbedded, st.Reason)
		}
		checkParquet(t, h.out, spec, texts)
		return spec
	}
	night(1, 2000)
	night(2, 0)
	for i := range 100 {
		id := fmt.Sprintf("doc-%05d", i*19)
		texts[id] += " (revised)"
	}
	writeDocs(t, path, texts)
	night(3, 100)
}

// TestPruneBothSinks: -prune deletes the rows (passages included) of the
// documents gone from the input, counts them, and -prune-dry-run only
// lists them.
func TestPruneBothSinks(t *testing.T) {
	t.Parallel()
	for _, sink := range []string{"parquet", "postgres"} {
		t.Run(sink, func(t *testing.T) {
			h := newHarness(t)
			if sink == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(2)
			const split = "tokens:256"
			docs := map[string]string{}
			for i := range 30 {
				docs[fmt.Sprintf("doc-%02d", i)] = longDoc(i, 1+i%9)
			}
			path := filepath.Join(t.TempDir(), "docs.jsonl")
			writeDocs(t, path, docs)
			night := 0
			run := func(prune, dry bool) (pipeline.Status, []sinks.Embedding, pipeline.Spec) {
				night++
				spec := pipeline.Spec{ID: fmt.Sprintf("night-%d", night), Model: "embed-v4.0", Dimensions: 256, Inputs: []string{path}, ChunkSize: 8,
					Sink: "parquet:" + h.out, CorpusOptions: pipeline.CorpusOptions{Split: split, StoreText: true, Prune: prune, PruneDryRun: dry}}
				if sink == "postgres" {
					spec.Sink, spec.Table = "postgres", "pruned"
				}
				spec = spec.WithDefaults()
				if err := spec.Validate(); err != nil {
					t.Fatal(err)
				}
				if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
					t.Fatal(err)
				}
				st := h.run(spec)
				if st.State != jobstore.StateDone || st.Total() != int64(len(docs)) {
					t.Fatalf("night %d: %s, total %d of %d (%s)", night, st.State, st.Total(), len(docs), st.Reason)
				}
				if sink == "postgres" {
					return st, readTableRows(t, connect(t, h.dbURL), "pruned"), spec
				}
				return st, readParquetRows(t, h.out, spec.ID), spec
			}
			_, rows, spec := run(false, false)
			checkPassages(t, spec, rows, wantPassages(split, docs))

			gone := wantPassages(split, map[string]string{"doc-08": docs["doc-08"], "doc-17": docs["doc-17"], "doc-29": docs["doc-29"]})
			before := wantPassages(split, docs)
			delete(docs, "doc-08")
			delete(docs, "doc-17")
			delete(docs, "doc-29")
			writeDocs(t, path, docs)

			st, rows, spec := run(true, true)
			if st.Pruned != int64(len(gone)) || st.Skipped != int64(len(docs)) {
				t.Fatalf("dry run: pruned %d, skipped %d; want %d, %d", st.Pruned, st.Skipped, len(gone), len(docs))
			}
			checkPassages(t, spec, rows, before) // nothing deleted: a snapshot carries the gone documents' rows

			st, rows, spec = run(true, false)
			if st.Pruned != int64(len(gone)) {
				t.Fatalf("prune: pruned %d, want %d", st.Pruned, len(gone))
			}
			checkPassages(t, spec, rows, wantPassages(split, docs))
			if sink == "parquet" {
				m, err := parquet.ReadManifest(h.out, spec.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(m.Pruned, slices.Sorted(maps.Keys(gone))) || m.Previous != "night-2" {
					t.Fatalf("manifest: pruned %q (previous %q), want %q", m.Pruned, m.Previous, slices.Sorted(maps.Keys(gone)))
				}
			}
		})
	}
}

// TestPruneRefusedForStdin: stdin cannot show it is the whole corpus.
func TestPruneRefusedForStdin(t *testing.T) {
	spec := pipeline.Spec{ID: "p", Inputs: []string{"-"}, Sink: "parquet:/tmp/x", CorpusOptions: pipeline.CorpusOptions{Prune: true}}.WithDefaults()
	if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "-prune: refused for stdin") {
		t.Fatalf("validate: %v", err)
	}
}
