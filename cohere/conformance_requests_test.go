package cohere

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestConformanceRequests decodes each example request into the client's
// request type, sends it, and compares what went over the wire with the
// example field by field: a field the client drops or renames fails.
func TestConformanceRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		fixture string
		path    string
		send    func(c *Client, raw []byte) error
	}{
		{"v1_embed_request.json", "/v1/embed", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *EmbedRequest) error { _, err := c.EmbedV1(ctx, r); return err })
		}},
		{"v1_embed_images_request.json", "/v1/embed", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *EmbedRequest) error { _, err := c.EmbedV1(ctx, r); return err })
		}},
		{"v2_embed_request.json", "/v2/embed", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *EmbedRequest) error { _, err := c.Embed(ctx, r); return err })
		}},
		{"v2_embed_images_request.json", "/v2/embed", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *EmbedRequest) error { _, err := c.Embed(ctx, r); return err })
		}},
		{"v1_rerank_request.json", "/v1/rerank", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *RerankV1Request) error { _, err := c.RerankV1(ctx, r); return err })
		}},
		{"v2_rerank_request.json", "/v2/rerank", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *RerankRequest) error { _, err := c.Rerank(ctx, r); return err })
		}},
		{"classify_request.json", "/v1/classify", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *ClassifyRequest) error { _, err := c.Classify(ctx, r); return err })
		}},
		{"tokenize_request.json", "/v1/tokenize", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *TokenizeRequest) error { _, err := c.Tokenize(ctx, r); return err })
		}},
		{"detokenize_request.json", "/v1/detokenize", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *DetokenizeRequest) error { _, err := c.Detokenize(ctx, r); return err })
		}},
		{"embed_jobs_create_request.json", "/v1/embed-jobs", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *CreateEmbedJobRequest) error { _, err := c.CreateEmbedJob(ctx, r); return err })
		}},
		{"batches_create_request.json", "/v2/batches", func(c *Client, raw []byte) error {
			return sendDecoded(raw, func(r *CreateBatchRequest) error { _, err := c.CreateBatch(ctx, r); return err })
		}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".json"), func(t *testing.T) {
			t.Parallel()
			raw := fixture(t, tt.fixture)
			// The examples ask for floats as JSON numbers, as a client
			// with JSONFloats does (by default it asks for them as base64).
			b := setup(t, serveJSON(200, `{}`), func(c *Config) { c.JSONFloats = true })
			if err := tt.send(b.client, raw); err != nil {
				t.Fatal(err)
			}
			reqs := b.requests()
			if len(reqs) != 1 || reqs[0].Path != testPrefix+tt.path || reqs[0].Method != http.MethodPost {
				t.Fatalf("requests = %+v", reqs)
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			got, want := jsonFields(t, reqs[0].Body), jsonFields(t, raw)
			for k, w := range want {
				if !reflect.DeepEqual(got[k], w) {
					t.Errorf("field %q: sent %v, example %v", k, truncated(got[k]), truncated(w))
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("sent field %q the example does not have", k)
				}
			}
		})
	}
}

func sendDecoded[T any](raw []byte, send func(*T) error) error {
	req := new(T)
	if err := json.Unmarshal(raw, req); err != nil {
		return err
	}
	return send(req)
}

func truncated(v any) string {
	b, _ := json.Marshal(v)
	return truncateText(string(b), 120)
}

// TestConformanceBatchInputLine checks that a batch-embed input line from
// the docs round-trips through EmbedRequest unchanged.
func TestConformanceBatchInputLine(t *testing.T) {
	t.Parallel()
	var line struct {
		CustomID string       `json:"custom_id"`
		Body     EmbedRequest `json:"body"`
	}
	raw := fixture(t, "docs_samples/batch_embed_v2_input_line.json")
	if err := json.Unmarshal(raw, &line); err != nil {
		t.Fatal(err)
	}
	if line.CustomID != "1" || len(line.Body.Inputs) != 1 || line.Body.Inputs[0].Content[0].Text != "High-performance laptop with 16GB RAM and 512GB SSD" {
		t.Fatalf("decoded %+v", line)
	}
	enc, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonFields(t, enc), jsonFields(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("re-encoded %s\nwant %s", enc, raw)
	}
}

