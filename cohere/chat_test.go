package cohere

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestConformanceChatResponse decodes the API's example chat answer.
func TestConformanceChatResponse(t *testing.T) {
	t.Parallel()
	b := setup(t, serveJSON(200, string(fixture(t, "v2_chat_response.json"))))
	r, err := b.client.Chat(context.Background(), &ChatRequest{Model: "command-a-plus-05-2026", Messages: []ChatMessage{UserMessage("Tell me about LLMs")}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := b.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != testPrefix+"/v2/chat" || reqs[0].Header.Get("Authorization") != "Bearer "+testKey {
		t.Fatalf("requests = %+v", reqs)
	}
	if r.ID != "c14c80c3-18eb-4519-9460-6c92edd8cfb4" || r.FinishReason != FinishComplete || r.Message.Role != RoleAssistant || len(r.Message.Content) != 1 || r.Message.Content[0].Type != "text" {
		t.Errorf("got %+v", r)
	}
	if !strings.HasPrefix(r.Text(), "LLMs stand for Large Language Models") || !strings.HasSuffix(r.Text(), "exploring their applications in various domains.") || len(r.Text()) != 2168 {
		t.Errorf("text = %d bytes: %.60q…", len(r.Text()), r.Text())
	}
	want := ChatUsage{BilledUnits: BilledUnits{InputTokens: 5, OutputTokens: 418}, Tokens: Tokens{InputTokens: 71, OutputTokens: 418}}
	if r.Usage != want {
		t.Errorf("usage = %+v, want %+v", r.Usage, want)
	}
}

// TestConformanceChatRequest sends the API's example chat request decoded
// into ChatRequest and compares the wire body with it field by field.
func TestConformanceChatRequest(t *testing.T) {
	t.Parallel()
	raw := fixture(t, "v2_chat_request.json")
	b := setup(t, serveJSON(200, `{}`))
	err := sendDecoded(raw, func(r *ChatRequest) error { _, err := b.client.Chat(context.Background(), r); return err })
	if err != nil {
		t.Fatal(err)
	}
	reqs := b.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got, want := jsonFields(t, reqs[0].Body), jsonFields(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("sent %s\nwant %s", reqs[0].Body, raw)
	}
}

// TestChatRequestWire checks every optional field's name and form on the
// wire, both content forms, and that unset options are not sent.
func TestChatRequestWire(t *testing.T) {
	t.Parallel()
	temp, seed := 0.0, int64(0)
	schema := json.RawMessage(`{"type":"object","properties":{"label":{"type":"string","enum":["a","b"]}},"required":["label"]}`)
	tests := []struct {
		name string
		req  ChatRequest
		want string
	}{
		{"minimal", ChatRequest{Model: "command-a-03-2025", Messages: []ChatMessage{UserMessage("hi")}},
			`{"model":"command-a-03-2025","messages":[{"role":"user","content":"hi"}],"stream":false}`},
		{"every field", ChatRequest{
			Model: "command-r-08-2024",
			Messages: []ChatMessage{
				SystemMessage("Answer with a label."),
				{Role: RoleUser, Content: Parts(TextPart("one"), TextPart("two"))},
				AssistantMessage(`{"label":"a"}`),
				UserMessage("three"),
			},
			MaxTokens: 20, Temperature: &temp, Seed: &seed,
			ResponseFormat: &ResponseFormat{Type: ResponseFormatJSONObject, JSONSchema: schema},
		}, `{"model":"command-r-08-2024","messages":[{"role":"system","content":"Answer with a label."},` +
			`{"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},` +
			`{"role":"assistant","content":"{\"label\":\"a\"}"},{"role":"user","content":"three"}],` +
			`"max_tokens":20,"temperature":0,"seed":0,"response_format":{"type":"json_object","json_schema":` + string(schema) + `},"stream":false}`},
		{"text format", ChatRequest{Model: "m", Messages: []ChatMessage{UserMessage("x")}, ResponseFormat: &ResponseFormat{Type: ResponseFormatText}},
			`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"},"stream":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, serveJSON(200, `{}`))
			if _, err := b.client.Chat(context.Background(), &tt.req); err != nil {
				t.Fatal(err)
			}
			if got := b.requests()[0].Body; !reflect.DeepEqual(jsonFields(t, got), jsonFields(t, []byte(tt.want))) {
				t.Errorf("sent %s\nwant %s", got, tt.want)
			}
			// What was sent decodes back to the same request.
			var back ChatRequest
			if err := json.Unmarshal(b.requests()[0].Body, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Messages, tt.req.Messages) {
				t.Errorf("messages round trip: %+v, want %+v", back.Messages, tt.req.Messages)
			}
		})
	}
}

func TestContentText(t *testing.T) {
	t.Parallel()
	var m ChatMessage
	if err := json.Unmarshal([]byte(`{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]}`), &m); err != nil {
		t.Fatal(err)
	}
	if !m.Content.IsParts() || len(m.Content.PartsList()) != 3 || m.Content.String() != "a\nb" {
		t.Errorf("content = %+v %q", m.Content, m.Content.String())
	}
	if err := json.Unmarshal([]byte(`{"role":"user","content":7}`), &m); err == nil {
		t.Error("a number decoded as content")
	}
	if c := Text("plain"); c.IsParts() || c.String() != "plain" {
		t.Errorf("text content = %+v", c)
	}
}

// TestChatRefusedLocally: requests the API would refuse are not sent.
func TestChatRefusedLocally(t *testing.T) {
	t.Parallel()
	hot, cold := 1.5, -0.1
	user := []ChatMessage{UserMessage("x")}
	tests := []struct {
		name string
		req  *ChatRequest
		want string
	}{
		{"nil", nil, "nil request"},
		{"no model", &ChatRequest{Messages: user}, "no model"},
		{"no messages", &ChatRequest{Model: "m"}, "no messages"},
		{"hot", &ChatRequest{Model: "m", Messages: user, Temperature: &hot}, "temperature 1.5 outside [0, 1]"},
		{"cold", &ChatRequest{Model: "m", Messages: user, Temperature: &cold}, "temperature -0.1 outside [0, 1]"},
		{"role", &ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "chatbot", Content: Text("x")}}}, `message 0: role "chatbot"`},
		{"format", &ChatRequest{Model: "m", Messages: user, ResponseFormat: &ResponseFormat{Type: "json"}}, `type "json"`},
		{"schema on text", &ChatRequest{Model: "m", Messages: user, ResponseFormat: &ResponseFormat{Type: "text", JSONSchema: json.RawMessage(`{}`)}}, "needs type json_object"},
		{"bad schema", &ChatRequest{Model: "m", Messages: user, ResponseFormat: &ResponseFormat{Type: "json_object", JSONSchema: json.RawMessage(`{`)}}, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, serveJSON(200, `{}`))
			_, err := b.client.Chat(context.Background(), tt.req)
			if err == nil || !strings.HasPrefix(err.Error(), "cohere: chat: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
			if n := len(b.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

// TestChatErrorsAndRetries: chat goes through the same retry rules as
// embed: 503 and 429 are retried, a 400 is returned at once as *APIError.
func TestChatErrorsAndRetries(t *testing.T) {
	t.Parallel()
	ok := string(fixture(t, "v2_chat_response.json"))
	req := &ChatRequest{Model: "command-a-03-2025", Messages: []ChatMessage{UserMessage("x")}}
	t.Run("503 then 429 then ok", func(t *testing.T) {
		t.Parallel()
		b := setup(t, sequence(serveJSON(503, `{"id":"e1","message":"service unavailable"}`), serveJSON(429, `{"id":"e2","message":"You are past the per minute request limit"}`), serveJSON(200, ok)))
		r, err := b.client.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if r.Usage.BilledUnits.OutputTokens != 418 || len(b.requests()) != 3 || len(b.waits()) != 2 {
			t.Errorf("requests=%d waits=%v", len(b.requests()), b.waits())
		}
		first, last := b.requests()[0].Body, b.requests()[2].Body
		if string(first) != string(last) {
			t.Errorf("retry sent a different body: %s vs %s", first, last)
		}
	})
	t.Run("400 once", func(t *testing.T) {
		t.Parallel()
		b := setup(t, serveJSON(400, `{"id":"e3","message":"invalid request: temperature must be between 0 and 1.0 inclusive."}`))
		_, err := b.client.Chat(context.Background(), req)
		apiErr, isAPI := errors.AsType[*APIError](err)
		if !isAPI || apiErr.StatusCode != 400 || apiErr.ID != "e3" || IsRetryable(err) || len(b.requests()) != 1 {
			t.Errorf("err = %v, requests = %d", err, len(b.requests()))
		}
	})
	t.Run("401 fatal", func(t *testing.T) {
		t.Parallel()
		b := setup(t, serveJSON(401, `{"id":"e4","message":"invalid api token"}`))
		_, err := b.client.Chat(context.Background(), req)
		if !IsFatal(err) || strings.Contains(err.Error(), testKey) || len(b.requests()) != 1 {
			t.Errorf("err = %v", err)
		}
	})
}
