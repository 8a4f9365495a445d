package pgvector_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
	"github.com/cobatch/cobatch/sinks/sinkstest"
)

var scoreKind, scoreRow = sinkstest.Kind, sinkstest.Row

// scoreRows reads the table back by id, JSON values normalised by jsonb.
func scoreRows(t *testing.T, url, table string) map[string]sinks.Row {
	t.Helper()
	rs, err := connect(t, url).Query(context.Background(),
		"SELECT id, label, tokens, score, flagged, detail, weights, scored_at, fingerprint, content_sha256 FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sinks.Row{}
	for rs.Next() {
		var r sinks.Row
		var label *string
		var tokens *int64
		var score *float64
		var flagged *bool
		var detail []byte
		var weights []float32
		var at *time.Time
		var sha []byte
		if err := rs.Scan(&r.ID, &label, &tokens, &score, &flagged, &detail, &weights, &at, &r.Fingerprint, &sha); err != nil {
			t.Fatal(err)
		}
		copy(r.ContentSHA256[:], sha)
		r.Values = make([]any, len(scoreKind.Columns))
		for i, p := range []any{label, tokens, score, flagged} {
			if v := reflect.ValueOf(p); !v.IsNil() {
				r.Values[i] = v.Elem().Interface()
			}
		}
		if detail != nil {
			r.Values[4] = json.RawMessage(detail)
		}
		if weights != nil {
			r.Values[5] = weights
		}
		if at != nil {
			r.Values[6] = at.UTC()
		}
		if _, dup := got[r.ID]; dup {
			t.Fatalf("%s stored twice", r.ID)
		}
		got[r.ID] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func sameRow(t *testing.T, got, want sinks.Row) {
	t.Helper()
	if d := sinkstest.Diff(got, want); d != "" {
		t.Fatal(d)
	}
}

func TestDeclaredKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	cfg := pgvector.Config{URL: url, Table: "scores", Kind: "score", RowKind: scoreKind}
	w := open(t, cfg)
	c := connect(t, url)

	rs, err := c.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = 'scores'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rs.Next() {
		var name, typ string
		if err := rs.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, name+" "+typ)
	}
	wantCols := []string{"id text", "label text", "tokens bigint", "score double precision", "flagged boolean",
		"detail jsonb", "weights real[]", "scored_at timestamp with time zone", "fingerprint text", "content_sha256 bytea"}
	if !slices.Equal(cols, wantCols) {
		t.Fatalf("columns\n%s\nwant\n%s", strings.Join(cols, "\n"), strings.Join(wantCols, "\n"))
	}
	if got := count(t, c, `SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = 'scores'::regclass AND i.indisprimary AND a.attname = 'id'`); got != 1 {
		t.Fatalf("id is not the primary key")
	}

	want := []sinks.Row{scoreRow("a", 0), scoreRow("b", 1), scoreRow("c", 2), scoreRow("d", 17)}
	chunk := &sinks.Chunk{Job: "j", Number: 3, Declared: want, Kept: []string{"k"},
		Failed: []sinks.Failure{{File: "in.jsonl", Line: 9, ID: "e", Reason: "too long"}}}
	if err := w.WriteChunk(ctx, chunk); err != nil {
		t.Fatal(err)
	}
	got := scoreRows(t, url, "scores")
	if len(got) != len(want) {
		t.Fatalf("table holds %d rows, want %d", len(got), len(want))
	}
	for _, r := range want {
		sameRow(t, got[r.ID], r)
	}

	// A re-delivered chunk rewrites nothing; a changed row alone is rewritten.
	before := xmins(t, c, "scores")
	bookBefore := count(t, c, "SELECT xmin::text::int FROM cobatch_chunks")
	if err := w.WriteChunk(ctx, chunk); err != nil {
		t.Fatal(err)
	}
	if after := xmins(t, c, "scores"); !reflect.DeepEqual(after, before) {
		t.Fatalf("a re-delivered chunk rewrote rows: %v, then %v", before, after)
	}
	if count(t, c, "SELECT xmin::text::int FROM cobatch_chunks") != bookBefore {
		t.Fatal("bookkeeping rewritten by the re-delivered chunk")
	}
	if got := chunkRows(t, c, "j"); len(got) != 1 || got[3] != (chunkRow{written: 4, skipped: 1, failed: 1}) {
		t.Fatalf("bookkeeping = %+v, want chunk 3 written 4 skipped 1 failed 1", got)
	}
	if got := count(t, c, "SELECT count(*) FROM cobatch_failures WHERE job = 'j' AND chunk = 3 AND id = 'e' AND line = 9"); got != 1 {
		t.Fatalf("dead letters = %d, want 1", got)
	}
	changed := slices.Clone(want)
	changed[2] = scoreRow("c", 5)
	chunk.Declared, chunk.Failed = changed, nil
	if err := w.WriteChunk(ctx, chunk); err != nil {
		t.Fatal(err)
	}
	after := xmins(t, c, "scores")
	for id, x := range before {
		if (after[id] != x) != (id == "c") {
			t.Errorf("row %s rewritten: %v, want %v", id, after[id] != x, id == "c")
		}
	}
	sameRow(t, scoreRows(t, url, "scores")["c"], changed[2])
	if got := count(t, c, "SELECT count(*) FROM cobatch_failures"); got != 0 {
		t.Fatalf("dead letters = %d, want 0 after a run without failures", got)
	}

	keys := []sinks.Key{
		{ID: "a", ContentSHA256: want[0].ContentSHA256, Fingerprint: "fp-1"},
		{ID: "b", ContentSHA256: want[1].ContentSHA256, Fingerprint: "fp-2"}, // another fingerprint
		{ID: "c", ContentSHA256: want[2].ContentSHA256, Fingerprint: "fp-1"}, // changed since
		{ID: "d", ContentSHA256: want[3].ContentSHA256, Fingerprint: "fp-1"},
		{ID: "e", Fingerprint: "fp-1"}, // failed: not stored
	}
	same, err := w.Lookup(ctx, "j", 3, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(same, map[string]bool{"a": true, "d": true}) {
		t.Errorf("Lookup = %v, want a and d", same)
	}

	bad := scoreRow("bad", 2)
	bad.Values[1] = 7 // an int, not an int64
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Number: 4, Declared: []sinks.Row{scoreRow("f", 2), bad}}); err == nil {
		t.Fatal("a row of the wrong type was written")
	}
	if got := count(t, c, "SELECT count(*) FROM scores WHERE id IN ('f', 'bad')"); got != 0 {
		t.Fatalf("%d rows of a refused chunk stored", got)
	}

	// Opening again checks the table against the kind.
	open(t, cfg)
	other := &sinks.RowKind{Name: "score", Columns: slices.Clone(scoreKind.Columns)}
	other.Columns[1].Type = sinks.TypeText
	cfg.RowKind = other
	if w, err := pgvector.Open(ctx, cfg); err == nil {
		w.Close()
		t.Fatal("Open accepted a table whose tokens column is bigint for a text column")
	} else if !strings.Contains(err.Error(), "tokens") {
		t.Fatalf("error %q does not name the column", err)
	}
	cfg.RowKind = &sinks.RowKind{Name: "score", Columns: []sinks.Column{{Name: "fingerprint", Type: sinks.TypeText}}}
	if w, err := pgvector.Open(ctx, cfg); err == nil {
		w.Close()
		t.Fatal("Open accepted a kind redeclaring a key column")
	}
}
