package parquet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go/format"

	"github.com/cobatch/cobatch/sinks"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	common := []string{"model", "input_type", "fingerprint", "content_sha256", "metadata", "embedded_at"}
	tests := []struct {
		name    string
		set     vectorSet
		dims    int
		columns []string
	}{
		{"float", vecFloat, 1024, []string{"id", "embedding"}},
		{"int8", vecInt8, 256, []string{"id", "embedding_int8"}},
		{"uint8", vecUint8, 256, []string{"id", "embedding_uint8"}},
		{"binary", vecBinary, 1024, []string{"id", "embedding_binary"}},
		{"float and binary", vecFloat | vecBinary, 512, []string{"id", "embedding", "embedding_binary"}},
		{"all four", vecAll, 64, []string{"id", "embedding", "embedding_int8", "embedding_uint8", "embedding_binary"}},
		{"no vectors", 0, 8, []string{"id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, dir := newTestWriter(t, Config{})
			want := rows("r", 37, tc.set, tc.dims)
			if err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "job", Number: 5, Rows: want}); err != nil {
				t.Fatalf("WriteChunk: %v", err)
			}
			assertSame(t, readAll(t, dir, "job"), want)

			pf, f, err := openPart(filepath.Join(dir, "job", "part-000005.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var cols []string
			for _, fld := range pf.Schema().Fields() {
				cols = append(cols, fld.Name())
			}
			if wantCols := append(tc.columns, common...); !slices.Equal(cols, wantCols) {
				t.Errorf("columns %v, want %v", cols, wantCols)
			}
		})
	}
}

