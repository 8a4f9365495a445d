package input

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus makes n JSONL records with a blank line every 7th line.
func corpus(n int) (string, []string) {
	var b strings.Builder
	var want []string
	for i := range n {
		if i%7 == 3 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, `{"id":"r%d","text":"text %d"}`+"\n", i, i)
		want = append(want, fmt.Sprintf("r%d|text %d", i, i))
	}
	return b.String(), want
}

func TestSplitRangesReadBackExactly(t *testing.T) {
	t.Parallel()
	content, want := corpus(100)
	tests := []struct {
		name       string
		file       string
		perChunk   int
		chunkBytes int
		wantRanges int
		spooled    bool // compressed: the ranges address the decompressed copy
	}{
		{name: "plain, by records", file: "a.jsonl", perChunk: 10, wantRanges: 10},
		{name: "plain, by bytes", file: "a.jsonl", perChunk: 1000, chunkBytes: 300, wantRanges: 11},
		{name: "gzip", file: "a.jsonl.gz", perChunk: 7, wantRanges: 15, spooled: true},
		{name: "zstd", file: "a.ndjson.zst", perChunk: 33, wantRanges: 4, spooled: true},
		{name: "one chunk", file: "a.json", perChunk: 100, wantRanges: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := writeInput(t, t.TempDir(), tc.file, content)
			opts := Options{MaxChunkBytes: tc.chunkBytes}
			ranges := splitAll(t, []string{p}, opts, tc.perChunk)
			path := p
			if tc.spooled {
				var err error
				if path, err = SpoolPath(p, opts); err != nil {
					t.Fatal(err)
				}
			}
			if len(ranges) != tc.wantRanges {
				t.Fatalf("got %d ranges, want %d", len(ranges), tc.wantRanges)
			}
			total := 0
			for i, r := range ranges {
				if r.Records > tc.perChunk || r.Records < 1 {
					t.Errorf("range %d holds %d records, perChunk %d", i, r.Records, tc.perChunk)
				}
				if tc.chunkBytes > 0 && r.End-r.Start > int64(tc.chunkBytes) {
					t.Errorf("range %d covers %d bytes, limit %d", i, r.End-r.Start, tc.chunkBytes)
				}
				if r.Compression != "" || r.Data != nil || r.Path != path || r.Name != p || r.Format != FormatJSONL {
					t.Errorf("range %d = %+v", i, r)
				}
				if i > 0 && r.Start < ranges[i-1].End {
					t.Errorf("range %d starts at %d, before the previous end %d", i, r.Start, ranges[i-1].End)
				}
				total += r.Records
			}
			if total != 100 {
				t.Errorf("ranges hold %d records, want 100", total)
			}
			equalStrings(t, brief(readAll(t, ranges, opts), ""), want)
		})
	}
}

func TestSplitGlobsAndSeveralFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeInput(t, dir, "b.jsonl", `{"id":"b1","text":"B"}`+"\n")
	writeInput(t, dir, "a.jsonl.gz", `{"id":"a1","text":"A"}`+"\n"+`{"id":"a2","text":"A2"}`)
	writeInput(t, dir, "skip.csv", "id,text\n")
	csvPath := writeInput(t, filepath.Join(t.TempDir()), "c.csv", "id,text\nc1,C\n")
	ranges := splitAll(t, []string{filepath.Join(dir, "*.jsonl*"), csvPath}, Options{}, 1)
	var names []string
	for _, r := range ranges {
		names = append(names, filepath.Base(r.Name)+":"+fmt.Sprint(r.FirstLine))
	}
	equalStrings(t, names, []string{"a.jsonl.gz:1", "a.jsonl.gz:2", "b.jsonl:1", "c.csv:2"})
	equalStrings(t, brief(readAll(t, ranges, Options{}), ""), []string{"a1|A", "a2|A2", "b1|B", "c1|C"})
}

