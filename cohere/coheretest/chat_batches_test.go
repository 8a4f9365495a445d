package coheretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere"
)

func newClient(t *testing.T, s *Server, tweak ...func(*cohere.Config)) *cohere.Client {
	t.Helper()
	cfg := cohere.Config{BaseURL: s.URL, APIKey: DefaultAPIKey}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := cohere.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// chatLines are the requests of the bulk chat tests: plain prompts, one
// with a schema, one the API refuses (max_tokens over the model's limit),
// one without a model (the batch's answers it) and one poison prompt.
func chatLines() (ids []string, reqs []*cohere.ChatRequest) {
	temp, seed := 0.0, int64(7)
	for i := range 6 {
		ids = append(ids, fmt.Sprintf("rec-%d", i))
		reqs = append(reqs, &cohere.ChatRequest{
			Model:       "command-a-03-2025",
			Messages:    []cohere.ChatMessage{cohere.SystemMessage("Be brief."), cohere.UserMessage(fmt.Sprintf("Summarise document number %d about penguins", i))},
			MaxTokens:   100,
			Temperature: &temp, Seed: &seed,
		})
	}
	reqs[1].ResponseFormat = &cohere.ResponseFormat{Type: cohere.ResponseFormatJSONObject, JSONSchema: json.RawMessage(ticketSchema)}
	reqs[2].MaxTokens = 9000
	reqs[3].Model = ""
	reqs[4].Messages[1] = cohere.UserMessage("Summarise: POISON here")
	reqs[5].MaxTokens = 3
	return ids, reqs
}

// runChatBatch uploads the lines, runs a batch over them with model and
// returns the finished batch.
func runChatBatch(t *testing.T, c *cohere.Client, name, model string, ids []string, reqs []*cohere.ChatRequest) *cohere.Batch {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	w := cohere.NewBatchChatWriter(&buf)
	for i := range ids {
		if err := w.Write(ids[i], reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dsID, err := c.CreateDataset(ctx, cohere.DatasetCreateParams{Name: name, Type: cohere.DatasetBatchChatV2Input}, bytes.NewReader(buf.Bytes()), name+".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() (bool, string) {
		d, err := c.GetDataset(ctx, dsID)
		if err != nil {
			t.Fatal(err)
		}
		return d.ValidationStatus == cohere.DatasetValidated, d.ValidationStatus + " " + d.ValidationError
	})
	b, err := c.CreateBatch(ctx, &cohere.CreateBatchRequest{Name: name, InputDatasetID: dsID, Model: model})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() (bool, string) {
		b, err = c.GetBatch(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		return b.Status == cohere.BatchStatusCompleted || b.Status == cohere.BatchStatusFailed, b.Status
	})
	return b
}

func waitFor(t *testing.T, done func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, state := done()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s", state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readChatOutput reads every part of a chat batch's output.
func readChatOutput(t *testing.T, c *cohere.Client, b *cohere.Batch) []cohere.BatchChatResult {
	t.Helper()
	ctx := context.Background()
	out, err := c.GetDataset(ctx, b.OutputDatasetID)
	if err != nil {
		t.Fatal(err)
	}
	if out.DatasetType != cohere.DatasetBatchChatV2Output {
		t.Fatalf("output dataset type %q", out.DatasetType)
	}
	var rows []cohere.BatchChatResult
	for _, p := range out.DatasetParts {
		if err := c.ReadBatchChatOutput(ctx, p.URL, func(r cohere.BatchChatResult) error {
			rows = append(rows, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// TestChatBatchAnswersAsSyncChat runs a chat batch through the client and
// checks each line's answer (or error) against what /v2/chat answers for
// the same request, and the batch's and the fake's billing.
func TestChatBatchAnswersAsSyncChat(t *testing.T) {
	t.Parallel()
	s := setup(t, WithPoison("POISON"), WithPartRows(2))
	c := newClient(t, s)
	ids, reqs := chatLines()
	b := runChatBatch(t, c, "chat-batch", "command-a-03-2025", ids, reqs)
	if b.Status != cohere.BatchStatusCompleted || b.NumRecords != 6 || b.NumSuccessfulRecords != 4 || b.NumFailedRecords != 2 {
		t.Fatalf("batch = %+v", b)
	}
	rows := readChatOutput(t, c, b)
	if len(rows) != 7 || rows[0].CustomID != ids[0] || rows[1].CustomID != ids[0] {
		t.Fatalf("%d rows, want 6 with the first repeated: %+v", len(rows), rows)
	}
	got := map[string]cohere.BatchChatResult{}
	for _, r := range rows {
		got[r.CustomID] = r
	}
	st := s.Stats()
	var in, out float64
	for _, r := range got {
		if r.Response != nil {
			in += r.Response.Usage.BilledUnits.InputTokens
			out += r.Response.Usage.BilledUnits.OutputTokens
		}
	}
	// Billed once per line, repeated rows included, as sync chat bills.
	if int64(in) != int64(b.InputTokens) || int64(out) != int64(b.OutputTokens) || in == 0 || out == 0 ||
		st.BilledInputTokens != int(in) || st.BilledOutputTokens != int(out) || st.ChatReplies != 4 || st.ChatMaxTokens != 1 {
		t.Fatalf("billed %v in, %v out; batch %+v; stats %+v", in, out, b, st)
	}

	ctx := context.Background()
	for i, id := range ids {
		req := *reqs[i]
		if req.Model == "" {
			req.Model = "command-a-03-2025"
		}
		want, werr := c.Chat(ctx, &req)
		r := got[id]
		switch {
		case werr != nil:
			apiErr, ok := errors.AsType[*cohere.APIError](werr)
			if !ok || r.Err == nil || r.Response != nil || r.Err.Message != apiErr.Message || r.Err.ID == "" {
				t.Errorf("%s: row %+v, sync error %v", id, r, werr)
			}
		case r.Response == nil:
			t.Errorf("%s: row error %v, sync answer %q", id, r.Err, want.Text())
		default:
			g := *r.Response
			g.ID, want.ID = "", ""
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("%s: batch answer %s, sync answer %s", id, gj, wj)
			}
		}
	}
	if !strings.Contains(got["rec-2"].Err.Message, "max tokens") || !strings.Contains(got["rec-4"].Err.Message, "could not be processed") {
		t.Errorf("errors: %+v %+v", got["rec-2"].Err, got["rec-4"].Err)
	}
	if got["rec-5"].Response.FinishReason != "MAX_TOKENS" {
		t.Errorf("rec-5 finish %q", got["rec-5"].Response.FinishReason)
	}
}

// TestChatBatchLostAndRepeatedLines: with lines lost and rows repeated,
// every row still belongs to one input line, each line has at most one
// distinct answer, and the lost ones are counted failed.
func TestChatBatchLostAndRepeatedLines(t *testing.T) {
	t.Parallel()
	s := setup(t, WithBatchLostLines(0.3), WithBatchDuplicates(0.4), WithSeed(5))
	c := newClient(t, s)
	var ids []string
	var reqs []*cohere.ChatRequest
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("id-%02d", i))
		reqs = append(reqs, &cohere.ChatRequest{Messages: []cohere.ChatMessage{cohere.UserMessage(fmt.Sprintf("prompt %d", i))}})
	}
	b := runChatBatch(t, c, "lossy", "command-r7b-12-2024", ids, reqs)
	rows := readChatOutput(t, c, b)
	st := s.Stats()
	answers := map[string]string{}
	for _, r := range rows {
		if !slices.Contains(ids, r.CustomID) || r.Response == nil {
			t.Fatalf("row %+v", r)
		}
		if prev, ok := answers[r.CustomID]; ok && prev != r.Response.Text() {
			t.Fatalf("%s answered twice differently", r.CustomID)
		}
		answers[r.CustomID] = r.Response.Text()
	}
	lost := len(ids) - len(answers)
	if st.LostLines == 0 || lost != st.LostLines || int(b.NumFailedRecords) != lost || int(b.NumSuccessfulRecords) != len(answers) ||
		len(rows) == len(answers) || st.ChatReplies != len(answers) {
		t.Fatalf("%d rows, %d answered, %d lost; batch %+v; stats %+v", len(rows), len(answers), lost, b, st)
	}
}

func TestChatBatchInputMustMatchModel(t *testing.T) {
	t.Parallel()
	s := setup(t)
	chat := upload(t, s, "name=c&type=batch-chat-v2-input", "c.jsonl", `{"custom_id":"a","body":{"messages":[{"role":"user","content":"hi"}]}}`+"\n")
	embed := upload(t, s, "name=e&type=batch-embed-v2-input", "e.jsonl", `{"custom_id":"a","body":{"texts":["hi"],"input_type":"search_document"}}`+"\n")
	for _, id := range []string{chat.body["id"].(string), embed.body["id"].(string)} {
		poll(t, s, "/v1/datasets/"+id, "dataset", "validation_status", "validated")
	}
	r := call(t, s, http.MethodPost, "/v2/batches", map[string]any{"name": "x", "input_dataset_id": chat.body["id"], "model": "embed-v4.0"})
	wantError(t, r, 400, "invalid request: dataset "+chat.body["id"].(string)+" is of type batch-chat-v2-input, batches need batch-embed-v2-input")
	r = call(t, s, http.MethodPost, "/v2/batches", map[string]any{"name": "x", "input_dataset_id": embed.body["id"], "model": "command-a-03-2025"})
	wantError(t, r, 400, "invalid request: dataset "+embed.body["id"].(string)+" is of type batch-embed-v2-input, batches need batch-chat-v2-input")
	// A chat model not listed with batches is not served by Batches.
	r = call(t, s, http.MethodPost, "/v2/batches", map[string]any{"name": "x", "input_dataset_id": chat.body["id"], "model": "command-a-vision-07-2025"})
	wantError(t, r, 400, "invalid request: model 'command-a-vision-07-2025' is not supported by the batches API")
	r = upload(t, s, "name=bad&type=batch-chat-v2-input", "b.jsonl", `{"custom_id":"a","body":"hi"}`+"\n")
	d := poll(t, s, "/v1/datasets/"+r.body["id"].(string), "dataset", "validation_status", "failed")
	if !strings.Contains(d["validation_error"].(string), "'body'") {
		t.Errorf("validation error %v", d["validation_error"])
	}
}

// TestLostCreatesAreFoundByName: the fake creates the object and loses the
// answer; the client must not create it a second time, and finds it by
// name.
func TestLostCreatesAreFoundByName(t *testing.T) {
	t.Parallel()
	for _, status := range []int{503, 0} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			s := setup(t, WithLostCreates(status, func(route string, earlier int) bool { return earlier == 0 }))
			c := newClient(t, s, func(cfg *cohere.Config) { cfg.Timeout = 300 * time.Millisecond })
			ctx := context.Background()

			_, err := c.CreateDataset(ctx, cohere.DatasetCreateParams{Name: "job-g1", Type: cohere.DatasetEmbedInput}, strings.NewReader(`{"text":"a"}`+"\n"), "g1.jsonl")
			if err == nil || !cohere.IsRetryable(err) {
				t.Fatalf("create dataset: err = %v, want a retryable error", err)
			}
			d, err := c.FindDataset(ctx, "job-g1", cohere.DatasetEmbedInput)
			if err != nil || d == nil {
				t.Fatalf("find dataset: %v, %v", d, err)
			}
			if none, err := c.FindDataset(ctx, "job-g2", ""); none != nil || err != nil {
				t.Fatalf("found %v, %v", none, err)
			}
			waitFor(t, func() (bool, string) {
				d, _ = c.GetDataset(ctx, d.ID)
				return d.ValidationStatus == cohere.DatasetValidated, d.ValidationStatus
			})

			_, err = c.CreateEmbedJob(ctx, &cohere.CreateEmbedJobRequest{Name: "job-g1", Model: "embed-english-v3.0", DatasetID: d.ID, InputType: cohere.InputSearchDocument})
			if err == nil {
				t.Fatal("create embed job: no error")
			}
			j, err := c.FindEmbedJob(ctx, "job-g1")
			if err != nil || j == nil || j.InputDatasetID != d.ID {
				t.Fatalf("find embed job: %+v, %v", j, err)
			}

			bd, err := c.CreateDataset(ctx, cohere.DatasetCreateParams{Name: "job-b1", Type: cohere.DatasetBatchChatV2Input},
				strings.NewReader(`{"custom_id":"a","body":{"messages":[{"role":"user","content":"hi"}]}}`+"\n"), "b1.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() (bool, string) {
				d, _ := c.GetDataset(ctx, bd)
				return d.ValidationStatus == cohere.DatasetValidated, d.ValidationStatus
			})
			_, err = c.CreateBatch(ctx, &cohere.CreateBatchRequest{Name: "job-b1", InputDatasetID: bd, Model: "command-a-03-2025"})
			if err == nil {
				t.Fatal("create batch: no error")
			}
			b, err := c.FindBatch(ctx, "job-b1")
			if err != nil || b == nil || b.InputDatasetID != bd {
				t.Fatalf("find batch: %+v, %v", b, err)
			}

			st := s.Stats()
			for route, want := range map[string]int{"POST /v1/datasets": 2, "POST /v1/embed-jobs": 1, "POST /v2/batches": 1} {
				if st.Created[route] != want || st.Calls[route] != want {
					t.Errorf("%s: created %d, calls %d, want %d", route, st.Created[route], st.Calls[route], want)
				}
			}
			if st.LostCreates != 3 {
				t.Errorf("lost creates = %d, want 3", st.LostCreates)
			}
		})
	}
}