// TestConformanceErrors runs the observed and documented error bodies
// through the client and its classification helpers.
func TestConformanceErrors(t *testing.T) {
	t.Parallel()
	t.Run("observed bodies", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			file   string
			status int
			id     string
			prefix string
		}{
			{"observed_third_party/error_400_body_observed.json", 400, "11864227-5c7f-4c4a-8c9b-6465ab44a26e", "invalid request: this model is not supported with '/v1/chat'"},
			{"observed_third_party/error_404_body_observed.json", 404, "876f85c1-37ea-4bb5-9dbc-f644fabf74d1", "model 'command-r-plus' was removed on September 15, 2025."},
		} {
			var headers map[string]any
			if err := json.Unmarshal(fixture(t, "observed_third_party/trial_key_error_response_headers_observed.json"), &headers); err != nil {
				t.Fatal(err)
			}
			body := fixture(t, tt.file)
			b := setup(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range headers {
					if s, ok := v.(string); ok && !strings.HasPrefix(k, "_") && k != "content-encoding" && k != "transfer-encoding" {
						w.Header().Set(k, s)
					}
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write(body)
			})
			_, err := b.client.GetModel(context.Background(), "command-r-plus")
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok || apiErr.StatusCode != tt.status || apiErr.ID != tt.id || !strings.HasPrefix(apiErr.Message, tt.prefix) || apiErr.RetryAfter != 0 {
				t.Errorf("%s: err = %v", tt.file, err)
			}
			if IsRetryable(err) || IsFatal(err) || len(b.requests()) != 1 {
				t.Errorf("%s: retryable=%v fatal=%v requests=%d", tt.file, IsRetryable(err), IsFatal(err), len(b.requests()))
			}
		}
	})
	t.Run("documented messages", func(t *testing.T) {
		t.Parallel()
		var doc struct {
			Statuses map[string]struct {
				ExampleMessages []string `json:"example_messages"`
			} `json:"statuses"`
		}
		if err := json.Unmarshal(fixture(t, "errors_documented_messages.json"), &doc); err != nil {
			t.Fatal(err)
		}
		counted := 0
		for status, s := range doc.Statuses {
			code, _ := strconv.Atoi(status)
			for _, msg := range s.ExampleMessages {
				counted++
				err := error(&APIError{StatusCode: code, Message: msg})
				// Every documented 429 is per-minute: retryable, not fatal.
				wantRetry, wantFatal := code == 429, code == 401 || code == 402
				if IsRetryable(err) != wantRetry || IsFatal(err) != wantFatal || IsRateLimited(err) != (code == 429) {
					t.Errorf("%d %q: retryable=%v fatal=%v", code, msg, IsRetryable(err), IsFatal(err))
				}
			}
		}
		if counted < 40 {
			t.Errorf("only %d messages checked", counted)
		}
	})
	t.Run("observed model list item", func(t *testing.T) {
		t.Parallel()
		item := fixture(t, "observed_third_party/models_list_item_observed.json")
		b := setup(t, serveJSON(200, `{"models":[`+string(item)+`]}`))
		r, err := b.client.ListModels(context.Background(), ListModelsParams{})
		if err != nil {
			t.Fatal(err)
		}
		m := r.Models[0]
		if m.Name != "command-r-plus" || m.ContextLength != 128000 || m.SupportsVision || len(m.Features) != 6 || m.Features[5] != "tools" ||
			len(m.DefaultEndpoints) != 0 || m.Endpoints[2] != "summarize" || b.requests()[0].Query != "" {
			t.Errorf("got %+v", m)
		}
	})
}
