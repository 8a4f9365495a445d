package input

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type pqRow struct {
	ID    int64   `parquet:"id"`
	Text  *string `parquet:"text,optional"`
	Lang  string  `parquet:"lang"`
	Score float64 `parquet:"score"`
}

// writeParquet writes n rows in row groups of 10; every 13th row has no text.
func writeParquet(t testing.TB, dir string, n int) (string, []string) {
	t.Helper()
	p := filepath.Join(dir, "d.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[pqRow](f, parquet.MaxRowsPerRowGroup(10), parquet.PageBufferSize(64))
	var want []string
	for i := range n {
		r := pqRow{ID: int64(1000 + i), Lang: "en", Score: float64(i) / 2}
		if i%13 == 5 {
			want = append(want, fmt.Sprintf(`ERR %d d.parquet:%d: field "text": missing text field`, 1000+i, i))
		} else {
			s := fmt.Sprintf("row %d", i)
			r.Text = &s
			want = append(want, fmt.Sprintf(`%d|row %d|{"lang":"en","score":%v}`, 1000+i, i, float64(i)/2))
		}
		if _, err := w.Write([]pqRow{r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, want
}

func TestParquetRowRanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, want := writeParquet(t, dir, 47)
	opts := Options{MetaFields: []string{"lang", "score", "absent"}}
	for _, per := range []int{1, 4, 10, 47, 100} {
		t.Run(fmt.Sprintf("per chunk %d", per), func(t *testing.T) {
			t.Parallel()
			ranges := splitAll(t, []string{p}, opts, per)
			if wantN := (47 + per - 1) / per; len(ranges) != wantN {
				t.Fatalf("got %d ranges, want %d", len(ranges), wantN)
			}
			for i, r := range ranges {
				if r.Start != int64(i*per) || r.FirstLine != r.Start || r.End-r.Start != int64(r.Records) || r.Format != FormatParquet {
					t.Errorf("range %d = %+v", i, r)
				}
			}
			equalStrings(t, brief(readAll(t, ranges, opts), dir), want)
		})
	}
	t.Run("ids from row", func(t *testing.T) {
		t.Parallel()
		o := Options{IDFrom: IDFromLine}
		r := Range{Path: p, Format: FormatParquet, Start: 21, End: 23, FirstLine: 21, Lines: 2, Records: 2}
		equalStrings(t, brief(readRange(t, r, o), dir), []string{"d.parquet:21|row 21", "d.parquet:22|row 22"})
	})
}

func TestParquetErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, _ := writeParquet(t, dir, 30)
	raw, _ := os.ReadFile(p)
	cut := filepath.Join(dir, "cut.parquet")
	os.WriteFile(cut, raw[:len(raw)-20], 0o644)
	garbage := filepath.Join(dir, "junk.parquet")
	os.WriteFile(garbage, []byte("PAR1 this is not parquet at all PAR1"), 0o644)
	tests := []struct {
		name    string
		path    string
		opts    Options
		want    string
		corrupt bool
	}{
		{name: "truncated footer", path: cut, want: "cut.parquet: corrupt input: parquet:", corrupt: true},
		{name: "garbage", path: garbage, want: "junk.parquet: corrupt input: parquet:", corrupt: true},
		{name: "no text column", path: p, opts: Options{TextFields: []string{"body"}}, want: `d.parquet: parquet file has no text column "body"`},
		{name: "text column not a string", path: p, opts: Options{TextFields: []string{"score"}}, want: `parquet text column "score" must be a string column`},
		{name: "no id column", path: p, opts: Options{IDField: "key"}, want: `parquet file has no id column "key" (set -id-field, or -id-from line|hash)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Split(t.Context(), []string{tc.path}, tc.opts, 10, func(Range) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrCorrupt) != tc.corrupt {
				t.Fatalf("Split error = %v, want %q (corrupt %v)", err, tc.want, tc.corrupt)
			}
			err = Read(t.Context(), Range{Path: tc.path, Format: FormatParquet, End: 1, Records: 1}, tc.opts, func(Record) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read error = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestParquetMaxRecordBytes: a row whose id, text and metadata values
// together pass Options.MaxRecordBytes is a bad record, as a long line is in
// the line formats; the rows around it are read.
func TestParquetMaxRecordBytes(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[pqRow](f)
	// Row 2 holds 100 bytes: 8 of id, 90 of text, 2 of lang.
	texts := []string{"short", strings.Repeat("x", 2<<20), strings.Repeat("y", 90), "after"}
	for i, s := range texts {
		if _, err := w.Write([]pqRow{{ID: int64(i), Text: &s, Lang: "en"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	meta := `|{"lang":"en"}`
	for _, tc := range []struct {
		max  int
		want []string
	}{
		{0, []string{"0|short" + meta, `ERR 1 big.parquet:1: row exceeds 1048576 bytes`, "2|" + texts[2] + meta, "3|after" + meta}},
		{99, []string{"0|short" + meta, `ERR 1 big.parquet:1: row exceeds 99 bytes`, `ERR 2 big.parquet:2: row exceeds 99 bytes`, "3|after" + meta}},
		{100, []string{"0|short" + meta, `ERR 1 big.parquet:1: row exceeds 100 bytes`, "2|" + texts[2] + meta, "3|after" + meta}},
	} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			t.Parallel()
			opts := Options{MaxRecordBytes: tc.max, MetaFields: []string{"lang"}}
			got := brief(readAll(t, splitAll(t, []string{p}, opts, 10), opts), filepath.Dir(p))
			equalStrings(t, got, tc.want)
		})
	}
}
