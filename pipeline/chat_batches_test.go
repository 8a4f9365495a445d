package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/cohere/schema"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// kjvChat writes the first n verses of examples/kjv/bible.jsonl.gz as chat
// records, the verse's book as the title the template reads.
func kjvChat(t *testing.T, n int) (string, map[string]chatRecord) {
	t.Helper()
	recs := map[string]chatRecord{}
	var b bytes.Buffer
	for _, v := range testenv.KJV(t, n) {
		r := chatRecord{ID: v.ID, Text: v.Text, Title: v.Book}
		recs[r.ID] = r
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "verses.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, recs
}

// repeatedPrompts counts the records of the kjvChat file at path whose
// prompt (verseOf) an earlier record of the same chunk of size records has.
func repeatedPrompts(path string, size int) int {
	b, _ := os.ReadFile(path)
	n, seen := 0, map[string]bool{}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if i%size == 0 {
			clear(seen)
		}
		var r chatRecord
		_ = json.Unmarshal(line, &r)
		if p := verseOf(r); seen[p] {
			n++
		} else {
			seen[p] = true
		}
	}
	return n
}

// chatHarness is a harness for chat jobs into sinkName (parquet or
// postgres) with its workers started, polling fast when async.
func chatHarness(t *testing.T, sinkName string, workers int, async bool, opts ...coheretest.Option) *harness {
	t.Helper()
	if async {
		opts = append([]coheretest.Option{asyncDelays}, opts...)
	}
	h := newHarness(t, opts...)
	h.limits = chatLimits()
	if sinkName == "postgres" {
		h.dbURL = testenv.DatabaseURL(t)
	}
	if async {
		h.startAsyncWorkers(workers, nil)
	} else {
		h.startWorkers(workers)
	}
	return h
}

func verseOf(r chatRecord) string {
	return fmt.Sprintf("Summarise this verse of %s: %s", r.Title, r.Text)
}

func (h *harness) chatBatchSpec(job, path string) pipeline.Spec {
	return h.chatSpec(job, path, pipeline.AsyncBatches)
}

// chatSpec is a chat job over verses (kjvChat) on the given route.
func (h *harness) chatSpec(job, path, route string) pipeline.Spec {
	h.t.Helper()
	spec := pipeline.Spec{ID: job, Op: pipeline.OpChat, Inputs: []string{path}, ChunkSize: 500, Sink: "parquet:" + h.out,
		AsyncOptions: pipeline.AsyncOptions{Async: route},
		ChatOptions:  pipeline.ChatOptions{Prompt: "Summarise this verse of {{.title}}: {{.text}}", System: "You are terse."}}.WithDefaults()
	if err := spec.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return spec
}

