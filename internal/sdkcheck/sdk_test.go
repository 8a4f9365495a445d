package sdkcheck

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cohere "github.com/cohere-ai/cohere-go/v2"
	client "github.com/cohere-ai/cohere-go/v2/client"
	option "github.com/cohere-ai/cohere-go/v2/option"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/cohere/schema"
)

const simKey = "sdk-check-key"

// startSim builds cmd/cohere-sim from the repository and serves it on a
// free port until the test ends; it returns the base URL.
func startSim(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cohere-sim")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cohere-sim")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cohere-sim: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-api-key", simKey, "-validate-delay", "0s", "-process-delay", "200ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited
		cmd.Wait()         //nolint:errcheck // killed
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listen line: %v", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "cohere-sim listening on "))
}

func userMessage(text string) *cohere.ChatMessageV2 {
	return &cohere.ChatMessageV2{Role: "user", User: &cohere.UserMessageV2{Content: &cohere.UserMessageV2Content{String: text}}}
}

func replyText(t *testing.T, r *cohere.V2ChatResponse) string {
	t.Helper()
	if r.Message == nil || len(r.Message.Content) != 1 || r.Message.Content[0].Text == nil {
		t.Fatalf("reply has no text content: %+v", r)
	}
	return r.Message.Content[0].Text.Text
}

