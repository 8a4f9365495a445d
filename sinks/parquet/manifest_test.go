package parquet

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

func TestFailedAndManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{})
	jd := filepath.Join(dir, "nightly")

	// Chunks written out of order, chunk 2 retried: its second run has no
	// failures left, so its dead letters must vanish.
	chunks := []sinks.Chunk{
		{Job: "nightly", Number: 10, Rows: rows("c10-", 3, vecFloat|vecBinary, 64), Failed: []sinks.Failure{
			{File: "b.jsonl", Line: 7, ID: "x7", Reason: "invalid JSON: unexpected end of input"},
		}},
		{Job: "nightly", Number: 2, Rows: rows("c2-", 4, vecFloat|vecBinary, 64), Failed: []sinks.Failure{
			{File: "a.jsonl", Line: 3, ID: "gone", Reason: "cohere: 400 bad input"},
		}},
		{Job: "nightly", Number: 0, Rows: rows("c0-", 2, vecFloat|vecBinary, 64), Failed: []sinks.Failure{
			{File: "a.jsonl", Line: 1, ID: "x1", Reason: "empty text"},
			{File: "data.parquet", Line: 0, Reason: "missing id"},
		}},
		{Job: "nightly", Number: 2, Rows: rows("c2-", 5, vecFloat|vecBinary, 64)},
		{Job: "nightly", Number: 1, Failed: []sinks.Failure{{File: "a.jsonl", Line: 2, ID: "x2", Reason: `text over 1 MiB "\n"`}}},
	}
	for i := range chunks {
		if err := w.WriteChunk(ctx, &chunks[i]); err != nil {
			t.Fatalf("WriteChunk %d: %v", chunks[i].Number, err)
		}
	}
	if got := listDir(t, filepath.Join(jd, "failed")); !slices.Equal(got, []string{"part-000000.jsonl", "part-000001.jsonl", "part-000010.jsonl"}) {
		t.Errorf("failed/ holds %v", got)
	}

	// What a crash in the middle of a write leaves behind.
	for _, stale := range []string{filepath.Join(jd, ".part-000002.parquet.123.tmp"), filepath.Join(jd, "failed", ".part-000000.jsonl.9.tmp")} {
		if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	sum := sinks.Summary{
		Job: "nightly", Model: "embed-v4.0", Fingerprint: "fp-1",
		Written: 10, Skipped: 0, Failed: 4, Total: 14, Chunks: 4, TokensIn: 1234,
		StartedAt: start, FinishedAt: start.Add(90 * time.Second),
	}
	if err := w.Finish(ctx, sum); err != nil {
		t.Fatalf("Finish: %v", err)
	}

	failed, err := os.ReadFile(filepath.Join(jd, "failed.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	const wantFailed = `{"file":"a.jsonl","line":1,"id":"x1","reason":"empty text"}
{"file":"data.parquet","line":0,"reason":"missing id"}
{"file":"a.jsonl","line":2,"id":"x2","reason":"text over 1 MiB \"\\n\""}
{"file":"b.jsonl","line":7,"id":"x7","reason":"invalid JSON: unexpected end of input"}
`
	if string(failed) != wantFailed {
		t.Errorf("failed.jsonl:\n%s\nwant:\n%s", failed, wantFailed)
	}

	m, err := ReadManifest(dir, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, p := range []string{"part-000000.parquet", "part-000002.parquet", "part-000010.parquet"} {
		st, err := os.Stat(filepath.Join(jd, p))
		if err != nil {
			t.Fatal(err)
		}
		sizes[p] = st.Size()
	}
	want := &Manifest{
		Job: "nightly", Model: "embed-v4.0", Fingerprint: "fp-1",
		Counts:   Counts{Written: 10, Skipped: 0, Failed: 4, Total: 14, Rows: 10},
		TokensIn: 1234, Chunks: 4,
		Schema: []Column{
			{Name: "id", Type: "STRING"},
			{Name: "embedding", Type: "LIST<FLOAT>"},
			{Name: "embedding_binary", Type: "BYTE_ARRAY"},
			{Name: "model", Type: "STRING"},
			{Name: "input_type", Type: "STRING"},
			{Name: "fingerprint", Type: "STRING"},
			{Name: "content_sha256", Type: "STRING"},
			{Name: "metadata", Type: "STRING", Nullable: true},
			{Name: "embedded_at", Type: "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
		},
		Parts: []Part{
			{File: "part-000000.parquet", Chunk: 0, Rows: 2, Bytes: sizes["part-000000.parquet"]},
			{File: "part-000002.parquet", Chunk: 2, Rows: 5, Bytes: sizes["part-000002.parquet"]},
			{File: "part-000010.parquet", Chunk: 10, Rows: 3, Bytes: sizes["part-000010.parquet"]},
		},
		FailedFile: "failed.jsonl",
		StartedAt:  start.UTC(), FinishedAt: start.Add(90 * time.Second).UTC(),
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("manifest:\n%+v\nwant:\n%+v", m, want)
	}
	if got := ids(readAll(t, dir, "nightly")); !slices.Equal(got, []string{"c0-0", "c0-1", "c2-0", "c2-1", "c2-2", "c2-3", "c2-4", "c10-0", "c10-1", "c10-2"}) {
		t.Errorf("ReadJob ids %v", got)
	}
	if got := listDir(t, jd); !slices.Equal(got, []string{"_manifest.json", "failed", "failed.jsonl", "part-000000.parquet", "part-000002.parquet", "part-000010.parquet"}) {
		t.Errorf("job dir holds %v", got)
	}
	if got := listDir(t, filepath.Join(jd, "failed")); !slices.Equal(got, []string{"part-000000.jsonl", "part-000001.jsonl", "part-000010.jsonl"}) {
		t.Errorf("failed/ holds %v after Finish", got)
	}
}

func TestFinishWithNothingWritten(t *testing.T) {
	t.Parallel()
	w, dir := newTestWriter(t, Config{})
	if err := w.Finish(context.Background(), sinks.Summary{Job: "empty"}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Parts) != 0 || len(m.Schema) != 0 || m.Counts != (Counts{}) {
		t.Errorf("manifest %+v, want no parts, schema or counts", m)
	}
	failed, err := os.ReadFile(filepath.Join(dir, "empty", "failed.jsonl"))
	if err != nil || len(failed) != 0 {
		t.Errorf("failed.jsonl = %q, %v; want empty", failed, err)
	}
}
