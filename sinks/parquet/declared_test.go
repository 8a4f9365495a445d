package parquet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/sinkstest"
)

var scoreKind, scoreRow = sinkstest.Kind, sinkstest.Row

func readDeclared(t *testing.T, dir, job string) []sinks.Row {
	t.Helper()
	var got []sinks.Row
	if err := ReadRows(dir, job, scoreKind, func(r sinks.Row) error { got = append(got, r); return nil }); err != nil {
		t.Fatalf("ReadRows: %v", err)
	}
	return got
}

func sameRows(t *testing.T, got, want []sinks.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if d := sinkstest.Diff(got[i], want[i]); d != "" {
			t.Fatal(d)
		}
	}
}

func TestDeclaredRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{RowKind: scoreKind})
	want := []sinks.Row{scoreRow("a", 0), scoreRow("b", 1), scoreRow("c", 2), scoreRow("d", 17)}
	fail := []sinks.Failure{{File: "in.jsonl", Line: 5, ID: "e", Reason: "too long"}}
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 2, Declared: want, Failed: fail}); err != nil {
		t.Fatal(err)
	}
	sameRows(t, readDeclared(t, dir, "job"), want)

	keys := []sinks.Key{
		{ID: "a", ContentSHA256: want[0].ContentSHA256, Fingerprint: "fp-1"},
		{ID: "b", ContentSHA256: want[1].ContentSHA256, Fingerprint: "fp-2"}, // another fingerprint
		{ID: "c", ContentSHA256: want[0].ContentSHA256, Fingerprint: "fp-1"}, // another text
		{ID: "d", ContentSHA256: want[3].ContentSHA256, Fingerprint: "fp-1"},
		{ID: "e", Fingerprint: "fp-1"}, // failed: not stored
	}
	same, err := w.Lookup(ctx, "job", 2, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(same, map[string]bool{"a": true, "d": true}) {
		t.Errorf("Lookup = %v, want a and d", same)
	}

	if err := w.Finish(ctx, sinks.Summary{Job: "job", Written: 4, Failed: 1, Total: 5, Chunks: 3}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir, "job")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range m.Schema {
		cols = append(cols, fmt.Sprintf("%s %s %v", c.Name, c.Type, c.Nullable))
	}
	wantCols := []string{"id STRING false", "label STRING true", "tokens INT(64,true) true", "score DOUBLE true",
		"flagged BOOLEAN true", "detail STRING true", "weights LIST<FLOAT> true",
		"scored_at TIMESTAMP(isAdjustedToUTC=true,unit=MICROS) true", "fingerprint STRING false", "content_sha256 STRING false"}
	if !slices.Equal(cols, wantCols) {
		t.Errorf("manifest schema\n%s\nwant\n%s", strings.Join(cols, "\n"), strings.Join(wantCols, "\n"))
	}
	if m.Counts.Rows != 4 || len(m.Parts) != 1 {
		t.Errorf("manifest counts %+v parts %v", m.Counts, m.Parts)
	}
	failed, err := os.ReadFile(filepath.Join(dir, "job", FailedFile))
	if err != nil || !strings.Contains(string(failed), `"id":"e"`) {
		t.Errorf("%s = %q, %v", FailedFile, failed, err)
	}
}

func TestDeclaredKeptCarryOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c := scoreRow("A", 3), scoreRow("B", 4), scoreRow("C", 5)
	b2 := scoreRow("B", 6)
	tests := []struct {
		name    string
		rows    []sinks.Row
		kept    []string
		want    []sinks.Row
		wantErr error
	}{
		{"one written again, two kept", []sinks.Row{b2}, []string{"A", "C"}, []sinks.Row{a, c, b2}, nil},
		{"all kept", []sinks.Row{}, []string{"C", "A", "B"}, []sinks.Row{a, b, c}, nil},
		// The writer's kind, not the chunk's rows, says what it holds.
		{"one kept, no rows at all", nil, []string{"A"}, []sinks.Row{a}, nil},
		{"kept and written again both name B", []sinks.Row{b2}, []string{"A", "B"}, []sinks.Row{a, b2}, nil},
		{"kept id missing from the part", []sinks.Row{b2}, []string{"A", "Z"}, nil, ErrKeptMissing},
		{"nothing left", []sinks.Row{}, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, dir := newTestWriter(t, Config{RowKind: scoreKind})
			if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 4, Declared: []sinks.Row{a, b, c}}); err != nil {
				t.Fatal(err)
			}
			part := filepath.Join(dir, "job", partName(4))
			before, err := os.Stat(part)
			if err != nil {
				t.Fatal(err)
			}
			err = w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 4, Declared: tc.rows, Kept: tc.kept})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("WriteChunk: %v, want %v", err, tc.wantErr)
			}
			got := readDeclared(t, dir, "job")
			if tc.wantErr != nil {
				sameRows(t, got, []sinks.Row{a, b, c}) // the previous part is untouched
				return
			}
			sameRows(t, got, tc.want)
			after, err := os.Stat(part)
			if len(tc.want) == 0 {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("part of a chunk with no rows left: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// A part that already holds exactly the kept rows is left alone.
			if allKept := len(tc.rows) == 0 && len(tc.kept) == 3; os.SameFile(before, after) != allKept {
				t.Errorf("part rewritten: %v, want %v", !os.SameFile(before, after), !allKept)
			}
		})
	}
}

func TestDeclaredWriteTwiceReplaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{RowKind: scoreKind})
	first := []sinks.Row{scoreRow("x", 2), scoreRow("y", 3)}
	again := []sinks.Row{scoreRow("x", 7)}
	for _, rows := range [][]sinks.Row{first, first, again} {
		if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 0, Declared: rows}); err != nil {
			t.Fatal(err)
		}
	}
	sameRows(t, readDeclared(t, dir, "job"), again)
}

func TestDeclaredRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, dir := newTestWriter(t, Config{RowKind: scoreKind})
	good := scoreRow("good", 2)
	wrongType := scoreRow("bad", 2)
	wrongType.Values[1] = 7 // an int, not an int64
	short := scoreRow("short", 2)
	short.Values = short.Values[:3]
	notJSON := scoreRow("nojson", 2)
	notJSON.Values[4] = json.RawMessage(`{`)
	for _, bad := range []sinks.Row{wrongType, short, notJSON, {Values: make([]any, len(scoreKind.Columns))}} {
		err := w.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 1, Declared: []sinks.Row{good, bad}})
		if err == nil {
			t.Errorf("row %+v written", bad)
		}
	}
	if got := listDir(t, filepath.Join(dir, "job")); len(got) != 0 {
		t.Errorf("job dir holds %v after refused writes", got)
	}

	plain, _ := newTestWriter(t, Config{})
	if err := plain.WriteChunk(ctx, &sinks.Chunk{Job: "job", Number: 1, Declared: []sinks.Row{good}}); err == nil {
		t.Error("declared rows written by a writer given no row kind")
	}
	if _, err := New(Config{Dir: t.TempDir(), RowKind: &sinks.RowKind{Name: "k", Columns: []sinks.Column{{Name: "id", Type: sinks.TypeText}}}}); err == nil {
		t.Error("New accepted a kind redeclaring the id column")
	}
}
