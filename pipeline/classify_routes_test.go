package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/kjvtest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
)

// kjvLabels are the labels of the bundled King James verses: the book
// group of the verse's book (internal/kjvtest).
var kjvLabels = kjvtest.Labels

// kjvFineTuned is the fine-tuned classify model the classify route calls:
// the fake serves it with the sample's examples as its training set.
const kjvFineTuned = "kjv-books-ft"

// kjvSet is a labelled sample of examples/kjv/bible.jsonl.gz written for a
// job: n records spread evenly over the whole Bible, and perLabel examples
// of each book group taken from verses that are not records.
type kjvSet struct {
	kjvtest.Set
	records  string            // JSONL path
	truth    map[string]string // id → label
	texts    map[string]string // id → text
	examples []cohere.ClassifyExample
}

func kjvSample(t *testing.T, n, perLabel int) kjvSet {
	t.Helper()
	set, err := kjvtest.Sample(n, perLabel)
	if err != nil {
		t.Fatal(err)
	}
	s := kjvSet{Set: set, truth: map[string]string{}, texts: map[string]string{}}
	for _, v := range set.Records {
		s.truth[v.ID], s.texts[v.ID] = v.Label, v.Text
	}
	for _, e := range set.Examples {
		s.examples = append(s.examples, cohere.ClassifyExample{Text: e.Text, Label: e.Label})
	}
	s.records = filepath.Join(t.TempDir(), "kjv.jsonl")
	if err := os.WriteFile(s.records, []byte(set.RecordsJSONL()), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// fineTuned registers the sample's examples as the training set of
// kjvFineTuned.
func (s kjvSet) fineTuned() coheretest.Option {
	ex := make([]coheretest.ClassifyExample, len(s.examples))
	for i, e := range s.examples {
		ex[i] = coheretest.ClassifyExample{Text: e.Text, Label: e.Label}
	}
	return coheretest.WithClassifier(kjvFineTuned, ex)
}

// kjvSpec is a classify job over the sample on route via: the fine-tuned
// model on the classify route, the examples on the embed route (and as
// few-shot turns on chat), the labels on chat.
func kjvSpec(h *harness, set kjvSet, id, via, sinkName string) pipeline.Spec {
	spec := pipeline.Spec{ID: id, Op: pipeline.OpClassify, Inputs: []string{set.records},
		ChunkSize: 50, Sink: "parquet:" + h.out, ClassifyOptions: pipeline.ClassifyOptions{Via: via}}
	switch via {
	case pipeline.ViaClassify:
		spec.Model = kjvFineTuned
	case pipeline.ViaEmbed:
		spec.Examples = set.examples
	case pipeline.ViaChat:
		spec.Examples, spec.Labels = set.examples, kjvLabels
	}
	spec.Input.MetaFields = []string{"book"}
	if sinkName == "postgres" {
		spec.Sink, spec.Table = "postgres", "kjv_"+via
	}
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return spec
}

// TestClassifyRoutesKJV classifies 500 verses into four book groups on
// each route into each sink: every id once, every label from the set, the
// route recorded, confidence empty where the API gives none, the examples
// embedded once, and a re-run pays nothing.
func TestClassifyRoutesKJV(t *testing.T) {
	t.Parallel()
	const n = 500
	for _, via := range []string{pipeline.ViaClassify, pipeline.ViaEmbed, pipeline.ViaChat} {
		for _, sinkName := range []string{"parquet", "postgres"} {
			t.Run(via+"/"+sinkName, func(t *testing.T) {
				t.Parallel()
				set := kjvSample(t, n, 12)
				h := newHarness(t, set.fineTuned())
				h.limits = map[string]ratelimit.Limit{"embed": {Count: 1_000_000, Per: 60e9}, "chat": {Count: 1_000_000, Per: 60e9}, "classify": {Count: 1_000_000, Per: 60e9}}
				if sinkName == "postgres" {
					h.dbURL = testenv.DatabaseURL(t)
				}
				h.startWorkers(4)
				spec := kjvSpec(h, set, "kjv-"+via+"-"+sinkName, via, sinkName)
				st := h.run(spec)
				if st.State != jobstore.StateDone || st.Written != n || st.Failed != 0 || st.Total() != n {
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
					// The chat API gives no confidence: NULL, not 0.
					if (via == pipeline.ViaChat) != (c.Confidence == nil) || c.Confidence != nil && (*c.Confidence <= 0 || *c.Confidence > 1) {
						t.Fatalf("%s: route %s confidence %v", id, via, c.Confidence)
					}
					if c.Label == set.truth[id] {
						right++
					}
				}
				if sinkName == "postgres" {
					var nulls int
					if err := connect(t, h.dbURL).QueryRow(context.Background(), "select count(*) from "+spec.Table+" where confidence is null").Scan(&nulls); err != nil {
						t.Fatal(err)
					}
					if want := map[bool]int{true: n}[via == pipeline.ViaChat]; nulls != want {
						t.Errorf("%d rows with a null confidence, want %d (the chat API gives none)", nulls, want)
					}
				}
				label, majority := set.Majority()
				t.Logf("accuracy: %s route %d/%d (%.1f%%); majority class (%s) %d/%d (%.1f%%)", via, right, n, 100*float64(right)/n, label, majority, n, 100*float64(majority)/n)
				stats := h.fake.Stats()
				distinctTexts := map[string]bool{}
				for _, text := range set.texts {
					distinctTexts[text] = true
				}
				calls := stats.Calls
				switch via {
				case pipeline.ViaClassify:
					// 10 chunks of 50 records, one call each.
					if calls["POST /v1/classify"] != n/50 || stats.BilledClassifications != n || calls["POST /v2/embed"]+calls["POST /v2/chat"] != 0 {
						t.Errorf("calls %v, %d classifications billed; want %d classify calls for %d records", calls, stats.BilledClassifications, n/50, n)
					}
				case pipeline.ViaEmbed:
					// The examples once, then each record once.
					if stats.EmbeddedTexts != len(set.examples)+len(distinctTexts) || stats.EmbeddedTexts != stats.UniqueTexts {
						t.Errorf("embedded %d texts (%d distinct), want %d examples + %d records, each once", stats.EmbeddedTexts, stats.UniqueTexts, len(set.examples), len(distinctTexts))
					}
					if c := calls["POST /v2/chat"] + calls["POST /v1/classify"]; c != 0 {
						t.Errorf("%d chat or classify calls on the embed route", c)
					}
				case pipeline.ViaChat:
					if c := calls["POST /v2/chat"]; c != len(distinctTexts) {
						t.Errorf("%d chat calls, want one per distinct text (%d)", c, len(distinctTexts))
					}
				}

				h.fake.ResetStats()
				st = h.run(spec)
				if st.State != jobstore.StateDone || st.Skipped != n || st.Written != 0 {
					t.Fatalf("re-run: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
				}
				if calls := h.fake.Stats().Calls; calls["POST /v2/embed"]+calls["POST /v2/chat"]+calls["POST /v1/classify"] != 0 {
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
	rows, err := connect(t, h.dbURL).Query(context.Background(), "select id, label, confidence, route, fingerprint from "+spec.Table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c sinks.Classification
		if err := rows.Scan(&c.ID, &c.Label, &c.Confidence, &c.Route, &c.Fingerprint); err != nil {
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
			if st := h.run(spec); st.State != jobstore.StateDone || st.Written != 60 {
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

// TestClassifyChatCost: the chat route's estimate and -max-cost count the
// replies' output tokens at -price-per-mtok-out (or the model's output
// list price), beside the input tokens at -price-per-mtok.
func TestClassifyChatCost(t *testing.T) {
	t.Parallel()
	const n = 100
	set := kjvSample(t, n, 2)
	h := newHarness(t)
	h.limits = map[string]ratelimit.Limit{"chat": {Count: 1_000_000, Per: 60e9}}
	h.startWorkers(1)
	spec := kjvSpec(h, set, "kjv-chat-cost", pipeline.ViaChat, "parquet")
	spec.Examples, spec.ExamplesSHA256 = nil, ""

	// The estimate: one call per record, each reply at most the longest
	// label's JSON object, {"label":"History and Wisdom"}: 30 bytes, 8 tokens.
	e, err := pipeline.EstimateCost(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	price, priceOut := pipeline.ChatPrices[spec.Model][0], pipeline.ChatPrices[spec.Model][1]
	if e.Calls != n || e.OutputTokens != 8*n || e.Price != price || e.PriceOut != priceOut || e.Tokens < 40*n ||
		e.Cost != pipeline.Cost(price, e.Tokens, 0)+pipeline.Cost(priceOut, e.OutputTokens, 0) {
		t.Fatalf("estimate %+v: want %d calls, %d output tokens at %g, input at %g", e, n, 8*n, priceOut, price)
	}
	if s := e.String(); !strings.Contains(s, "at most 800 output tokens") {
		t.Errorf("estimate prints %q, without the output tokens", s)
	}

	// The embed route pays its examples once besides the records, in
	// calls of up to 96 texts, and no output tokens.
	es := kjvSpec(h, set, "kjv-embed-cost", pipeline.ViaEmbed, "parquet")
	ee, err := pipeline.EstimateCost(context.Background(), es)
	if err != nil {
		t.Fatal(err)
	}
	if ee.Calls != 2+1 || ee.OutputTokens != 0 || ee.Price != 0.12 || ee.Tokens <= e.Tokens/10 {
		t.Errorf("embed route estimate %+v: want 3 calls (100 records, 8 examples) at 0.12", ee)
	}

	// -max-cost: at 2,000 USD per million output tokens the replies cost
	// about 100 times the prompts, and the job stops at its budget.
	spec.PricePerMTokOut, spec.MaxCost = 2000, 0.4
	if e, _ = pipeline.EstimateCost(context.Background(), spec); pipeline.CheckBudget(spec, e) == nil {
		t.Errorf("estimate %s passes -max-cost %g", e, spec.MaxCost)
	}
	st := h.run(spec)
	stats := h.fake.Stats()
	if st.State != jobstore.StateAborted || !strings.Contains(st.Reason, "budget") || st.Written >= n {
		t.Fatalf("status %s written %d (%s): want aborted by -max-cost", st.State, st.Written, st.Reason)
	}
	if st.OutputTokens != int64(stats.BilledOutputTokens) || st.Tokens != int64(stats.BilledInputTokens) || st.OutputTokens == 0 {
		t.Fatalf("job counted %d input and %d output tokens, the fake billed %d and %d", st.Tokens, st.OutputTokens, stats.BilledInputTokens, stats.BilledOutputTokens)
	}
	spent := pipeline.Cost(price, st.Tokens, 0) + pipeline.Cost(2000, st.OutputTokens, 0)
	perCall := spent / float64(stats.Calls["POST /v2/chat"])
	// Calls already in flight when the budget ran out (8 per chunk) finish.
	if pipeline.Billed(st) != spent || spent < spec.MaxCost-perCall || spent > spec.MaxCost+8*perCall {
		t.Errorf("spent %s (status says %s) for -max-cost %g, %g a call", fmt.Sprint(spent), fmt.Sprint(pipeline.Billed(st)), spec.MaxCost, perCall)
	}
}

// TestChatShots: the chat route's few-shot turns take the labels in turn,
// so that an examples file sorted by label shows every label, up to 32.
func TestChatShots(t *testing.T) {
	t.Parallel()
	var ex []cohere.ClassifyExample
	for _, l := range []string{"a", "b", "c", "d"} {
		for i := range 12 {
			ex = append(ex, cohere.ClassifyExample{Text: fmt.Sprint(l, i), Label: l})
		}
	}
	shots := pipeline.ChatShots([]string{"a", "b", "c", "d"}, ex)
	per := map[string]int{}
	for _, s := range shots {
		per[s.Label]++
	}
	if len(shots) != 32 || per["a"] != 8 || per["d"] != 8 || shots[0].Text != "a0" || shots[1].Text != "b0" || shots[4].Text != "a1" {
		t.Fatalf("%d shots, %v per label, first %v", len(shots), per, shots[:5])
	}
	if got := pipeline.ChatShots([]string{"a", "b"}, ex[:3]); len(got) != 3 {
		t.Fatalf("%d shots of 3 examples", len(got))
	}
}