// TestOfficialSDK drives the simulator with the official SDK, unchanged.
func TestOfficialSDK(t *testing.T) {
	base := startSim(t)
	sdk := client.NewClient(option.WithBaseURL(base), option.WithToken(simKey), option.WithMaxAttempts(1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("models", func(t *testing.T) {
		for name, endpoint := range map[string]string{"batch-embed-v4": "batches", "command-a-03-2025": "chat", "command-r-plus-08-2024": "chat", "embed-v4.0": "embed"} {
			m, err := sdk.Models.Get(ctx, name)
			if err != nil {
				t.Fatalf("models get %s: %v", name, err)
			}
			if m.Name == nil || *m.Name != name || !slices.Contains(m.Endpoints, cohere.CompatibleEndpoint(endpoint)) || m.ContextLength == nil || *m.ContextLength <= 0 {
				t.Errorf("%s: %+v", name, m)
			}
		}
	})

	t.Run("chat", func(t *testing.T) {
		const text = "Tell me about LLMs"
		r, err := sdk.V2.Chat(ctx, &cohere.V2ChatRequest{Model: "command-a-03-2025", Messages: cohere.ChatMessages{userMessage(text)}})
		if err != nil {
			t.Fatal(err)
		}
		want := coheretest.ChatText("command-a-03-2025", 0, []coheretest.Turn{{Role: "user", Text: text}})
		if got := replyText(t, r); got != want || r.FinishReason != cohere.ChatFinishReasonComplete || r.Id == "" {
			t.Errorf("reply %q (%s), want %q", got, r.FinishReason, want)
		}
		if r.Usage == nil || r.Usage.BilledUnits == nil || r.Usage.BilledUnits.InputTokens == nil || *r.Usage.BilledUnits.InputTokens != 5 ||
			*r.Usage.BilledUnits.OutputTokens != float64(coheretest.Tokens(want)) || *r.Usage.Tokens.InputTokens != 71 {
			t.Errorf("usage %+v", r.Usage)
		}
	})

	t.Run("structured chat", func(t *testing.T) {
		const doc = `{"type":"object","properties":{"label":{"type":"string","enum":["old testament","new testament"]},"confidence":{"type":"number","minimum":0,"maximum":1}},"required":["label","confidence"]}`
		var js map[string]any
		if err := json.Unmarshal([]byte(doc), &js); err != nil {
			t.Fatal(err)
		}
		temp, seed := 0.0, 1
		r, err := sdk.V2.Chat(ctx, &cohere.V2ChatRequest{
			Model: "command-r-08-2024",
			Messages: cohere.ChatMessages{
				{Role: "system", System: &cohere.SystemMessageV2{Content: &cohere.SystemMessageV2Content{String: "Label the verse: old testament or new testament."}}},
				userMessage("In the beginning was the Word (new testament)"),
			},
			ResponseFormat: &cohere.ResponseFormatV2{Type: "json_object", JsonObject: &cohere.JsonResponseFormatV2{JsonSchema: js}},
			Temperature:    &temp, Seed: &seed,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := replyText(t, r)
		if err := schema.Validate([]byte(doc), []byte(got)); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		var v struct{ Label string }
		json.Unmarshal([]byte(got), &v) //nolint:errcheck // validated above
		if v.Label != "new testament" {
			t.Errorf("label %q in %s", v.Label, got)
		}
	})

	t.Run("max tokens", func(t *testing.T) {
		limit := 2
		r, err := sdk.V2.Chat(ctx, &cohere.V2ChatRequest{Model: "command-r7b-12-2024", Messages: cohere.ChatMessages{userMessage("a long enough question")}, MaxTokens: &limit})
		if err != nil {
			t.Fatal(err)
		}
		if r.FinishReason != cohere.ChatFinishReasonMaxTokens || replyText(t, r) != "Re: a lo" {
			t.Errorf("%s %q", r.FinishReason, replyText(t, r))
		}
	})

	t.Run("refused model", func(t *testing.T) {
		_, err := sdk.V2.Chat(ctx, &cohere.V2ChatRequest{Model: "embed-v4.0", Messages: cohere.ChatMessages{userMessage("x")}})
		var bad *cohere.BadRequestError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), "is not supported by the chat API") {
			t.Errorf("err = %v (%T)", err, err)
		}
	})

	t.Run("embed", func(t *testing.T) {
		r, err := sdk.V2.Embed(ctx, &cohere.V2EmbedRequest{
			Texts: []string{"hello", "goodbye"}, Model: "embed-v4.0", InputType: cohere.EmbedInputTypeSearchDocument,
			EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingTypeFloat},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := coheretest.Embedding("embed-v4.0", "search_document", "goodbye", coheretest.Dims("embed-v4.0", 0))
		got := r.Embeddings.Float
		if len(got) != 2 || len(got[1]) != len(want) || float32(got[1][0]) != want[0] || float32(got[1][len(want)-1]) != want[len(want)-1] {
			t.Errorf("embeddings: %d rows", len(got))
		}
	})

	t.Run("batches", func(t *testing.T) {
		var lines strings.Builder
		for i, text := range []string{"In the beginning", "Jesus wept", "Let there be light"} {
			b, _ := json.Marshal(map[string]any{"custom_id": string(rune('a' + i)), "body": map[string]any{
				"texts": []string{text}, "input_type": "search_document", "embedding_types": []string{"float"}}})
			lines.Write(b)
			lines.WriteByte('\n')
		}
		// EvalData must not be nil: the SDK copies from it unconditionally
		// and panics on a nil reader.
		ds, err := sdk.Datasets.Create(ctx, &cohere.DatasetsCreateRequest{Name: "sdk-batch", Type: cohere.DatasetTypeBatchEmbedV2Input,
			Data: strings.NewReader(lines.String()), EvalData: strings.NewReader("")})
		if err != nil {
			t.Fatalf("datasets create: %v", err)
		}
		id := *ds.Id
		for {
			got, err := sdk.Datasets.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Dataset.ValidationStatus == cohere.DatasetValidationStatusValidated {
				break
			}
			if got.Dataset.ValidationStatus == cohere.DatasetValidationStatusFailed {
				t.Fatalf("dataset failed: %+v", got.Dataset)
			}
			time.Sleep(20 * time.Millisecond)
		}
		created, err := sdk.Batches.Create(ctx, &cohere.Batch{Name: "sdk-batch", InputDatasetId: id, Model: "batch-embed-v4"})
		if err != nil {
			t.Fatalf("batches create with batch-embed-v4: %v", err)
		}
		if created.Batch == nil || created.Batch.Id == nil {
			t.Fatalf("created %+v", created)
		}
		var b *cohere.Batch
		for {
			got, err := sdk.Batches.Retrieve(ctx, *created.Batch.Id)
			if err != nil {
				t.Fatal(err)
			}
			b = got.Batch
			if b.Status != nil && *b.Status != cohere.BatchStatusBatchStatusQueued && *b.Status != cohere.BatchStatusBatchStatusInProgress {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if *b.Status != cohere.BatchStatusBatchStatusCompleted || b.NumSuccessfulRecords == nil || *b.NumSuccessfulRecords != 3 || b.OutputDatasetId == nil || b.Model != "batch-embed-v4" {
			t.Fatalf("batch %+v", b)
		}
		out, err := sdk.Datasets.Get(ctx, *b.OutputDatasetId)
		if err != nil {
			t.Fatal(err)
		}
		if out.Dataset == nil || out.Dataset.Id != *b.OutputDatasetId || len(out.Dataset.DatasetParts) == 0 {
			t.Errorf("output dataset %+v", out.Dataset)
		}
		list, err := sdk.Batches.List(ctx, &cohere.BatchesListBatchesRequest{})
		if err != nil || len(list.Batches) != 1 {
			t.Errorf("list: %v %+v", err, list)
		}
	})
}
