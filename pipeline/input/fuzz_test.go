package input

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLines counts the lines of data and those that are not blank.
func fuzzLines(data []byte) (lines, nonBlank int) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		l := data
		if i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		lines++
		for _, c := range l {
			if !isBlankByte(c) {
				nonBlank++
				break
			}
		}
	}
	return lines, nonBlank
}

// fuzzRead splits path (or stdin) with opts and per, reads every range and
// checks what every range promises.
func fuzzRead(t *testing.T, path string, stdin []byte, opts Options, per int) ([]Record, []Range, error) {
	if path == "-" {
		opts.Stdin = bytes.NewReader(stdin)
	}
	var ranges []Range
	err := Split(context.Background(), []string{path}, opts, per, func(r Range) error {
		ranges = append(ranges, r)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var recs []Record
	for _, r := range ranges {
		if r.Records < 1 || r.Records > per || r.Lines < r.Records {
			t.Fatalf("range %+v breaks its bounds (per %d)", r, per)
		}
		n := 0
		err := Read(context.Background(), r, opts, func(rec Record) error {
			n++
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			t.Fatalf("Read %+v: %v", r, err)
		}
		if n != r.Records {
			t.Fatalf("Read yielded %d records, range says %d", n, r.Records)
		}
	}
	for i, rec := range recs {
		if i > 0 && rec.Line <= recs[i-1].Line {
			t.Fatalf("record %d on line %d after line %d", i, rec.Line, recs[i-1].Line)
		}
		if rec.Err == nil && (rec.ID == "" || !utf8.ValidString(rec.Text) || !utf8.ValidString(rec.ID) || len(bytes.TrimSpace([]byte(rec.Text))) == 0) {
			t.Fatalf("good record %d is not usable: %+v", i, rec)
		}
	}
	return recs, ranges, nil
}

func sameRecords(t *testing.T, a, b []Record) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d records against %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Text != y.Text || x.Line != y.Line || (x.Err == nil) != (y.Err == nil) ||
			!bytes.Equal(x.Meta, y.Meta) {
			t.Fatalf("record %d differs:\n%+v\n%+v", i, x, y)
		}
		if x.Err != nil && x.File == y.File && x.Err.Error() != y.Err.Error() {
			t.Fatalf("record %d: %v against %v", i, x.Err, y.Err)
		}
	}
}

// fuzzLineFormat checks a line format: every non-blank line yields exactly
// one record, however the input is split, from a file or from stdin.
func fuzzLineFormat(f *testing.F, name string, opts Options) {
	f.Fuzz(func(t *testing.T, data []byte, per int) {
		per = 1 + (per&0xff)%4
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		small := opts
		small.MaxChunkBytes, small.MaxRecordBytes = 24, 40
		straight, _, err := fuzzRead(t, p, nil, Options{Format: opts.Format, MetaFields: opts.MetaFields, MaxRecordBytes: 40}, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		tiny, _, err := fuzzRead(t, p, nil, small, per)
		if err != nil {
			t.Fatal(err)
		}
		fromStdin, _, err := fuzzRead(t, "-", data, small, per)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fromStdin {
			if id, ok := strings.CutPrefix(fromStdin[i].ID, "stdin:"); ok {
				fromStdin[i].ID = name + ":" + id
			}
		}
		if _, nonBlank := fuzzLines(data); len(straight) != nonBlank {
			t.Fatalf("%d non-blank lines gave %d records", nonBlank, len(straight))
		}
		sameRecords(t, straight, tiny)
		sameRecords(t, straight, fromStdin)
	})
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"a","text":"hello","m":[1]}`+"\n\n"+`{"id":2,"text":"x"}`), 1)
	f.Add([]byte("{\"id\":\"b\",\"text\":\"\xff\"}\r\n  \n[1]\n{"), 2)
	fuzzLineFormat(f, "f.jsonl", Options{Format: FormatJSONL, MetaFields: []string{"m"}})
}

func FuzzText(f *testing.F) {
	f.Add([]byte("one\n\n two \r\nthree"), 1)
	f.Add([]byte("\xfe\n"+string(bytes.Repeat([]byte("z"), 50))+"\n\t\n"), 3)
	fuzzLineFormat(f, "f.txt", Options{Format: FormatText})
}

// FuzzCSV checks CSV: a tiny split reads back the same records as a
// straight read and as stdin, and without quotes every non-blank line is a
// record.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("1,a\n2,\"b\nc\"\n\n3,\"unclosed\n4,d\n"), 1)
	f.Add([]byte("1,\"x\"y\n2,\"\"\"\",z\n3,ok"), 2)
	f.Fuzz(func(t *testing.T, body []byte, per int) {
		per = 1 + (per&0xff)%4
		data := append([]byte("id,text\n"), body...)
		p := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		small := Options{Format: FormatCSV, MaxChunkBytes: 24, MaxRecordBytes: 40}
		straight, ranges, err := fuzzRead(t, p, nil, Options{Format: FormatCSV, MaxRecordBytes: 40}, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		tiny, _, err := fuzzRead(t, p, nil, small, per)
		if err != nil {
			t.Fatal(err)
		}
		fromStdin, _, err := fuzzRead(t, "-", data, small, per)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, straight, tiny)
		sameRecords(t, straight, fromStdin)
		lines, nonBlank := fuzzLines(body)
		covered := 0
		for _, r := range ranges {
			covered += r.Lines
		}
		if covered > lines || len(straight) > nonBlank || (nonBlank > 0 && len(straight) == 0) {
			t.Fatalf("%d lines (%d non-blank): ranges cover %d, %d records", lines, nonBlank, covered, len(straight))
		}
		if !bytes.Contains(body, []byte{'"'}) && len(straight) != nonBlank {
			t.Fatalf("without quotes %d non-blank lines gave %d records", nonBlank, len(straight))
		}
	})
}
