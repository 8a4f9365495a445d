package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

var classifyExamples = []cohere.ClassifyExample{
	{Text: "the striker scored a late goal", Label: "sport"},
	{Text: "the team won the league title", Label: "sport"},
	{Text: "marathon runners crossed the line", Label: "sport"},
	{Text: "simmer the sauce for ten minutes", Label: "cooking"},
	{Text: "knead the bread dough until smooth", Label: "cooking"},
	{Text: "roast the salmon with lemon", Label: "cooking"},
	{Text: "the database index speeds up queries", Label: "tech"},
	{Text: "vectors are stored in a queue", Label: "tech"},
}

func writeLines(t *testing.T, name string, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeExamples(t *testing.T, ex []cohere.ClassifyExample) string {
	t.Helper()
	var lines []string
	for _, e := range ex {
		b, _ := json.Marshal(e)
		lines = append(lines, string(b))
	}
	return writeLines(t, "examples.jsonl", lines)
}

// fakeVerdicts asks the fake directly, in batches, what it decides for each
// text: the expectation the job's rows must equal.
func fakeVerdicts(t *testing.T, fake *coheretest.Server, model string, ex []cohere.ClassifyExample, texts []string) map[string]cohere.Classification {
	t.Helper()
	c, err := cohere.New(cohere.Config{BaseURL: fake.URL, APIKey: coheretest.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]cohere.Classification{}
	for lo := 0; lo < len(texts); lo += 96 {
		batch := texts[lo:min(lo+96, len(texts))]
		resp, err := c.Classify(context.Background(), &cohere.ClassifyRequest{Inputs: batch, Examples: ex, Model: model})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range resp.Classifications {
			out[batch[i]] = v
		}
	}
	return out
}

// classifyCorpus writes n good records and two bad ones (an empty text and
// a line that is not JSON), returning the texts by id.
func classifyCorpus(t *testing.T, n int) (string, map[string]string) {
	t.Helper()
	texts := map[string]string{}
	var lines []string
	for i := range n {
		id := fmt.Sprintf("doc-%04d", i)
		texts[id] = corpusText(i)
		lines = append(lines, fmt.Sprintf(`{"id":%q,"text":%q,"lang":"en"}`, id, texts[id]))
		if i == n/2 {
			lines = append(lines, `{"id":"empty","text":""}`, `{"id": broken`)
		}
	}
	return writeLines(t, "corpus.jsonl", lines), texts
}

func rateLimits() map[string]ratelimit.Limit {
	return map[string]ratelimit.Limit{
		"embed": {Count: 1_000_000, Per: 60e9}, "classify": {Count: 1_000_000, Per: 60e9}, "rerank": {Count: 1_000_000, Per: 60e9},
	}
}

// TestClassifyJobEndToEnd runs a few-shot classify job into each sink: every
// record is accounted for once, each stored verdict is the fake's for its
// text, bad rows are dead-lettered, and a re-run calls classify zero times.
func TestClassifyJobEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.limits = rateLimits()
			if sinkName == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(4)
			const n = 700
			path, texts := classifyCorpus(t, n)
			ex, err := pipeline.ReadExamples(writeExamples(t, classifyExamples))
			if err != nil {
				t.Fatal(err)
			}
			spec := pipeline.Spec{ID: "cls-" + sinkName, Op: pipeline.OpClassify, OpOptions: pipeline.OpOptions{Examples: ex},
				Inputs: []string{path}, ChunkSize: 250, Sink: "parquet:" + h.out}
			spec.Input.MetaFields = []string{"lang"}
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "labels"
			}
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			st := h.run(spec)
			if st.State != jobstore.StateDone || st.Written != n || st.Skipped != 0 || st.Failed != 2 || st.Total() != n+2 {
				t.Fatalf("status %s written %d skipped %d failed %d total %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Total(), st.Reason)
			}
			if calls := h.fake.Stats().Calls["POST /v1/classify"]; calls != 3*3 {
				// 3 chunks (250, 250, 200 good records) of 3 calls of ≤96 inputs
				t.Errorf("%d classify calls, want 9", calls)
			}
			dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, d := range dead {
				reasons = append(reasons, fmt.Sprintf("%s:%d %s", filepath.Base(d.File), d.Line, d.Reason))
			}
			slices.Sort(reasons)
			if len(reasons) != 2 || !strings.Contains(reasons[0], "empty text") || !strings.Contains(reasons[1], "invalid JSON") {
				t.Errorf("dead letters = %q, want the empty text and the broken line", reasons)
			}

			all := make([]string, 0, n)
			for i := range n {
				all = append(all, texts[fmt.Sprintf("doc-%04d", i)])
			}
			want := fakeVerdicts(t, h.fake, "", ex, all)
			got := readClassifications(t, h, spec)
			if len(got) != n {
				t.Fatalf("sink holds %d classifications, want %d", len(got), n)
			}
			for id, text := range texts {
				c, ok := got[id]
				if !ok {
					t.Fatalf("%s missing from the sink", id)
				}
				w := want[text]
				if c.Label != w.Prediction || c.Confidence == nil || *c.Confidence != float32(w.Confidence) || len(c.Labels) != len(w.Labels) {
					t.Fatalf("%s: got %s %v %v, want %s %v (%d labels)", id, c.Label, c.Confidence, c.Labels, w.Prediction, w.Confidence, len(w.Labels))
				}
				for l, lc := range w.Labels {
					if c.Labels[l] != float32(lc.Confidence) {
						t.Fatalf("%s: label %s confidence %v, want %v", id, l, c.Labels[l], lc.Confidence)
					}
				}
				var meta map[string]string
				_ = json.Unmarshal(c.Metadata, &meta)
				if c.Fingerprint != spec.Fingerprint() || len(meta) != 1 || meta["lang"] != "en" {
					t.Fatalf("%s: fingerprint %q metadata %s", id, c.Fingerprint, c.Metadata)
				}
			}

			// Nothing changed: every record is skipped and nothing is paid.
			h.fake.ResetStats()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Skipped != n || st.Written != 0 || st.Failed != 2 {
				t.Fatalf("re-run: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
			}
			if calls := h.fake.Stats().Calls["POST /v1/classify"]; calls != 0 {
				t.Errorf("re-run made %d classify calls, want 0", calls)
			}
			if got := readClassifications(t, h, spec); len(got) != n {
				t.Errorf("after the re-run the sink holds %d classifications, want %d", len(got), n)
			}
		})
	}
}