func TestSchemaLogicalTypes(t *testing.T) {
	t.Parallel()
	w, dir := newTestWriter(t, Config{})
	if err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "job", Number: 0, Rows: rows("r", 2, vecAll, 16)}); err != nil {
		t.Fatal(err)
	}
	pf, f, err := openPart(filepath.Join(dir, "job", "part-000000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const want = `message embedding {
	required binary id (STRING);
	required group embedding (LIST) {
		repeated group list {
			required float element;
		}
	}
	required group embedding_int8 (LIST) {
		repeated group list {
			required int32 element (INT(8,true));
		}
	}
	required group embedding_uint8 (LIST) {
		repeated group list {
			required int32 element (INT(8,false));
		}
	}
	required binary embedding_binary;
	required binary model (STRING);
	required binary input_type (STRING);
	required binary fingerprint (STRING);
	required binary content_sha256 (STRING);
	optional binary metadata (STRING);
	required int64 embedded_at (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS));
}`
	if got := pf.Schema().String(); got != want {
		t.Errorf("schema:\n%s\nwant:\n%s", got, want)
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config string
		codec  format.CompressionCodec
	}{
		{"default is zstd", "", format.Zstd},
		{"zstd", "zstd", format.Zstd},
		{"snappy", "snappy", format.Snappy},
		{"none", "none", format.Uncompressed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, dir := newTestWriter(t, Config{Compression: tc.config})
			if err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "job", Number: 1, Rows: rows("r", 10, vecFloat, 32)}); err != nil {
				t.Fatal(err)
			}
			pf, f, err := openPart(filepath.Join(dir, "job", "part-000001.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			md := pf.Metadata()
			if len(md.RowGroups) != 1 {
				t.Fatalf("%d row groups, want 1", len(md.RowGroups))
			}
			for _, c := range md.RowGroups[0].Columns {
				if c.MetaData.Codec != tc.codec {
					t.Errorf("column %v: codec %v, want %v", c.MetaData.PathInSchema, c.MetaData.Codec, tc.codec)
				}
			}
		})
	}
}

func TestRowGroupRows(t *testing.T) {
	t.Parallel()
	w, dir := newTestWriter(t, Config{RowGroupRows: 10})
	want := rows("r", 25, vecFloat, 16)
	if err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "job", Number: 1, Rows: want}); err != nil {
		t.Fatal(err)
	}
	pf, f, err := openPart(filepath.Join(dir, "job", "part-000001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sizes []int64
	for _, rg := range pf.RowGroups() {
		sizes = append(sizes, rg.NumRows())
	}
	if !slices.Equal(sizes, []int64{10, 10, 5}) {
		t.Errorf("row groups %v, want [10 10 5]", sizes)
	}
	assertSame(t, readAll(t, dir, "job"), want)
}

func TestWriteChunkTwiceReplaces(t *testing.T) {
	t.Parallel()
	w, dir := newTestWriter(t, Config{})
	ctx := context.Background()
	first := rows("r", 20, vecFloat, 64)
	second := rows("r", 20, vecFloat, 64)
	for i := range second {
		second[i].Float[0] = 42
	}
	for _, rs := range [][]sinks.Embedding{first, second} {
		if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 9, Rows: rs}); err != nil {
			t.Fatal(err)
		}
	}
	if got := listDir(t, filepath.Join(dir, "job")); !slices.Equal(got, []string{"part-000009.parquet"}) {
		t.Errorf("job dir holds %v, want only part-000009.parquet", got)
	}
	assertSame(t, readAll(t, dir, "job"), second)
}

func TestConcurrentCopiesOfAChunk(t *testing.T) {
	t.Parallel()
	w, dir := newTestWriter(t, Config{})
	want := rows("r", 50, vecFloat, 128)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = w.WriteChunk(context.Background(), &sinks.Chunk{Job: "job", Number: 2, Rows: want})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, filepath.Join(dir, "job")); !slices.Equal(got, []string{"part-000002.parquet"}) {
		t.Errorf("job dir holds %v, want only part-000002.parquet", got)
	}
	assertSame(t, readAll(t, dir, "job"), want)
}

func TestKeptCarryOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c := row("A", vecFloat|vecInt8, 32, 1), row("B", vecFloat|vecInt8, 32, 2), row("C", vecFloat|vecInt8, 32, 3)
	b2 := row("B", vecFloat|vecInt8, 32, 22)

	tests := []struct {
		name    string
		rows    []sinks.Embedding
		kept    []string
		want    []sinks.Embedding
		wantErr error
	}{
		{"one re-embedded, two kept", []sinks.Embedding{b2}, []string{"A", "C"}, []sinks.Embedding{a, c, b2}, nil},
		{"all kept", nil, []string{"C", "A", "B"}, []sinks.Embedding{a, b, c}, nil},
		{"kept and re-embedded both name B", []sinks.Embedding{b2}, []string{"A", "B"}, []sinks.Embedding{a, b2}, nil},
		{"kept id missing from the part", []sinks.Embedding{b2}, []string{"A", "Z"}, nil, ErrKeptMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, dir := newTestWriter(t, Config{})
			if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 4, Rows: []sinks.Embedding{a, b, c}}); err != nil {
				t.Fatal(err)
			}
			err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 4, Rows: tc.rows, Kept: tc.kept})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("WriteChunk: %v, want %v", err, tc.wantErr)
			}
			got := readAll(t, dir, "job")
			if tc.wantErr != nil {
				assertSame(t, got, []sinks.Embedding{a, b, c}) // the previous part is untouched
				return
			}
			assertSame(t, got, tc.want)
		})
	}
}

func TestAllKeptLeavesPartAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{})
	want := rows("r", 4, vecFloat, 32)
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 6, Rows: want}); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "job", "part-000006.parquet")
	before, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	fail := []sinks.Failure{{File: "in.jsonl", Line: 9, ID: "r9", Reason: "empty text"}}
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 6, Kept: []string{"r3", "r1", "r0", "r2"}, Failed: fail}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("part was rewritten although every record was kept")
	}
	assertSame(t, readAll(t, dir, "job"), want)
	if got := listDir(t, filepath.Join(dir, "job", "failed")); !slices.Equal(got, []string{"part-000006.jsonl"}) {
		t.Errorf("failed/ holds %v", got)
	}
}

func TestKeptWithoutPreviousPart(t *testing.T) {
	t.Parallel()
	w, _ := newTestWriter(t, Config{})
	err := w.WriteChunk(context.Background(), &sinks.Chunk{Job: "job", Number: 1, Kept: []string{"A"}})
	if !errors.Is(err, ErrKeptMissing) {
		t.Fatalf("WriteChunk: %v, want ErrKeptMissing", err)
	}
}

func TestExisting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, _ := newTestWriter(t, Config{})
	stored := rows("r", 5, vecFloat, 16)
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 3, Rows: stored}); err != nil {
		t.Fatal(err)
	}
	key := func(e sinks.Embedding) sinks.Key {
		return sinks.Key{ID: e.ID, ContentSHA256: e.ContentSHA256, Fingerprint: e.Fingerprint}
	}
	changedHash := key(stored[1])
	changedHash.ContentSHA256[31] ^= 1
	changedFP := key(stored[2])
	changedFP.Fingerprint = "fp-2"

	tests := []struct {
		name  string
		chunk int
		keys  []sinks.Key
		want  []string
	}{
		{"matching", 3, []sinks.Key{key(stored[0]), key(stored[4])}, []string{"r0", "r4"}},
		{"changed hash", 3, []sinks.Key{changedHash}, nil},
		{"changed fingerprint", 3, []sinks.Key{changedFP}, nil},
		{"id not stored", 3, []sinks.Key{{ID: "zz", ContentSHA256: stored[0].ContentSHA256, Fingerprint: "fp-1"}}, nil},
		{"mixed", 3, []sinks.Key{key(stored[3]), changedHash, changedFP, key(stored[0])}, []string{"r0", "r3"}},
		{"absent part", 8, []sinks.Key{key(stored[0])}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := w.Lookup(ctx, "job", tc.chunk, tc.keys)
			if err != nil {
				t.Fatalf("Existing: %v", err)
			}
			var gotIDs []string
			for id, ok := range got {
				if !ok {
					t.Errorf("map holds %q as false; only true entries expected", id)
				}
				gotIDs = append(gotIDs, id)
			}
			slices.Sort(gotIDs)
			if !slices.Equal(gotIDs, tc.want) {
				t.Errorf("existing %v, want %v", gotIDs, tc.want)
			}
		})
	}
}

func TestEmptyChunkRemovesPart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{})
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 1, Rows: rows("r", 3, vecFloat, 8)}); err != nil {
		t.Fatal(err)
	}
	fail := []sinks.Failure{{File: "in.jsonl", Line: 1, ID: "r0", Reason: "empty text"}}
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 1, Failed: fail}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, dir, "job"); len(got) != 0 {
		t.Errorf("read %d rows, want 0", len(got))
	}
	if got := listDir(t, filepath.Join(dir, "job")); !slices.Equal(got, []string{"failed"}) {
		t.Errorf("job dir holds %v, want only failed/", got)
	}
}

func TestWriteChunkRejects(t *testing.T) {
	t.Parallel()
	mixed := rows("r", 3, vecFloat, 8)
	mixed[2].Int8 = []int8{1}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		chunk sinks.Chunk
		want  string
	}{
		{"mixed vector columns", context.Background(), sinks.Chunk{Job: "job", Number: 1, Rows: mixed}, `row "r2" has embeddings float,int8, row "r0" has float`},
		{"job with a slash", context.Background(), sinks.Chunk{Job: "a/b", Number: 1, Rows: rows("r", 1, vecFloat, 8)}, "invalid job name"},
		{"job dot-dot", context.Background(), sinks.Chunk{Job: "..", Number: 1, Rows: rows("r", 1, vecFloat, 8)}, "invalid job name"},
		{"empty job", context.Background(), sinks.Chunk{Number: 1}, "invalid job name"},
		{"negative chunk", context.Background(), sinks.Chunk{Job: "job", Number: -1}, "negative"},
		{"canceled", canceled, sinks.Chunk{Job: "job", Number: 1, Rows: rows("r", 1, vecFloat, 8)}, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, dir := newTestWriter(t, Config{})
			err := w.WriteChunk(tc.ctx, &tc.chunk)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteChunk: %v, want an error containing %q", err, tc.want)
			}
			if got := listDir(t, dir); len(got) > 0 && !slices.Equal(got, []string{"job"}) {
				t.Errorf("output root holds %v", got)
			}
			if got := readAll(t, dir, "job"); len(got) != 0 {
				t.Errorf("read %d rows after a rejected chunk", len(got))
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{}, "parquet: Dir is required"},
		{"bad compression", Config{Dir: "x", Compression: "gzip"}, `parquet: Compression must be zstd, snappy or none, not "gzip"`},
		{"negative row group", Config{Dir: "x", RowGroupRows: -1}, "parquet: RowGroupRows must be at least 1, not -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tc.cfg); err == nil || err.Error() != tc.want {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
}
