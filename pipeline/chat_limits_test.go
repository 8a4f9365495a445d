package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestChatMaxTokensAndContext: replies cut at -max-tokens are written,
// flagged and counted; a prompt over the model's context is dead-lettered
// with its size, not truncated.
func TestChatMaxTokensAndContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.limits = chatLimits()
	h.startWorkers(2)
	const n = 30
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"id\":\"doc-%02d\",\"text\":%q}\n", i, corpusText(i))
	}
	// command-r7b-12-2024 has a context of 128,000 tokens.
	fmt.Fprintf(&b, "{\"id\":\"huge\",\"text\":%q}\n", strings.Repeat("word ", 110_000))
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := pipeline.Spec{ID: "chat-cut", Op: pipeline.OpChat, Model: "command-r7b-12-2024", Inputs: []string{path},
		Sink: "parquet:" + h.out, ChatOptions: pipeline.ChatOptions{Prompt: "Say more about {{.text}}", MaxTokens: 3}}.WithDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != n || st.Failed != 1 || st.MaxTokensCut != n {
		t.Fatalf("status %s written %d failed %d cut %d (%s)", st.State, st.Written, st.Failed, st.MaxTokensCut, st.Reason)
	}
	if fs := h.fake.Stats(); fs.ChatMaxTokens != n || fs.BilledOutputTokens != 3*n || st.OutputTokens != 3*n {
		t.Errorf("fake cut %d replies and billed %d output tokens; job counted %d", fs.ChatMaxTokens, fs.BilledOutputTokens, st.OutputTokens)
	}
	dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "huge" || !strings.Contains(dead[0].Reason, "~137504 tokens") ||
		!strings.Contains(dead[0].Reason, "over the context of command-r7b-12-2024") {
		t.Errorf("dead letters %+v, want huge with its token count", dead)
	}
	got := map[string]bool{}
	for id, c := range chatRows(t, h, spec) {
		got[id] = true
		var i int
		if _, err := fmt.Sscanf(id, "doc-%02d", &i); err != nil {
			t.Fatal(err)
		}
		text := coheretest.ChatText(spec.Model, 0, []coheretest.Turn{{Role: "user", Text: "Say more about " + corpusText(i)}})
		if c.FinishReason != "MAX_TOKENS" || c.OutputTokens != 3 || c.Output == "" || !strings.HasPrefix(text, c.Output) {
			t.Fatalf("%s: finish %s, %d tokens, output %q (full reply %q)", id, c.FinishReason, c.OutputTokens, c.Output, text)
		}
	}
	if len(got) != n {
		t.Errorf("%d rows, want %d", len(got), n)
	}
}

// TestChatBudget: -max-cost on billed input and output tokens stops the job
// before the fake has billed past it (the sync route: -async off, so no
// -max-tokens is needed).
func TestChatBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.limits = chatLimits()
	h.startWorkers(1)
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "{\"id\":\"doc-%03d\",\"text\":\"a note of fixed length number %03d\"}\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := pipeline.Spec{ID: "chat-budget", Op: pipeline.OpChat, Inputs: []string{path}, Sink: "parquet:" + h.out,
		ChatOptions: pipeline.ChatOptions{Prompt: "Summarise: {{.text}}"}, AsyncOptions: pipeline.AsyncOptions{Async: pipeline.AsyncOff},
		Budget: pipeline.Budget{MaxCost: 0.01}}.WithDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	est, err := pipeline.EstimateCost(context.Background(), spec)
	if err != nil || est.Records != 300 || est.OutputTokens != 300*pipeline.ChatEstimateOutput || est.Cost <= 0.01 {
		t.Fatalf("estimate %+v, %v", est, err)
	}
	if err := h.store.SetBudget(context.Background(), spec.ID, spec.Pricing()); err != nil {
		t.Fatal(err)
	}
	st := h.run(spec)
	fs := h.fake.Stats()
	billed := float64(fs.BilledInputTokens)/1e6*2.5 + float64(fs.BilledOutputTokens)/1e6*10
	if st.State != jobstore.StateAborted || !strings.Contains(st.Reason, "budget") {
		t.Fatalf("status %s (%s), want aborted on the budget", st.State, st.Reason)
	}
	if billed > 0.01 || billed < 0.009 || fs.ChatReplies == 0 || fs.ChatReplies >= 300 {
		t.Errorf("fake billed $%.5f for %d replies under -max-cost $0.01", billed, fs.ChatReplies)
	}
	if c := pipeline.Billed(st); c != billed {
		t.Errorf("job counts $%.6f, fake billed $%.6f", c, billed)
	}
}

// TestChatBatchesBudgetNeedsMaxTokens: a batch may bill each reply up to
// the model's maximum, so a chat job under -max-cost that may take the
// Batches route (-async batches or auto) must bound its replies with
// -max-tokens; the sync route alone (-async off) counts what is billed.
func TestChatBatchesBudgetNeedsMaxTokens(t *testing.T) {
	for _, tc := range []struct {
		async     string
		maxTokens int
		ok        bool
	}{
		{pipeline.AsyncAuto, 0, false},
		{pipeline.AsyncBatches, 0, false},
		{pipeline.AsyncOff, 0, true},
		{pipeline.AsyncAuto, 100, true},
		{pipeline.AsyncBatches, 100, true},
	} {
		spec := pipeline.Spec{ID: "chat-mt", Op: pipeline.OpChat, Inputs: []string{"in.jsonl"}, Sink: "parquet:/tmp/x",
			ChatOptions:  pipeline.ChatOptions{Prompt: "{{.text}}", MaxTokens: tc.maxTokens},
			AsyncOptions: pipeline.AsyncOptions{Async: tc.async}, Budget: pipeline.Budget{MaxCost: 5}}.WithDefaults()
		err := spec.Validate()
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "-max-tokens") {
			t.Errorf("-async %s -max-tokens %d: err %v, want ok %v", tc.async, tc.maxTokens, err, tc.ok)
		}
		spec.MaxCost = 0
		if err := spec.Validate(); err != nil {
			t.Errorf("-async %s -max-tokens %d without -max-cost: %v", tc.async, tc.maxTokens, err)
		}
	}
}

// TestChatRefusesBatchModel: each line of a chat batch names -model in its
// body, so a batch created under another model (-batch-model) would
// disagree with its own lines; a chat job refuses -batch-model.
func TestChatRefusesBatchModel(t *testing.T) {
	spec := pipeline.Spec{ID: "chat-bm", Op: pipeline.OpChat, Inputs: []string{"in.jsonl"}, Sink: "parquet:/tmp/x",
		ChatOptions:  pipeline.ChatOptions{Prompt: "{{.text}}"},
		AsyncOptions: pipeline.AsyncOptions{Async: pipeline.AsyncBatches, BatchModel: "command-r-08-2024"}}.WithDefaults()
	if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "-batch-model") {
		t.Errorf("-op chat -batch-model: err %v, want -batch-model refused", err)
	}
	spec.BatchModel = ""
	if err := spec.Validate(); err != nil || spec.BatchModelName() != spec.Model {
		t.Errorf("-op chat: err %v, batch model %q, want -model %q", err, spec.BatchModelName(), spec.Model)
	}
}