// TestChatBatchesEndToEnd runs 5,000 verses through the Batches route into
// each sink, the fake repeating output rows and losing lines: each record
// is written once with the fake's reply to its rendered prompt, the lost
// lines through the sync route (-async-fallback sync), the job counts what
// the fake billed; a re-run makes no call and a changed template runs
// every record again.
func TestChatBatchesEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := chatHarness(t, sinkName, 4, true, coheretest.WithPartRows(1500), coheretest.WithBatchDuplicates(0.02),
				coheretest.WithBatchLostLines(0.01), coheretest.WithSeed(15))
			const n = 5000
			path, recs := kjvChat(t, n)
			spec := h.chatBatchSpec("chatb-"+sinkName, path)
			if sinkName == "postgres" {
				spec.Sink, spec.Table, spec.StorePrompt = "postgres", "chatbatch_replies", true
				if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
					t.Fatal(err)
				}
			}
			h.plan(spec, 2000)
			st := h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Written != n || st.Failed != 0 || st.Total() != n {
				t.Fatalf("status %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			// Each lost line is asked once through the sync route, which asks
			// a prompt repeated within a chunk once: the calls fall short of
			// the lost lines by at most the chunks' repeated prompts.
			fs := h.fake.Stats()
			if calls, repeats := chatCalls(h), repeatedPrompts(path, spec.ChunkSize); fs.LostLines == 0 || calls > fs.LostLines || calls < fs.LostLines-repeats {
				t.Errorf("%d lines lost, %d sync chat calls (%d prompts repeat within their chunk): want each lost line asked once through the sync route", fs.LostLines, calls, repeats)
			}
			h.checkClean(st, 3, "POST /v2/batches")
			if st.Tokens != int64(fs.BilledInputTokens) || st.OutputTokens != int64(fs.BilledOutputTokens) || st.OutputTokens == 0 {
				t.Errorf("job counts %d input and %d output tokens, fake billed %d and %d", st.Tokens, st.OutputTokens, fs.BilledInputTokens, fs.BilledOutputTokens)
			}
			checkChatRows(t, h, spec, recs, verseOf)

			// Nothing changed: no dataset, no batch, no call.
			h.fake.ResetStats()
			h.plan(spec, 2000)
			st = h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Skipped != n || st.Written != 0 {
				t.Fatalf("re-run: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
			}
			if calls := h.fake.Stats().Calls; len(calls) != 0 {
				t.Errorf("re-run made calls %v, want none", calls)
			}

			// A changed template: every record again, through new batches.
			spec.ID += "-v2"
			spec.Prompt = "In five words, {{.title}}: {{.text}}"
			h.fake.ResetStats()
			h.plan(spec, 2000)
			st = h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Written != n || st.Skipped != 0 {
				t.Fatalf("changed template: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
			}
			// One reply a record, but for lost lines whose prompt repeats
			// within their chunk (asked once, as above).
			if fs, repeats := h.fake.Stats(), repeatedPrompts(path, spec.ChunkSize); fs.Calls["POST /v2/batches"] != 3 || fs.ChatReplies > n || fs.ChatReplies < n-repeats {
				t.Errorf("changed template: %d batches, %d replies, want 3 and %d (%d prompts repeat within their chunk)", fs.Calls["POST /v2/batches"], fs.ChatReplies, n, repeats)
			}
			checkChatRows(t, h, spec, recs, func(r chatRecord) string { return fmt.Sprintf("In five words, %s: %s", r.Title, r.Text) })
		})
	}
}

// TestChatSyncVerses runs the same 5,000 verses through the sync route
// into each sink: each record is written once with the fake's reply to its
// prompt, one call per distinct prompt of a chunk (a verse repeated
// within a chunk is paid once), and a re-run makes no call.
func TestChatSyncVerses(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := chatHarness(t, sinkName, 4, false)
			const n = 5000
			path, recs := kjvChat(t, n)
			spec := h.chatSpec("chats-"+sinkName, path, pipeline.AsyncOff)
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "chatsync_replies"
			}
			want := 0
			seen := map[string]bool{}
			for i, v := range testenv.KJV(t, n) {
				if i%spec.ChunkSize == 0 {
					clear(seen)
				}
				p := verseOf(chatRecord{Text: v.Text, Title: v.Book})
				if !seen[p] {
					seen[p] = true
					want++
				}
			}
			st := h.run(spec)
			if st.State != jobstore.StateDone || st.Written != n || st.Failed != 0 || chatCalls(h) != want || want == n {
				t.Fatalf("status %s written %d failed %d, %d calls, want %d (%s)", st.State, st.Written, st.Failed, chatCalls(h), want, st.Reason)
			}
			checkChatRows(t, h, spec, recs, verseOf)
			h.fake.ResetStats()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Skipped != n || len(h.fake.Stats().Calls) != 0 {
				t.Fatalf("re-run: %s written %d skipped %d, calls %v", st.State, st.Written, st.Skipped, h.fake.Stats().Calls)
			}
		})
	}
}

