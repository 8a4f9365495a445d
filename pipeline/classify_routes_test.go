package pipeline_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
)

// kjvLabels are the labels of the bundled King James verses: the
// testament of the verse's book.
var kjvLabels = []string{"Old Testament", "New Testament"}

// kjvSet is a labelled sample of examples/kjv/bible.jsonl.gz: n records
// spread evenly over the whole Bible, and perLabel examples of each
// testament taken from verses that are not records.
type kjvSet struct {
	records  string            // JSONL path
	truth    map[string]string // id → label
	texts    map[string]string // id → text
	examples []cohere.ClassifyExample
}

func kjvSample(t testing.TB, n, perLabel int) kjvSet {
	t.Helper()
	f, err := os.Open("../examples/kjv/bible.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	type verse struct{ ID, Text, Book, Label string }
	var all []verse
	label := kjvLabels[0]
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		var v verse
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if v.Book == "Matthew" {
			label = kjvLabels[1]
		}
		v.Label = label
		all = append(all, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	s := kjvSet{truth: map[string]string{}, texts: map[string]string{}}
	step := len(all) / n
	var lines []string
	for i := range n {
		v := all[i*step]
		s.truth[v.ID], s.texts[v.ID] = v.Label, v.Text
		b, _ := json.Marshal(map[string]string{"id": v.ID, "text": v.Text, "book": v.Book})
		lines = append(lines, string(b))
	}
	s.records = writeLines(t.(*testing.T), "kjv.jsonl", lines)
	per := map[string]int{}
	for i := step / 2; i < len(all) && (per[kjvLabels[0]] < perLabel || per[kjvLabels[1]] < perLabel); i += step / 3 {
		v := all[i]
		if _, isRecord := s.truth[v.ID]; isRecord || per[v.Label] >= perLabel {
			continue
		}
		per[v.Label]++
		s.examples = append(s.examples, cohere.ClassifyExample{Text: v.Text, Label: v.Label})
	}
	return s
}

// TestClassifyRoutesKJV classifies 500 verses by testament on the embed and
// chat routes into each sink: every id once, every label from the set, the
// route recorded, the examples embedded once, and a re-run pays nothing.
func TestClassifyRoutesKJV(t *testing.T) {
	t.Parallel()
	const n = 500
	for _, via := range []string{pipeline.ViaEmbed, pipeline.ViaChat} {
		for _, sinkName := range []string{"parquet", "postgres"} {
			t.Run(via+"/"+sinkName, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t)
				h.limits = map[string]ratelimit.Limit{"embed": {Count: 1_000_000, Per: 60e9}, "chat": {Count: 1_000_000, Per: 60e9}}
				if sinkName == "postgres" {
					h.dbURL = testenv.DatabaseURL(t)
				}
				h.startWorkers(4)
				set := kjvSample(t, n, 12)
				spec := pipeline.Spec{ID: "kjv-" + via + "-" + sinkName, Op: pipeline.OpClassify, Inputs: []string{set.records},
					ChunkSize: 250, Sink: "parquet:" + h.out,
					OpOptions:       pipeline.OpOptions{Examples: set.examples},
					ClassifyOptions: pipeline.ClassifyOptions{Via: via, Labels: kjvLabels}}
				spec.Input.MetaFields = []string{"book"}
				if sinkName == "postgres" {
					spec.Sink, spec.Table = "postgres", "kjv_"+via
				}
				spec = spec.WithDefaults()
				if err := spec.Validate(); err != nil {
					t.Fatal(err)
				}
				st := h.run(spec)
				if st.State != pipeline.StateDone || st.Written != n || st.Failed != 0 || st.Total() != n {
					t.Fatalf("status %s written %d failed %d total %d (%s)", st.State, st.Written, st.Failed, st.Total(), st.Reason)
				}
				got := readRoutedClassifications(t, h, spec)
				if len(got) != n {
					t.Fatalf("sink holds %d classifications, want %d", len(got), n)
				}
				right := 0
				for id := range set.truth {
					c, ok := got[id]
					if !ok {
						t.Fatalf("%s missing from the sink", id)
					}
					if !slices.Contains(kjvLabels, c.Label) || c.Route != via || c.Fingerprint != spec.Fingerprint() {
						t.Fatalf("%s: label %q route %q fingerprint %q", id, c.Label, c.Route, c.Fingerprint)
					}
					if c.Label == set.truth[id] {
						right++
					}
				}
				majority := 0
				for _, l := range set.truth {
					if l == kjvLabels[0] {
						majority++
					}
				}
				t.Logf("accuracy: %s route %d/%d (%.1f%%); majority class (%s) %d/%d (%.1f%%)", via, right, n, 100*float64(right)/n, kjvLabels[0], majority, n, 100*float64(majority)/n)
				stats := h.fake.Stats()
				distinctTexts := map[string]bool{}
				for _, text := range set.texts {
					distinctTexts[text] = true
				}
				switch via {
				case pipeline.ViaEmbed:
					// The examples once, then each record once.
					if stats.EmbeddedTexts != len(set.examples)+len(distinctTexts) || stats.EmbeddedTexts != stats.UniqueTexts {
						t.Errorf("embedded %d texts (%d distinct), want %d examples + %d records, each once", stats.EmbeddedTexts, stats.UniqueTexts, len(set.examples), len(distinctTexts))
					}
					if c := stats.Calls["POST /v2/chat"]; c != 0 {
						t.Errorf("%d chat calls on the embed route", c)
					}
				case pipeline.ViaChat:
					if c := stats.Calls["POST /v2/chat"]; c != len(distinctTexts) {
						t.Errorf("%d chat calls, want one per distinct text (%d)", c, len(distinctTexts))
					}
				}

				h.fake.ResetStats()
				st = h.run(spec)
				if st.State != pipeline.StateDone || st.Skipped != n || st.Written != 0 {
					t.Fatalf("re-run: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
				}
				if calls := h.fake.Stats().Calls; calls["POST /v2/embed"]+calls["POST /v2/chat"] != 0 {
					t.Errorf("re-run made calls: %v", calls)
				}
			})
		}
	}
}

// readRoutedClassifications reads a classify job's rows with their route.
func readRoutedClassifications(t *testing.T, h *harness, spec pipeline.Spec) map[string]sinks.Classification {
	t.Helper()
	if spec.Sink != "postgres" {
		return readClassifications(t, h, spec)
	}
	got := map[string]sinks.Classification{}
	rows, err := connect(t, h.dbURL).Query(context.Background(), "select id, label, route, fingerprint from "+spec.Table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c sinks.Classification
		if err := rows.Scan(&c.ID, &c.Label, &c.Route, &c.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[c.ID]; dup {
			t.Fatalf("%s stored twice", c.ID)
		}
		got[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestClassifyRouteValidate: the routes' settings are refused before any
// call, each naming what to fix.
func TestClassifyRouteValidate(t *testing.T) {
	t.Parallel()
	ex := []cohere.ClassifyExample{{Text: "a", Label: "x"}, {Text: "b", Label: "x"}, {Text: "c", Label: "y"}, {Text: "d", Label: "y"}}
	tests := []struct {
		name, wantErr string
		opts          pipeline.ClassifyOptions
		examples      []cohere.ClassifyExample
		model         string
	}{
		{name: "chat with labels", opts: pipeline.ClassifyOptions{Via: pipeline.ViaChat, Labels: []string{"x", "y"}}},
		{name: "embed with examples", opts: pipeline.ClassifyOptions{Via: pipeline.ViaEmbed}, examples: ex},
		{name: "one label", opts: pipeline.ClassifyOptions{Via: pipeline.ViaChat, Labels: []string{"x"}}, wantErr: "-labels: 1 label(s), at least 2"},
		{name: "embed without examples", opts: pipeline.ClassifyOptions{Via: pipeline.ViaEmbed, Labels: []string{"x", "y"}}, wantErr: "-via embed: give -examples"},
		{name: "embed label without examples", opts: pipeline.ClassifyOptions{Via: pipeline.ViaEmbed, Labels: []string{"x", "y", "z"}}, examples: ex, wantErr: `label "z" has 0 example(s)`},
		{name: "example outside the labels", opts: pipeline.ClassifyOptions{Via: pipeline.ViaChat, Labels: []string{"x", "z"}}, examples: ex, wantErr: `example 3 has label "y", not one of -labels x,z`},
		{name: "unknown route", opts: pipeline.ClassifyOptions{Via: "magic"}, examples: ex, wantErr: `-via "magic"`},
		{name: "labels on the classify route", opts: pipeline.ClassifyOptions{Via: pipeline.ViaClassify, Labels: []string{"x", "y"}}, model: "ft-1", wantErr: "-labels and -multi-label"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := pipeline.Spec{Op: pipeline.OpClassify, Model: tc.model, Inputs: []string{"in.jsonl"}, Sink: "parquet:/tmp/out",
				OpOptions: pipeline.OpOptions{Examples: tc.examples}, ClassifyOptions: tc.opts}
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

// TestChooseRoute: -via auto picks by what the job has.
func TestChooseRoute(t *testing.T) {
	t.Parallel()
	ex := []cohere.ClassifyExample{{Text: "a", Label: "x"}}
	for _, tc := range []struct {
		spec pipeline.Spec
		want string
	}{
		{pipeline.Spec{Model: "my-ft-classifier"}, pipeline.ViaClassify},
		{pipeline.Spec{Model: "my-ft-classifier", OpOptions: pipeline.OpOptions{Examples: ex}}, pipeline.ViaClassify},
		{pipeline.Spec{OpOptions: pipeline.OpOptions{Examples: ex}}, pipeline.ViaEmbed},
		{pipeline.Spec{Model: "embed-english-v3.0", OpOptions: pipeline.OpOptions{Examples: ex}}, pipeline.ViaEmbed},
		{pipeline.Spec{ClassifyOptions: pipeline.ClassifyOptions{Labels: []string{"x", "y"}}}, pipeline.ViaChat},
		{pipeline.Spec{Model: "command-r7b-12-2024", OpOptions: pipeline.OpOptions{Examples: ex}}, pipeline.ViaChat},
	} {
		if got, reason := pipeline.ChooseRoute(tc.spec); got != tc.want || reason == "" {
			t.Errorf("ChooseRoute(model %q, %d examples, labels %v) = %s (%q), want %s", tc.spec.Model, len(tc.spec.Examples), tc.spec.Labels, got, reason, tc.want)
		}
	}
}

// TestClassifyMultiLabel: with -multi-label each row's labels_predicted is
// a non-empty subset of the labels holding its label, in both sinks.
func TestClassifyMultiLabel(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.limits = map[string]ratelimit.Limit{"embed": {Count: 1_000_000, Per: 60e9}, "chat": {Count: 1_000_000, Per: 60e9}}
			if sinkName == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(2)
			set := kjvSample(t, 60, 4)
			spec := pipeline.Spec{ID: "kjv-multi-" + sinkName, Op: pipeline.OpClassify, Inputs: []string{set.records},
				Sink: "parquet:" + h.out, OpOptions: pipeline.OpOptions{Examples: set.examples},
				ClassifyOptions: pipeline.ClassifyOptions{Via: pipeline.ViaEmbed, Labels: kjvLabels, MultiLabel: true}}
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "kjv_multi"
			}
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			if st := h.run(spec); st.State != pipeline.StateDone || st.Written != 60 {
				t.Fatalf("status %s written %d (%s)", st.State, st.Written, st.Reason)
			}
			got := map[string][]string{}
			labelOf := map[string]string{}
			if sinkName == "parquet" {
				for id, c := range readClassifications(t, h, spec) {
					got[id], labelOf[id] = c.LabelsPredicted, c.Label
				}
			} else {
				rows, err := connect(t, h.dbURL).Query(context.Background(), "select id, label, labels_predicted from kjv_multi")
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var id, label string
					var lp []string
					if err := rows.Scan(&id, &label, &lp); err != nil {
						t.Fatal(err)
					}
					got[id], labelOf[id] = lp, label
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != 60 {
				t.Fatalf("%d rows, want 60", len(got))
			}
			for id, lp := range got {
				if len(lp) == 0 || !slices.Contains(lp, labelOf[id]) {
					t.Fatalf("%s: labels_predicted %q, label %q", id, lp, labelOf[id])
				}
				for _, l := range lp {
					if !slices.Contains(kjvLabels, l) {
						t.Fatalf("%s: labels_predicted %q holds a label outside the set", id, lp)
					}
				}
			}
		})
	}
}