func readClassifications(t *testing.T, h *harness, spec pipeline.Spec) map[string]sinks.Classification {
	t.Helper()
	got := map[string]sinks.Classification{}
	if spec.Sink != "postgres" {
		err := parquet.ReadClassifications(h.out, spec.ID, func(c sinks.Classification) error {
			if _, dup := got[c.ID]; dup {
				return fmt.Errorf("%s stored twice", c.ID)
			}
			got[c.ID] = c
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	conn := connect(t, h.dbURL)
	rows, err := conn.Query(context.Background(), "select id, label, confidence, labels, fingerprint, metadata from "+spec.Table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c sinks.Classification
		var meta []byte
		if err := rows.Scan(&c.ID, &c.Label, &c.Confidence, &c.Labels, &c.Fingerprint, &meta); err != nil {
			t.Fatal(err)
		}
		c.Metadata = meta
		got[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestReadExamples(t *testing.T) {
	t.Parallel()
	many := make([]string, 0, 2501)
	for i := range 2501 {
		many = append(many, fmt.Sprintf(`{"text":"example %d","label":"l%d"}`, i, i%2))
	}
	tests := []struct {
		name    string
		file    string
		lines   []string
		want    int
		wantErr string
	}{
		{name: "jsonl", file: "ex.jsonl", lines: []string{`{"text":"a","label":"x"}`, `{"text":"b","label":"x"}`, ``, `{"text":"c","label":"y"}`, `{"text":"d","label":"y"}`}, want: 4},
		{name: "csv", file: "ex.csv", lines: []string{"label,text", `x,"a, quoted"`, "x,b", "y,c", "y,d"}, want: 4},
		{name: "label with one example", file: "ex.jsonl", lines: []string{`{"text":"a","label":"x"}`, `{"text":"b","label":"x"}`, `{"text":"c","label":"y"}`}, wantErr: `ex.jsonl:3: label "y" has 1 example`},
		{name: "one label", file: "ex.jsonl", lines: []string{`{"text":"a","label":"x"}`, `{"text":"b","label":"x"}`}, wantErr: "1 label(s), at least 2"},
		{name: "missing label", file: "ex.jsonl", lines: []string{`{"text":"a","label":"x"}`, `{"text":"b"}`}, wantErr: `ex.jsonl:2: missing or empty "label"`},
		{name: "empty text", file: "ex.csv", lines: []string{"text,label", "a,x", ",x"}, wantErr: "ex.csv:3: missing or empty text"},
		{name: "not json", file: "ex.jsonl", lines: []string{`{"text":"a","label":"x"}`, `nope`}, wantErr: "ex.jsonl:2: invalid JSON"},
		{name: "too many", file: "ex.jsonl", lines: many, wantErr: "2501 examples, at most 2500"},
		{name: "csv without label column", file: "ex.csv", lines: []string{"text,class", "a,x"}, wantErr: "ex.csv:1: the header needs text and label"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex, err := pipeline.ReadExamples(writeLines(t, tc.file, tc.lines))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(ex) != tc.want {
				t.Fatalf("got %d examples, err %v; want %d", len(ex), err, tc.want)
			}
		})
	}
}

func TestClassifySpecValidate(t *testing.T) {
	t.Parallel()
	two := classifyExamples[:6]
	tests := []struct {
		name    string
		spec    pipeline.Spec
		wantErr string
	}{
		{name: "examples", spec: pipeline.Spec{Op: pipeline.OpClassify, OpOptions: pipeline.OpOptions{Examples: two}}},
		{name: "fine-tuned model", spec: pipeline.Spec{Op: pipeline.OpClassify, Model: "my-classifier-ft"}},
		{name: "neither", spec: pipeline.Spec{Op: pipeline.OpClassify}, wantErr: "give -model"},
		{name: "one example for a label", spec: pipeline.Spec{Op: pipeline.OpClassify, OpOptions: pipeline.OpOptions{Examples: classifyExamples[:7]}}, wantErr: `"tech" (1)`},
		{name: "rerank flag", spec: pipeline.Spec{Op: pipeline.OpClassify, OpOptions: pipeline.OpOptions{Examples: two, TopN: 3}}, wantErr: "rerank flags"},
		{name: "rerank", spec: pipeline.Spec{Op: pipeline.OpRerank}},
		{name: "rerank negative top-n", spec: pipeline.Spec{Op: pipeline.OpRerank, OpOptions: pipeline.OpOptions{TopN: -1}}, wantErr: "-top-n -1"},
		{name: "rerank csv without candidates", spec: pipeline.Spec{Op: pipeline.OpRerank, Input: input.Options{Format: input.FormatCSV}}, wantErr: "-format csv"},
		{name: "rerank csv with candidates", spec: pipeline.Spec{Op: pipeline.OpRerank, Input: input.Options{Format: input.FormatCSV}, OpOptions: pipeline.OpOptions{Candidates: "c.jsonl"}}},
		{name: "rerank index", spec: pipeline.Spec{Op: pipeline.OpRerank, Index: &pipeline.Index{Method: "hnsw"}}, wantErr: "no vectors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.spec
			s.Inputs, s.Sink = []string{"in.jsonl"}, "parquet:/tmp/out"
			err := s.WithDefaults().Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