// TestChatBatchesDeadLetterFallback: with -async-fallback dead-letter, a
// line the batch lost and a line it answered with an error are
// dead-lettered with the reason, a reply that breaks -json-schema with the
// raw reply; with the default fallback the same records go the sync route,
// which writes the lost ones and dead-letters the rest as it does its own.
func TestChatBatchesDeadLetterFallback(t *testing.T) {
	t.Parallel()
	h := chatHarness(t, "parquet", 4, true, coheretest.WithBatchLostLines(0.02), coheretest.WithSeed(7),
		coheretest.WithPoison("the sons of Shem"),
		coheretest.WithBadReplies(func(last string, _ int) bool { return strings.Contains(last, "Genesis 1:5 ") }))
	const n = 600
	path, recs := kjvChat(t, n)
	poisoned := 0
	for _, r := range recs {
		if strings.Contains(r.Text, "the sons of Shem") {
			poisoned++
		}
	}
	spec := h.chatBatchSpec("chatb-dead", path)
	spec.Prompt = "Rate {{.id}} : {{.text}}"
	spec.JSONSchema = json.RawMessage(reviewSchema)
	spec.AsyncFallback = pipeline.FallbackDeadLetter
	h.plan(spec, 1000)
	st := h.follow(spec.ID)
	lost := h.fake.Stats().LostLines
	if poisoned == 0 || lost == 0 || st.State != jobstore.StateDone || st.Written+st.Failed != n {
		t.Fatalf("status %s written %d failed %d; %d lost, %d poisoned (%s)", st.State, st.Written, st.Failed, lost, poisoned, st.Reason)
	}
	if c := chatCalls(h); c != 0 {
		t.Errorf("%d sync chat calls, want 0 with -async-fallback dead-letter", c)
	}
	dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each dead letter is a lost line, or else the poisoned record or the
	// invalid reply, with its reason; a lost line may be either of them.
	why := map[string]string{}
	for _, d := range dead {
		switch {
		case strings.Contains(d.Reason, "missing from the output of batch"):
			why[d.ID] = "lost"
		case strings.Contains(d.Reason, "answered with an error") && strings.Contains(d.Reason, "could not be processed") &&
			strings.Contains(recs[d.ID].Text, "the sons of Shem"):
			why[d.ID] = "poison"
		case d.ID == "Genesis 1:5" && strings.Contains(d.Reason, "reply invalid") && strings.Contains(d.Reason, "raw reply"):
			why[d.ID] = "invalid"
		default:
			t.Errorf("dead letter %+v", d)
		}
	}
	nLost := 0
	for _, w := range why {
		if w == "lost" {
			nLost++
		}
	}
	if len(dead) != len(why) || nLost != lost || len(why) != int(st.Failed) || why["Genesis 1:5"] == "" {
		t.Errorf("%d dead letters (%d distinct, %d lost of %d), %d failed, Genesis 1:5 %q", len(dead), len(why), nLost, lost, st.Failed, why["Genesis 1:5"])
	}
	for id, r := range recs {
		if strings.Contains(r.Text, "the sons of Shem") && why[id] == "" {
			t.Errorf("%s (poisoned) not dead-lettered", id)
		}
	}

	// Every written reply is the structured one, valid against the schema.
	sch, err := schema.Compile([]byte(reviewSchema))
	if err != nil {
		t.Fatal(err)
	}
	rows := chatRows(t, h, spec)
	if len(rows) != int(st.Written) {
		t.Fatalf("%d rows, %d written", len(rows), st.Written)
	}
	for id, c := range rows {
		want, err := coheretest.ChatJSON(spec.Model, 0, []coheretest.Turn{{Role: "system", Text: spec.System},
			{Role: "user", Text: fmt.Sprintf("Rate %s : %s", id, recs[id].Text)}}, []byte(reviewSchema))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(c.OutputJSON); err != nil || c.Output != want || !jsonEqual(t, c.OutputJSON, []byte(want)) {
			t.Fatalf("%s: output %q json %s (%v), want %s", id, c.Output, c.OutputJSON, err, want)
		}
	}

	// The sync fallback: lost lines are written, the others fail there.
	spec.ID, spec.AsyncFallback = "chatb-sync", pipeline.FallbackSync
	h.fake.ResetStats()
	h.plan(spec, 1000)
	st = h.follow(spec.ID)
	lost = h.fake.Stats().LostLines
	if st.State != jobstore.StateDone || st.Failed != int64(poisoned+1) || st.Written != int64(n-poisoned-1) {
		t.Fatalf("sync fallback: status %s written %d failed %d; %d poisoned (%s)", st.State, st.Written, st.Failed, poisoned, st.Reason)
	}
	// Lost lines and poisoned ones once each, the invalid reply twice
	// (once if the batch lost it).
	if c := chatCalls(h); c < lost+poisoned || c > lost+poisoned+2 {
		t.Errorf("%d sync chat calls, want %d lost lines, %d poisoned and the invalid reply's", c, lost, poisoned)
	}
}