func TestSplitStdin(t *testing.T) {
	t.Parallel()
	content, want := corpus(50)
	var gz bytes.Buffer
	p := writeInput(t, t.TempDir(), "in.jsonl.gz", content)
	raw, _ := os.ReadFile(p)
	gz.Write(raw)
	long := strings.Repeat("y", 5000)
	tests := []struct {
		name  string
		in    []byte
		opts  Options
		want  []string
		chunk int
	}{
		{name: "jsonl", in: []byte(content), want: want, chunk: 8},
		{name: "gzip by magic bytes", in: gz.Bytes(), want: want, chunk: 8},
		{
			name:  "text with an over-long line kept short in Data",
			in:    []byte("a\n\n" + long + "\nb\n"),
			opts:  Options{Format: FormatText, MaxRecordBytes: 100},
			want:  []string{"stdin:1|a", "ERR  -:3: line exceeds 100 bytes", "stdin:4|b"},
			chunk: 1,
		},
		{
			name:  "csv",
			in:    []byte("id,text\n1,\"x\ny\"\n\n2,z\n"),
			opts:  Options{Format: FormatCSV},
			want:  []string{"1|x\ny", "2|z"},
			chunk: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Stdin = bytes.NewReader(tc.in)
			ranges := splitAll(t, []string{"-"}, opts, tc.chunk)
			for _, r := range ranges {
				if r.Path != "-" || r.Data == nil || r.Compression != "" {
					t.Fatalf("stdin range %+v", r)
				}
				if len(r.Data) > 300 {
					t.Errorf("range Data holds %d bytes", len(r.Data))
				}
			}
			equalStrings(t, brief(readAll(t, ranges, opts), ""), tc.want)
		})
	}
}

func TestSplitErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	content, _ := corpus(2000)
	good := writeInput(t, dir, "good.jsonl.gz", content)
	raw, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "cut.jsonl.gz")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o644)
	flipped := filepath.Join(dir, "flip.jsonl.gz")
	bad := bytes.Clone(raw)
	bad[len(bad)-6] ^= 0xff // the stored CRC
	os.WriteFile(flipped, bad, 0o644)
	notGzip := writeInput(t, dir, "x.jsonl", "\x1f\x8bnot really gzip")
	noExt := writeInput(t, dir, "data.bin", "{}")
	tests := []struct {
		name    string
		paths   []string
		want    string
		corrupt bool
	}{
		{name: "missing file", paths: []string{filepath.Join(dir, "nope.jsonl")}, want: "nope.jsonl: no such file"},
		{name: "glob matching nothing", paths: []string{filepath.Join(dir, "*.parquet")}, want: "*.parquet: no file matches"},
		{name: "truncated gzip", paths: []string{truncated}, want: "cut.jsonl.gz: corrupt input at line 1149 (byte 32060 of the decompressed stream): gzip: unexpected EOF", corrupt: true},
		{name: "gzip checksum", paths: []string{flipped}, want: "flip.jsonl.gz: corrupt input at line 2287 (byte 66066 of the decompressed stream): gzip: gzip: invalid checksum", corrupt: true},
		{name: "bad gzip header", paths: []string{notGzip}, want: "x.jsonl: corrupt input: gzip:", corrupt: true},
		{name: "unknown extension", paths: []string{noExt}, want: "data.bin: cannot tell the format"},
		{name: "directory", paths: []string{dir}, want: "is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Split(t.Context(), tc.paths, Options{}, 100, func(Range) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Split error = %v, want it to contain %q", err, tc.want)
			}
			if errors.Is(err, ErrCorrupt) != tc.corrupt {
				t.Errorf("errors.Is(err, ErrCorrupt) = %v, want %v", !tc.corrupt, tc.corrupt)
			}
		})
	}
}

func TestReadCorruptAndChangedInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	content, _ := corpus(2000)
	p := writeInput(t, dir, "f.jsonl.gz", content)
	ranges := splitAll(t, []string{p}, Options{}, 500)
	// A range planned before compressed inputs were spooled decompresses
	// the file itself.
	old := ranges[len(ranges)-1]
	old.Path, old.Compression = p, CompressionGzip
	raw, _ := os.ReadFile(p)
	os.WriteFile(p, raw[:len(raw)/3], 0o644)
	err := Read(t.Context(), old, Options{}, func(Record) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "f.jsonl.gz") {
		t.Fatalf("Read past a truncation: %v, want ErrCorrupt naming the file", err)
	}
	// The spooled ranges read the decompressed copy; shortening it is a
	// change since the split.
	readRange(t, ranges[len(ranges)-1], Options{})
	spooled, _ := os.ReadFile(ranges[0].Path)
	os.WriteFile(ranges[0].Path, spooled[:len(spooled)-100], 0o644)
	err = Read(t.Context(), ranges[len(ranges)-1], Options{}, func(Record) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "f.jsonl.gz") || !strings.Contains(err.Error(), "file changed since it was split") {
		t.Fatalf("Read of a shortened spool: %v", err)
	}

	plain := writeInput(t, dir, "g.jsonl", content)
	ranges = splitAll(t, []string{plain}, Options{}, 500)
	os.WriteFile(plain, []byte(content[:len(content)-100]), 0o644)
	err = Read(t.Context(), ranges[len(ranges)-1], Options{}, func(Record) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "file changed since it was split") {
		t.Fatalf("Read of a shortened file: %v", err)
	}
}

func TestSplitAndReadStopOnCancelAndCallbackErrors(t *testing.T) {
	t.Parallel()
	content, _ := corpus(3000)
	p := writeInput(t, t.TempDir(), "f.jsonl", content)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Split(ctx, []string{p}, Options{}, 10, func(Range) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Split with a canceled ctx: %v", err)
	}
	stop := errors.New("stop")
	calls := 0
	err := Split(t.Context(), []string{p}, Options{}, 10, func(Range) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Split with a failing emit: %v after %d calls", err, calls)
	}
	r := splitAll(t, []string{p}, Options{}, 3000)[0]
	if err := Read(ctx, r, Options{}, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a canceled ctx: %v", err)
	}
	calls = 0
	if err := Read(t.Context(), r, Options{}, func(Record) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Read with a failing fn: %v after %d calls", err, calls)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	d := Options{}.WithDefaults()
	if d.Format != FormatAuto || d.IDField != "id" || len(d.TextFields) != 1 || d.TextFields[0] != "text" ||
		d.MaxRecordBytes != 1<<20 || d.MaxChunkBytes != 8<<20 {
		t.Fatalf("defaults = %+v", d)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "defaults are valid", opts: Options{}},
		{name: "bad format", opts: Options{Format: "xml"}, want: `input: format "xml" is not one of auto, jsonl, csv, parquet, text`},
		{name: "bad id-from", opts: Options{IDFrom: "uuid"}, want: `input: id-from "uuid" is not one of line, hash`},
		{name: "empty text field", opts: Options{TextFields: []string{"a", " "}}, want: "input: text fields must not be empty names"},
		{name: "negative limit", opts: Options{MaxRecordBytes: -1}, want: "input: max record bytes must be at least 1, got -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.opts.Validate()
			if (err == nil && tc.want != "") || (err != nil && err.Error() != tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	formats := map[string]Format{"a.JSONL": FormatJSONL, "a.ndjson.gz": FormatJSONL, "a.json.zst": FormatJSONL,
		"b.csv.gz": FormatCSV, "c.parquet": FormatParquet, "d.txt": FormatText, "e.text.zst": FormatText, "f.xml": ""}
	for name, want := range formats {
		if got := DetectFormat(name); got != want {
			t.Errorf("DetectFormat(%q) = %q, want %q", name, got, want)
		}
	}
}
