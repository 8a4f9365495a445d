package cli

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestApplyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		file      string // written as job.yaml (or job.json when it starts with "{")
		args      []string
		wantErr   string
		wantIn    []string // relative to the file's directory
		wantChunk int
		wantTypes []string
		wantModel string
		wantCost  float64
	}{
		{
			name:      "yaml with lists",
			file:      "in: [a.jsonl, b.jsonl]\nchunk-size: 500\nembedding-types: [float, int8]\nmax-cost: 2.5\nwait: true\n",
			wantIn:    []string{"a.jsonl", "b.jsonl"},
			wantChunk: 500, wantTypes: []string{"float", "int8"}, wantModel: "embed-v4.0", wantCost: 2.5,
		},
		{
			name:      "command line overrides the file",
			file:      "in: a.jsonl\nchunk-size: 500\nmodel: embed-english-v3.0\n",
			args:      []string{"-chunk-size", "200"},
			wantIn:    []string{"a.jsonl"},
			wantChunk: 200, wantTypes: []string{"float"}, wantModel: "embed-english-v3.0",
		},
		{
			name:      "json",
			file:      `{"in": ["a.jsonl"], "-chunk-size": 300, "embedding-types": "int8,binary"}`,
			wantIn:    []string{"a.jsonl"},
			wantChunk: 300, wantTypes: []string{"int8", "binary"}, wantModel: "embed-v4.0",
		},
		{name: "unknown key", file: "in: a.jsonl\nchunk_size: 5\n", wantErr: `"chunk_size" is not a flag`},
		{name: "bad value", file: "in: a.jsonl\nchunk-size: many\n", wantErr: "chunk-size"},
		{name: "not a map", file: "- a\n- b\n", wantErr: "want a map"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			name := "job.yaml"
			if strings.HasPrefix(tc.file, "{") {
				name = "job.json"
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var j JobFlags
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			j.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := ApplyFile(fs, path, RunFlags)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			spec, _, err := j.Spec(Env{})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, in := range tc.wantIn {
				want = append(want, filepath.Join(dir, in))
			}
			if !slices.Equal(spec.Inputs, want) || spec.ChunkSize != tc.wantChunk || !slices.Equal(spec.EmbeddingTypes, tc.wantTypes) ||
				spec.Model != tc.wantModel || spec.MaxCost != tc.wantCost {
				t.Errorf("spec = inputs %v, chunk %d, types %v, model %s, max cost %v; want %v, %d, %v, %s, %v",
					spec.Inputs, spec.ChunkSize, spec.EmbeddingTypes, spec.Model, spec.MaxCost, want, tc.wantChunk, tc.wantTypes, tc.wantModel, tc.wantCost)
			}
		})
	}
}

func TestParseJobFileIgnoresRunFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "nightly.yaml")
	if err := os.WriteFile(path, []byte("job: nightly\nin: docs.jsonl\nwait: true\nconcurrency: 4\nsink: parquet:out\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, _, err := ParseJobFile(path, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if spec.ID != "nightly" || spec.Sink != "parquet:"+filepath.Join(dir, "out") || !slices.Equal(spec.Inputs, []string{filepath.Join(dir, "docs.jsonl")}) {
		t.Errorf("spec = %s, sink %s, inputs %v", spec.ID, spec.Sink, spec.Inputs)
	}
}
