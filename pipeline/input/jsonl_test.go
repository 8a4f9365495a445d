package input

import (
	"strings"
	"testing"
)

func TestJSONLRecords(t *testing.T) {
	t.Parallel()
	long := `{"id":"L","text":"` + strings.Repeat("x", 100) + `"}`
	tests := []struct {
		name string
		opts Options
		in   string
		want []string
	}{
		{
			name: "string and numeric ids",
			in:   `{"id":"a","text":"hello"}` + "\n" + `{"id":42,"text":"n"}` + "\n" + `{"id":1e3,"text":"e"}` + "\n" + `{"id":123456789012345678901,"text":"big"}` + "\n",
			want: []string{"a|hello", "42|n", "1000|e", "123456789012345678901|big"},
		},
		{
			name: "blank lines yield nothing, crlf accepted",
			in:   "\n   \n" + `{"id":"a","text":"x"}` + "\r\n\t\r\n" + `{"id":"b","text":"y"}`,
			want: []string{"a|x", "b|y"},
		},
		{
			name: "several text fields and meta",
			opts: Options{TextFields: []string{"title", "body"}, MetaFields: []string{"lang", "tags", "absent"}},
			in:   `{"id":"a","title":"T","body":"B","lang":"en","tags":[1,{"k":null}]}` + "\n",
			want: []string{`a|T` + "\n\n" + `B|{"lang":"en","tags":[1,{"k":null}]}`},
		},
		{
			name: "meta asked for but absent is an empty object",
			opts: Options{MetaFields: []string{"lang"}},
			in:   `{"id":"a","text":"x"}`,
			want: []string{`a|x|{}`},
		},
		{
			name: "custom id field",
			opts: Options{IDField: "doc_id"},
			in:   `{"doc_id":"d1","text":"x"}` + "\n" + `{"id":"wrong","text":"x"}`,
			want: []string{"d1|x", `ERR  f.jsonl:2: field "doc_id": missing id (set -id-field to the id field, or -id-from line|hash)`},
		},
		{
			name: "id from line",
			opts: Options{IDFrom: IDFromLine},
			in:   "\n" + `{"text":"x"}` + "\n" + `{"id":"ignored","text":"y"}`,
			want: []string{"f.jsonl:2|x", "f.jsonl:3|y"},
		},
		{
			name: "id from hash",
			opts: Options{IDFrom: IDFromHash},
			in:   `{"text":"hello"}`,
			want: []string{"2cf24dba5fb0a30e26e83b2ac5b9e29e|hello"},
		},
		{
			name: "bad records name file, line and field",
			opts: Options{MaxRecordBytes: 64},
			in: strings.Join([]string{
				`{"id":"a","text":"ok"}`,
				`{"id":"b","text":`,
				`[1,2]`,
				`{"text":"no id"}`,
				`{"id":"c"}`,
				`{"id":"d","text":7}`,
				`{"id":"e","text":"   "}`,
				`{"id":"f","text":"bad ` + "\xff" + `"}`,
				`{"id":true,"text":"x"}`,
				`{"id":"","text":"x"}`,
				`{"id":"g","text":null}`,
				long,
				`{"id":"h","text":"after"}`,
			}, "\n"),
			want: []string{
				"a|ok",
				"ERR  f.jsonl:2: invalid JSON: unexpected end of JSON input (offset 17)",
				"ERR  f.jsonl:3: not a JSON object",
				`ERR  f.jsonl:4: field "id": missing id (set -id-field to the id field, or -id-from line|hash)`,
				`ERR c f.jsonl:5: field "text": missing text field`,
				`ERR d f.jsonl:6: field "text": text field is not a string`,
				`ERR e f.jsonl:7: field "text": empty text`,
				`ERR f f.jsonl:8: field "text": invalid UTF-8`,
				`ERR  f.jsonl:9: field "id": id must be a string or a number`,
				`ERR  f.jsonl:10: field "id": empty id`,
				`ERR g f.jsonl:11: field "text": missing text field`,
				"ERR  f.jsonl:12: line exceeds 64 bytes",
				"h|after",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := writeInput(t, dir, "f.jsonl", tc.in)
			got := readAll(t, splitAll(t, []string{p}, tc.opts, 1000), tc.opts)
			equalStrings(t, brief(got, dir), tc.want)
		})
	}
}

func TestTextRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		in   string
		want []string
	}{
		{
			name: "ids from lines by default, blanks skipped",
			in:   "first line\n\n  \nsecond {not json}\r\nthird",
			want: []string{"f.txt:1|first line", "f.txt:4|second {not json}", "f.txt:5|third"},
		},
		{
			name: "ids from hash",
			opts: Options{IDFrom: IDFromHash},
			in:   "hello\n",
			want: []string{"2cf24dba5fb0a30e26e83b2ac5b9e29e|hello"},
		},
		{
			name: "invalid UTF-8 and over-long lines are bad records",
			opts: Options{MaxRecordBytes: 8},
			in:   "ok\nbad \xfe\n123456789\n12345678\n",
			want: []string{"f.txt:1|ok", "ERR  f.txt:2: invalid UTF-8", "ERR  f.txt:3: line exceeds 8 bytes", "f.txt:4|12345678"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := writeInput(t, dir, "f.txt", tc.in)
			got := readAll(t, splitAll(t, []string{p}, tc.opts, 2), tc.opts)
			equalStrings(t, brief(got, dir), tc.want)
		})
	}
}
