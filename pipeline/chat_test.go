package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/cohere/schema"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

type chatRecord struct {
	ID    string `json:"id"`
	Text  string `json:"text"`
	Title string `json:"title,omitempty"`
}

// chatCorpus writes n records with a title, and after the first half one
// record without a title, returning the path and the records by id.
func chatCorpus(t *testing.T, dir string, n int, title func(i int) string) (string, map[string]chatRecord) {
	t.Helper()
	recs := map[string]chatRecord{}
	var b bytes.Buffer
	for i := range n {
		r := chatRecord{ID: fmt.Sprintf("doc-%04d", i), Text: corpusText(i), Title: title(i)}
		recs[r.ID] = r
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
		if i == n/2 {
			b.WriteString(`{"id":"untitled","text":"a record without a title"}` + "\n")
		}
	}
	path := filepath.Join(dir, "records.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, recs
}

func chatLimits() map[string]ratelimit.Limit {
	return map[string]ratelimit.Limit{"chat": {Count: 1_000_000, Per: time.Minute}}
}

// chatRows reads a chat job's rows from its sink, failing on an id stored
// twice.
func chatRows(t *testing.T, h *harness, spec pipeline.Spec) map[string]sinks.ChatResult {
	t.Helper()
	got := map[string]sinks.ChatResult{}
	if spec.Sink != "postgres" {
		err := parquet.ReadChats(h.out, spec.ID, func(c sinks.ChatResult) error {
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
	rows, err := conn.Query(context.Background(), `select id, output, output_json, finish_reason, input_tokens, output_tokens,
		model, fingerprint, content_sha256, metadata, coalesce(prompt, '') from `+spec.Table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c sinks.ChatResult
		var oj, meta, sha []byte
		if err := rows.Scan(&c.ID, &c.Output, &oj, &c.FinishReason, &c.InputTokens, &c.OutputTokens, &c.Model,
			&c.Fingerprint, &sha, &meta, &c.Prompt); err != nil {
			t.Fatal(err)
		}
		c.OutputJSON, c.Metadata = oj, meta
		copy(c.ContentSHA256[:], sha)
		got[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func chatCalls(h *harness) int { return h.fake.Stats().Calls["POST /v2/chat"] }

// TestChatJobEndToEnd prompts every record through the sync route into each
// sink: each stored output is the fake's reply to that record's rendered
// prompt, the record lacking a field the template reads is dead-lettered
// naming it, a re-run costs 0 calls, a changed record re-runs alone and a
// changed template re-runs all.
func TestChatJobEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.limits = chatLimits()
			if sinkName == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(4)
			const n = 240
			dir := t.TempDir()
			path, recs := chatCorpus(t, dir, n, func(i int) string { return fmt.Sprintf("Note %d", i) })
			spec := pipeline.Spec{ID: "chat-" + sinkName, Op: pipeline.OpChat, Inputs: []string{path}, ChunkSize: 50,
				Sink: "parquet:" + h.out, ChatOptions: pipeline.ChatOptions{
					Prompt: "Summarise {{.title}} in one sentence: {{.text}}", System: "You are terse.", StorePrompt: sinkName == "postgres"}}
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "chat_replies"
			}
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			st := h.run(spec)
			if st.State != jobstore.StateDone || st.Written != n || st.Failed != 1 || st.Total() != n+1 {
				t.Fatalf("status %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			if calls := chatCalls(h); calls != n {
				t.Errorf("%d chat calls, want %d", calls, n)
			}
			dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 || dead[0].ID != "untitled" || !strings.Contains(dead[0].Reason, `field "title"`) {
				t.Errorf("dead letters = %+v, want untitled naming field \"title\"", dead)
			}
			checkChatRows(t, h, spec, recs, func(r chatRecord) string {
				return fmt.Sprintf("Summarise %s in one sentence: %s", r.Title, r.Text)
			})

			// Nothing changed: no call.
			h.fake.ResetStats()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Skipped != n || st.Written != 0 || chatCalls(h) != 0 {
				t.Fatalf("re-run: %s written %d skipped %d, %d calls", st.State, st.Written, st.Skipped, chatCalls(h))
			}

			// One record's title changed: it alone is asked again.
			r := recs["doc-0007"]
			r.Title = "Retitled"
			recs[r.ID] = r
			data, _ := os.ReadFile(path)
			data = bytes.Replace(data, []byte(`"title":"Note 7"`), []byte(`"title":"Retitled"`), 1)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			h.fake.ResetStats()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Written != 1 || st.Skipped != n-1 || chatCalls(h) != 1 {
				t.Fatalf("changed record: %s written %d skipped %d, %d calls", st.State, st.Written, st.Skipped, chatCalls(h))
			}
			checkChatRows(t, h, spec, recs, func(r chatRecord) string {
				return fmt.Sprintf("Summarise %s in one sentence: %s", r.Title, r.Text)
			})

			if sinkName == "postgres" {
				// The table outlives the job: another job with the same
				// template finds every reply stored.
				same := spec
				same.ID += "-same"
				h.fake.ResetStats()
				st = h.run(same)
				if st.State != jobstore.StateDone || st.Skipped != n || chatCalls(h) != 0 {
					t.Fatalf("same template, new job: %s written %d skipped %d, %d calls", st.State, st.Written, st.Skipped, chatCalls(h))
				}
			}

			// A changed template changes the fingerprint: every record again
			// (a changed spec is a new job).
			spec.ID += "-v2"
			spec.Prompt = "In five words, {{.title}}: {{.text}}"
			h.fake.ResetStats()
			st = h.run(spec)
			if st.State != jobstore.StateDone || st.Written != n || chatCalls(h) != n {
				t.Fatalf("changed template: %s written %d skipped %d, %d calls", st.State, st.Written, st.Skipped, chatCalls(h))
			}
			checkChatRows(t, h, spec, recs, func(r chatRecord) string {
				return fmt.Sprintf("In five words, %s: %s", r.Title, r.Text)
			})
		})
	}
}

// checkChatRows checks every row against the fake's reply to its record's
// prompt.
func checkChatRows(t *testing.T, h *harness, spec pipeline.Spec, recs map[string]chatRecord, prompt func(chatRecord) string) {
	t.Helper()
	got := chatRows(t, h, spec)
	if len(got) != len(recs) {
		t.Fatalf("sink holds %d rows, want %d", len(got), len(recs))
	}
	for id, r := range recs {
		c, ok := got[id]
		if !ok {
			t.Fatalf("%s missing from the sink", id)
		}
		p := prompt(r)
		want := coheretest.ChatText(spec.Model, 0, []coheretest.Turn{{Role: "system", Text: spec.System}, {Role: "user", Text: p}})
		if c.Output != want {
			t.Fatalf("%s: output %q, want %q", id, c.Output, want)
		}
		if c.FinishReason != "COMPLETE" || c.InputTokens <= 0 || c.OutputTokens <= 0 || c.Model != spec.Model ||
			c.Fingerprint != spec.Fingerprint() || c.ContentSHA256 != sha256.Sum256([]byte(p)) || len(c.OutputJSON) != 0 {
			t.Fatalf("%s: row %+v", id, c)
		}
		if spec.StorePrompt != (c.Prompt == p) {
			t.Fatalf("%s: prompt %q with -store-prompt %v", id, c.Prompt, spec.StorePrompt)
		}
		var meta map[string]string
		if err := json.Unmarshal(c.Metadata, &meta); err != nil || meta["title"] != r.Title {
			t.Fatalf("%s: metadata %s", id, c.Metadata)
		}
	}
}

const reviewSchema = `{
  "type": "object",
  "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
    "score": {"type": "number", "minimum": 1, "maximum": 5},
    "summary": {"type": "string"}
  },
  "required": ["sentiment", "score", "summary"],
  "additionalProperties": false
}`

// TestChatStructuredOutput runs a -json-schema job into each sink: every
// output_json validates and is the fake's structured reply; a reply that
// breaks the schema once is asked again and written, one that always
// breaks it is dead-lettered with the raw reply and the validation error.
func TestChatStructuredOutput(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, coheretest.WithBadReplies(func(last string, earlier int) bool {
				return strings.Contains(last, "record 11 ") && earlier == 0 || strings.Contains(last, "record 13 ")
			}))
			h.limits = chatLimits()
			if sinkName == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(2)
			const n = 120
			path, recs := chatCorpus(t, t.TempDir(), n, func(i int) string { return fmt.Sprintf("Review %d", i) })
			spec := pipeline.Spec{ID: "chatjson-" + sinkName, Op: pipeline.OpChat, Inputs: []string{path}, ChunkSize: 40,
				Sink: "parquet:" + h.out, ChatOptions: pipeline.ChatOptions{
					Prompt: "Rate this review, positive or negative: {{.text}}", JSONSchema: json.RawMessage(reviewSchema)}}
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "chat_reviews"
			}
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			st := h.run(spec)
			// Failed: the untitled record is fine here (the template reads
			// no title); record 13 always breaks the schema.
			if st.State != jobstore.StateDone || st.Written != n || st.Failed != 1 {
				t.Fatalf("status %s written %d failed %d (%s)", st.State, st.Written, st.Failed, st.Reason)
			}
			if calls := chatCalls(h); calls != n+1+2 {
				t.Errorf("%d chat calls, want %d (one retry for record 11, two calls for record 13)", calls, n+3)
			}
			dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 || dead[0].ID != "doc-0013" || !strings.Contains(dead[0].Reason, "raw reply") ||
				!strings.Contains(dead[0].Reason, "sentiment") {
				t.Errorf("dead letters = %+v, want doc-0013 with its raw reply and the missing property", dead)
			}
			sch, err := schema.Compile([]byte(reviewSchema))
			if err != nil {
				t.Fatal(err)
			}
			recs["untitled"] = chatRecord{ID: "untitled", Text: "a record without a title"}
			delete(recs, "doc-0013")
			got := chatRows(t, h, spec)
			if len(got) != len(recs) {
				t.Fatalf("sink holds %d rows, want %d", len(got), len(recs))
			}
			sentiments := map[string]int{}
			for id, r := range recs {
				c, ok := got[id]
				if !ok {
					t.Fatalf("%s missing", id)
				}
				if err := sch.Validate(c.OutputJSON); err != nil {
					t.Fatalf("%s: output_json %s: %v", id, c.OutputJSON, err)
				}
				p := "Rate this review, positive or negative: " + r.Text
				want, err := coheretest.ChatJSON(spec.Model, 0, []coheretest.Turn{{Role: "user", Text: p}}, []byte(reviewSchema))
				if err != nil {
					t.Fatal(err)
				}
				if c.Output != want || !jsonEqual(t, c.OutputJSON, []byte(want)) {
					t.Fatalf("%s: output %q json %s, want %s", id, c.Output, c.OutputJSON, want)
				}
				var v struct{ Sentiment string }
				_ = json.Unmarshal(c.OutputJSON, &v)
				sentiments[v.Sentiment]++
			}
			// The fake picks the enum value the prompt mentions first.
			if sentiments["positive"] != len(recs) {
				t.Errorf("sentiments %v, want every one positive", sentiments)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
