package input

import (
	"strings"
	"testing"
)

func TestCSVRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		in   string
		want []string
	}{
		{
			name: "quoted fields spanning lines, escaped quotes, BOM, blank lines",
			opts: Options{MetaFields: []string{"lang"}},
			in: "\ufeffid,text,lang\n" +
				"1,plain,en\n" +
				"\n" +
				"2,\"two\nlines, with comma\",fr\n" +
				"3,\"say \"\"hi\"\"\",de\r\n" +
				"4,\"a\r\n\r\nb\",\n",
			want: []string{
				`1|plain|{"lang":"en"}`,
				"2|two\nlines, with comma|{\"lang\":\"fr\"}",
				`3|say "hi"|{"lang":"de"}`,
				"4|a\n\nb|{\"lang\":\"\"}",
			},
		},
		{
			name: "unbalanced quote in the middle costs one record",
			in: "id,text\n" +
				"1,good\n" +
				"2,\"never closed\n" +
				"3,still good\n" +
				"4,\"closed\"\n",
			want: []string{
				"1|good",
				"ERR  f.csv:3: invalid CSV: quoted field not closed",
				"3|still good",
				"4|closed",
			},
		},
		{
			name: "quote errors, field counts, empty text, missing id",
			in: "id,text\n" +
				"1,ok\n" +
				"2,bare\"quote\n" +
				"3,\"x\"junk\n" +
				"4,a,extra\n" +
				"5,\n" +
				",no id\n" +
				"6,\"a\n\"b\n" +
				"7,bad \xff\n" +
				"8,last\n",
			want: []string{
				"1|ok",
				`ERR  f.csv:3: invalid CSV: bare " in non-quoted-field`,
				`ERR  f.csv:4: invalid CSV: extraneous or missing " in quoted-field`,
				"ERR  f.csv:5: row has 3 fields, header has 2",
				`ERR 5 f.csv:6: field "text": empty text`,
				`ERR  f.csv:7: field "id": missing id (set -id-field to the id field, or -id-from line|hash)`,
				"ERR  f.csv:8: invalid CSV: quoted field not closed",
				"ERR  f.csv:9: invalid CSV: quoted field not closed",
				`ERR 7 f.csv:10: field "text": invalid UTF-8`,
				"8|last",
			},
		},
		{
			name: "a quoted field longer than the limit resyncs at the next line",
			opts: Options{MaxRecordBytes: 16},
			in:   "id,text\n1,\"abc\n2,defghijkl\n3,mnopqrstu\"\n4,ok\n",
			want: []string{
				"ERR  f.csv:2: invalid CSV: quoted field not closed",
				"2|defghijkl",
				`ERR  f.csv:4: invalid CSV: bare " in non-quoted-field`,
				"4|ok",
			},
		},
		{
			name: "ids from lines use the line a record starts on",
			opts: Options{IDFrom: IDFromLine, TextFields: []string{"title", "body"}},
			in:   "title,body\nT1,\"B\n1\"\nT2,B2\n",
			want: []string{"f.csv:2|T1\n\nB\n1", "f.csv:4|T2\n\nB2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := writeInput(t, dir, "f.csv", tc.in)
			straight := readAll(t, splitAll(t, []string{p}, tc.opts, 1<<20), tc.opts)
			equalStrings(t, brief(straight, dir), tc.want)
			for _, per := range []int{1, 2, 3} {
				ranges := splitAll(t, []string{p}, tc.opts, per)
				equalStrings(t, brief(readAll(t, ranges, tc.opts), dir), tc.want)
				lines := 0
				for _, r := range ranges {
					lines += r.Lines
				}
				if total := strings.Count(strings.TrimSuffix(tc.in, "\n"), "\n") + 1; lines > total-1 {
					t.Errorf("perChunk %d: ranges cover %d lines, file has %d after the header", per, lines, total-1)
				}
			}
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		opts     Options
		want     string
	}{
		{name: "no text column", in: "id,body\n1,x\n", want: `csv header has no text column "text" (set -text-field)`},
		{name: "no id column", in: "key,text\n1,x\n", want: `csv header has no id column "id" (set -id-field, or -id-from line|hash)`},
		{name: "broken header", in: "id,\"text\n", want: "f.csv:1: csv header: invalid CSV: quoted field not closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := writeInput(t, t.TempDir(), "f.csv", tc.in)
			err := Split(t.Context(), []string{p}, tc.opts, 10, func(Range) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Split error = %v, want it to name %s and say %q", err, p, tc.want)
			}
		})
	}
}