// TestChatBatchesBudget: groups reserve their cost bound before their
// batch is created, so -max-cost stops the job before the fake bills past
// it, with the finished batches' records kept.
func TestChatBatchesBudget(t *testing.T) {
	t.Parallel()
	h := chatHarness(t, "parquet", 4, true)
	const n = 5000
	path, _ := kjvChat(t, n)
	spec := h.chatBatchSpec("chatb-budget", path)
	spec.MaxTokens = 60
	spec.MaxCost = 1.2
	if err := h.store.SetBudget(context.Background(), spec.ID, spec.Pricing()); err != nil {
		t.Fatal(err)
	}
	h.plan(spec, 500)
	st := h.follow(spec.ID)
	fs := h.fake.Stats()
	billed := float64(fs.BilledInputTokens)/1e6*2.5 + float64(fs.BilledOutputTokens)/1e6*10
	if st.State != jobstore.StateAborted || !strings.Contains(st.Reason, "budget") {
		t.Fatalf("status %s (%s), want aborted on the budget", st.State, st.Reason)
	}
	batches := fs.Calls["POST /v2/batches"]
	if billed > spec.MaxCost || batches == 0 || batches >= 10 || fs.ChatReplies != 500*batches {
		t.Errorf("fake billed $%.4f for %d batches (%d replies) under -max-cost $%.2f", billed, batches, fs.ChatReplies, spec.MaxCost)
	}
	if c := pipeline.Billed(st); fmt.Sprintf("%.9f", c) != fmt.Sprintf("%.9f", billed) {
		t.Errorf("job counts $%.6f, fake billed $%.6f", c, billed)
	}
	t.Logf("%d batches, billed $%.4f: %s", batches, billed, st.Reason)
}

// TestChatBatchesMaxTokens: a job over -async-threshold records takes
// the Batches route under -async auto; replies the batch cut at
// -max-tokens are written with finish_reason MAX_TOKENS and counted, as on
// the sync route.
func TestChatBatchesMaxTokens(t *testing.T) {
	t.Parallel()
	h := chatHarness(t, "parquet", 2, true)
	const n = 300
	path, recs := kjvChat(t, n)
	spec := h.chatSpec("chatb-cut", path, pipeline.AsyncAuto)
	spec.MaxTokens, spec.AsyncThreshold = 3, n-1
	h.plan(spec, 1000)
	st := h.follow(spec.ID)
	fs := h.fake.Stats()
	if fs.Calls["POST /v2/batches"] != 1 || chatCalls(h) != 0 {
		t.Fatalf("%d batches, %d sync calls: want the Batches route above the threshold", fs.Calls["POST /v2/batches"], chatCalls(h))
	}
	if st.State != jobstore.StateDone || st.Written != n || st.MaxTokensCut != n || fs.ChatMaxTokens != n || st.OutputTokens != 3*n {
		t.Fatalf("status %s written %d cut %d (fake %d), %d output tokens (%s)", st.State, st.Written, st.MaxTokensCut, fs.ChatMaxTokens, st.OutputTokens, st.Reason)
	}
	for id, c := range chatRows(t, h, spec) {
		full := coheretest.ChatText(spec.Model, 0, []coheretest.Turn{{Role: "system", Text: spec.System}, {Role: "user", Text: verseOf(recs[id])}})
		if c.FinishReason != "MAX_TOKENS" || c.OutputTokens != 3 || c.Output == "" || !strings.HasPrefix(full, c.Output) {
			t.Fatalf("%s: finish %s, %d tokens, output %q (full reply %q)", id, c.FinishReason, c.OutputTokens, c.Output, full)
		}
	}
}
