package coheretest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/schema"
)

func chatBody(model string, msgs ...map[string]any) map[string]any {
	return map[string]any{"model": model, "messages": msgs}
}

func user(text string) map[string]any { return map[string]any{"role": "user", "content": text} }

// TestChatFixture sends the API's example request and checks the answer's
// shape against the API's example answer and its values against ChatText.
func TestChatFixture(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodPost, "/v2/chat", fixture(t, "v2_chat_request.json"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := fixture(t, "v2_chat_response.json")
	if got, w := keys(r.body), keys(want); !slices.Equal(got, w) {
		t.Fatalf("keys = %v, want %v", got, w)
	}
	for _, k := range []string{"message", "usage"} {
		if got, w := keys(r.body[k].(map[string]any)), keys(want[k].(map[string]any)); !slices.Equal(got, w) {
			t.Errorf("%s keys = %v, want %v", k, got, w)
		}
	}
	var resp cohere.ChatResponse
	if err := json.Unmarshal(r.raw, &resp); err != nil {
		t.Fatal(err)
	}
	text := ChatText("command-a-plus-05-2026", 0, []Turn{{"user", "Tell me about LLMs"}})
	if !strings.HasPrefix(text, "Re: Tell me about LLMs [") || resp.Text() != text || resp.FinishReason != "COMPLETE" || resp.Message.Role != "assistant" {
		t.Errorf("reply %+v, want text %q", resp, text)
	}
	// The example bills 5 input tokens and counts 71; so does the fake.
	out := float64(Tokens(text))
	wantUsage := cohere.ChatUsage{BilledUnits: cohere.BilledUnits{InputTokens: 5, OutputTokens: out}, Tokens: cohere.Tokens{InputTokens: 71, OutputTokens: out}}
	if resp.Usage != wantUsage {
		t.Errorf("usage = %+v, want %+v", resp.Usage, wantUsage)
	}
	st := s.Stats()
	if st.ChatReplies != 1 || st.BilledInputTokens != 5 || st.BilledOutputTokens != int(out) || st.Calls["POST /v2/chat"] != 1 || st.ChatMaxTokens != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestChatRefusals(t *testing.T) {
	t.Parallel()
	s := setup(t)
	sys := map[string]any{"role": "system", "content": "Be brief."}
	schemaMsg := func(f map[string]any) map[string]any {
		b := chatBody("command-a-03-2025", user("x"))
		b["response_format"] = f
		return b
	}
	with := func(k string, v any) map[string]any {
		b := chatBody("command-a-03-2025", user("x"))
		b[k] = v
		return b
	}
	tests := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"unknown field", with("temprature", 0.2), 400, `invalid request: unknown field "temprature"`},
		{"unknown message field", chatBody("command-a-03-2025", map[string]any{"role": "user", "content": "x", "name": "bob"}), 400, `invalid request: unknown field "name"`},
		{"bad role", chatBody("command-a-03-2025", user("x"), map[string]any{"role": "chatbot", "content": "y"}), 400,
			"invalid request: invalid role 'chatbot' in messages at index 1. Role must be one of the following: user, assistant, system, tool"},
		{"capital role", chatBody("command-a-03-2025", map[string]any{"role": "USER", "content": "y"}), 400, "invalid request: invalid role 'USER'"},
		{"hot", with("temperature", 1.01), 400, "invalid request: temperature must be between 0 and 1.0 inclusive."},
		{"cold", with("temperature", -0.5), 400, "invalid request: temperature must be between 0 and 1.0 inclusive."},
		{"embed model", chatBody("embed-v4.0", user("x")), 400, "invalid request: model 'embed-v4.0' is not supported by the chat API"},
		{"batch model", chatBody("batch-embed-v4", user("x")), 400, "invalid request: model 'batch-embed-v4' is not supported by the chat API"},
		{"unknown model", chatBody("command-z", user("x")), 404, "model 'command-z' not found, make sure the correct model ID was used"},
		{"no model", map[string]any{"messages": []any{user("x")}}, 400, "a model parameter is required for this endpoint."},
		{"no messages", chatBody("command-a-03-2025"), 400, "invalid request: message must be at least 1 token long"},
		{"system later", chatBody("command-a-03-2025", user("x"), sys), 400, "system turn must be the first in the list"},
		{"empty content", chatBody("command-a-03-2025", user("  ")), 400, "message must not be empty in a turn"},
		{"no user", chatBody("command-a-03-2025", sys), 400, "invalid request: messages must contain at least one user message"},
		{"tool without id", chatBody("command-a-03-2025", user("x"), map[string]any{"role": "tool", "content": "y"}), 400, "tool call id must be provided with tool message"},
		{"bad part", chatBody("command-a-03-2025", map[string]any{"role": "user", "content": []any{map[string]any{"type": "audio", "text": "x"}}}), 400, "invalid request: messages[0].content[0]: unknown content type 'audio'"},
		{"image on text model", chatBody("command-a-03-2025", map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:,"}}}}), 400, "invalid request: model 'command-a-03-2025' does not support images"},
		{"content number", chatBody("command-a-03-2025", map[string]any{"role": "user", "content": 3}), 400, "invalid request: content of messages[0] must be a string or an array"},
		{"max tokens", with("max_tokens", 8001), 400, "too many tokens: max tokens must be less than or equal to 8000, the maximum output for this model - received 8001."},
		{"zero max tokens", with("max_tokens", 0), 400, "invalid request: max_tokens must be at least 1"},
		{"both penalties", func() map[string]any { b := with("presence_penalty", 0.5); b["frequency_penalty"] = 0.5; return b }(), 400, "invalid request: cannot specify both frequency_penalty and presence_penalty."},
		{"format type", schemaMsg(map[string]any{"type": "json"}), 400, "invalid request: response_format type must be one of 'text' or 'json_object'"},
		{"schema on text", schemaMsg(map[string]any{"type": "text", "json_schema": map[string]any{"type": "object"}}), 400, "invalid request: json_schema can only be used with response_format type 'json_object'"},
		{"schema not object", schemaMsg(map[string]any{"type": "json_object", "json_schema": []any{"x"}}), 400, "schema must be an object"},
		{"schema invalid", schemaMsg(map[string]any{"type": "json_object", "json_schema": map[string]any{"type": "strnig"}}), 400, "invalid request: response_format.json_schema:"},
		{"format field", schemaMsg(map[string]any{"type": "json_object", "schema": map[string]any{}}), 400, `invalid request: unknown field "schema"`},
		{"stream", with("stream", true), 501, "stream is not implemented by this server"},
		{"tools", with("tools", []any{map[string]any{"type": "function"}}), 501, "tool use is not implemented by this server"},
		{"not json", []byte(`{"model":`), 400, "invalid json syntax: "},
		// "command" has a 4096-token context; 4100*4 bytes are 4100 tokens.
		{"over the context", chatBody("command", user(strings.Repeat("abcd", 4100))), 400, "too many tokens: size limit exceeded by 70 tokens."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, call(t, s, http.MethodPost, "/v2/chat", tt.body), tt.status, tt.msg)
		})
	}
	t.Cleanup(func() {
		if st := s.Stats(); st.ChatReplies != 0 || st.BilledInputTokens != 0 || st.Calls["POST /v2/chat"] != len(tests) {
			t.Errorf("refused calls were served or billed: %+v", st)
		}
	})
}

const ticketSchema = `{
  "type": "object",
  "properties": {
    "label": {"type": "string", "enum": ["bug", "feature request", "question"]},
    "labels": {"type": "array", "items": {"type": "string", "enum": ["ui", "api", "docs"]}, "minItems": 1},
    "score": {"type": "number", "minimum": 0.5, "maximum": 0.75},
    "count": {"type": "integer", "exclusiveMinimum": 10, "maximum": 12},
    "title": {"type": "string", "maxLength": 12},
    "owner": {"$ref": "#/$defs/owner"},
    "urgent": {"type": "boolean"}
  },
  "required": ["label", "score", "title", "owner"],
  "additionalProperties": false,
  "$defs": {"owner": {"type": "object", "properties": {"team": {"type": "string", "minLength": 3}}, "required": ["team"]}}
}`

func jsonRequest(model, text, schemaDoc string) map[string]any {
	b := chatBody(model, map[string]any{"role": "system", "content": "Answer in JSON."}, user(text))
	f := map[string]any{"type": "json_object"}
	if schemaDoc != "" {
		f["json_schema"] = json.RawMessage(schemaDoc)
	}
	b["response_format"] = f
	return b
}

func replyText(t *testing.T, r reply) string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	var resp cohere.ChatResponse
	if err := json.Unmarshal(r.raw, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Text()
}

func TestChatJSONSchema(t *testing.T) {
	t.Parallel()
	s := setup(t)
	compiled, err := schema.Compile([]byte(ticketSchema))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("mentioned enum values", func(t *testing.T) {
		t.Parallel()
		text := "Feature Request: the API docs should list every endpoint"
		got := replyText(t, call(t, s, http.MethodPost, "/v2/chat", jsonRequest("command-r-08-2024", text, ticketSchema)))
		if err := compiled.Validate([]byte(got)); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		var v struct {
			Label  string
			Labels []string
			Score  float64
			Count  int
			Title  string
			Owner  struct{ Team string }
		}
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatal(err)
		}
		// "feature request" occurs (in another case); "api" before "docs"; "ui" nowhere.
		if v.Label != "feature request" || !slices.Equal(v.Labels, []string{"api", "docs"}) || v.Title != "Feature Requ" ||
			v.Score < 0.5 || v.Score > 0.75 || v.Count < 11 || v.Count > 12 || len(v.Owner.Team) < 3 {
			t.Errorf("reply %s", got)
		}
		turns := []Turn{{"system", "Answer in JSON."}, {"user", text}}
		if want, err := ChatJSON("command-r-08-2024", 0, turns, []byte(ticketSchema)); err != nil || want != got {
			t.Errorf("ChatJSON = %s, %v; served %s", want, err, got)
		}
	})
	t.Run("hashed enum values are stable and spread", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		for _, text := range []string{"crash on start", "slow page", "how do I log in", "blank screen", "what is a token", "typo", "500 error", "dark mode"} {
			body := jsonRequest("command-a-03-2025", text, ticketSchema)
			first := replyText(t, call(t, s, http.MethodPost, "/v2/chat", body))
			again := replyText(t, call(t, s, http.MethodPost, "/v2/chat", body))
			if first != again {
				t.Errorf("%q: replies differ: %s vs %s", text, first, again)
			}
			if err := compiled.Validate([]byte(first)); err != nil {
				t.Errorf("%q: %s: %v", text, first, err)
			}
			var v struct{ Label string }
			json.Unmarshal([]byte(first), &v) //nolint:errcheck // validated above
			seen[v.Label] = true
		}
		if len(seen) < 2 {
			t.Errorf("8 texts chose only %v", seen)
		}
	})
	t.Run("no schema", func(t *testing.T) {
		t.Parallel()
		got := replyText(t, call(t, s, http.MethodPost, "/v2/chat", jsonRequest("command-a-03-2025", "hello there", "")))
		var v map[string]string
		if err := json.Unmarshal([]byte(got), &v); err != nil || !strings.HasPrefix(v["reply"], "Re: hello there [") || len(v) != 1 {
			t.Errorf("reply %s: %v", got, err)
		}
	})
	t.Run("seed changes the tag", func(t *testing.T) {
		t.Parallel()
		b := chatBody("command-a-03-2025", user("same words"))
		plain := replyText(t, call(t, s, http.MethodPost, "/v2/chat", b))
		b["seed"] = 7
		seeded := replyText(t, call(t, s, http.MethodPost, "/v2/chat", b))
		if plain == seeded || seeded != ChatText("command-a-03-2025", 7, []Turn{{"user", "same words"}}) {
			t.Errorf("plain %q, seeded %q", plain, seeded)
		}
	})
}

func TestChatMaxTokensAndStops(t *testing.T) {
	t.Parallel()
	s := setup(t)
	text := "Summarise: the quick brown fox jumps over the lazy dog"
	full := ChatText("command-r7b-12-2024", 0, []Turn{{"user", text}})
	b := chatBody("command-r7b-12-2024", user(text))
	b["max_tokens"] = 3
	var resp cohere.ChatResponse
	r := call(t, s, http.MethodPost, "/v2/chat", b)
	if err := json.Unmarshal(r.raw, &resp); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if resp.FinishReason != "MAX_TOKENS" || resp.Text() != full[:12] || resp.Usage.BilledUnits.OutputTokens != 3 {
		t.Errorf("got %q %s %+v, want %q", resp.Text(), resp.FinishReason, resp.Usage, full[:12])
	}
	// A structured reply cut short is not JSON any more.
	jb := jsonRequest("command-r7b-12-2024", text, ticketSchema)
	jb["max_tokens"] = 10
	cut := replyText(t, call(t, s, http.MethodPost, "/v2/chat", jb))
	if err := schema.Validate([]byte(ticketSchema), []byte(cut)); !errors.Is(err, schema.ErrNotJSON) {
		t.Errorf("cut reply %q: %v", cut, err)
	}
	// A stop sequence cuts before itself.
	b = chatBody("command-r7b-12-2024", user(text))
	b["stop_sequences"] = []string{"fox"}
	r = call(t, s, http.MethodPost, "/v2/chat", b)
	json.Unmarshal(r.raw, &resp) //nolint:errcheck // status checked next
	if r.status != 200 || resp.FinishReason != "STOP_SEQUENCE" || resp.Text() != "Re: Summarise: the quick brown " {
		t.Errorf("stop: %d %s", r.status, r.raw)
	}
	if st := s.Stats(); st.ChatReplies != 3 || st.ChatMaxTokens != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestChatBadReplies(t *testing.T) {
	t.Parallel()
	s := setup(t, WithBadReplies(func(last string, earlier int) bool {
		return strings.Contains(last, "broken") || (strings.Contains(last, "flaky") && earlier == 0)
	}))
	ask := func(text, schemaDoc string) string {
		return replyText(t, call(t, s, http.MethodPost, "/v2/chat", jsonRequest("command-a-03-2025", text, schemaDoc)))
	}
	var se *schema.Error
	for i := range 2 {
		err := schema.Validate([]byte(ticketSchema), []byte(ask("broken record", ticketSchema)))
		if !errors.As(err, &se) || !slices.Equal(se.Problems, []string{"/: missing property 'label'"}) {
			t.Errorf("broken, attempt %d: %v", i, err)
		}
	}
	if err := schema.Validate([]byte(ticketSchema), []byte(ask("flaky record", ticketSchema))); !errors.As(err, &se) {
		t.Errorf("flaky, first attempt: %v", err)
	}
	if err := schema.Validate([]byte(ticketSchema), []byte(ask("flaky record", ticketSchema))); err != nil {
		t.Errorf("flaky, second attempt: %v", err)
	}
	if got := ask("broken, no schema", ""); json.Valid([]byte(got)) {
		t.Errorf("bad reply without a schema is JSON: %s", got)
	}
	if got := replyText(t, call(t, s, http.MethodPost, "/v2/chat", chatBody("command-a-03-2025", user("broken text")))); got != ChatText("command-a-03-2025", 0, []Turn{{"user", "broken text"}}) {
		t.Errorf("text reply changed: %q", got)
	}
	if st := s.Stats(); st.ChatBadReplies != 4 || st.ChatReplies != 6 {
		t.Errorf("stats = %+v", st)
	}
	s.Set(WithoutFaults())
	if err := schema.Validate([]byte(ticketSchema), []byte(ask("broken record", ticketSchema))); err != nil {
		t.Errorf("after WithoutFaults: %v", err)
	}

	rate := setup(t, WithBadReplyRate(1))
	got := replyText(t, call(t, rate, http.MethodPost, "/v2/chat", jsonRequest("command-a-03-2025", "any", ticketSchema)))
	if err := schema.Validate([]byte(ticketSchema), []byte(got)); err == nil {
		t.Errorf("rate 1 gave a valid reply %s", got)
	}
}

func TestChatLimitsAndFaults(t *testing.T) {
	t.Parallel()
	s := setup(t, WithRateLimit("chat", 2, time.Hour), WithPoison("POISON"))
	body := chatBody("command-a-03-2025", user("hi"))
	for i := range 2 {
		if r := call(t, s, http.MethodPost, "/v2/chat", body); r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
	}
	wantError(t, call(t, s, http.MethodPost, "/v2/chat", body), 429, RateLimitMessage)
	// A refused request is not charged to the window: the limit stays full.
	wantError(t, call(t, s, http.MethodPost, "/v2/chat", chatBody("nope", user("x"))), 404, "model 'nope' not found")
	s.Set(WithRateLimit("chat", 0, 0))
	wantError(t, call(t, s, http.MethodPost, "/v2/chat", chatBody("command-a-03-2025", user("a POISON record"))), 400, "invalid request: message at index 0 could not be processed")
	s.Set(WithErrorRate(503, 1))
	wantError(t, call(t, s, http.MethodPost, "/v2/chat", body), 503, "service unavailable")
	st := s.Stats()
	if st.RateLimited != 1 || st.ChatReplies != 2 || st.InjectedErrors != 1 || st.Status[200] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

// TestChatWithClient drives the fake with package cohere's client: the two
// agree on the wire format, including content parts and structured output.
func TestChatWithClient(t *testing.T) {
	t.Parallel()
	s := setup(t, WithErrorRate(503, 0))
	c, err := cohere.New(cohere.Config{BaseURL: s.URL, APIKey: DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	temp, seed := 0.0, int64(3)
	resp, err := c.Chat(context.Background(), &cohere.ChatRequest{
		Model: "command-a-03-2025",
		Messages: []cohere.ChatMessage{
			cohere.SystemMessage("Label the ticket."),
			cohere.UserMessage("app crashes"),
			cohere.AssistantMessage(`{"label":"bug","score":0.5,"title":"x","owner":{"team":"app"}}`),
			{Role: cohere.RoleUser, Content: cohere.Parts(cohere.TextPart("Ticket:"), cohere.TextPart("how do I export? question"))},
		},
		MaxTokens: 200, Temperature: &temp, Seed: &seed,
		ResponseFormat: &cohere.ResponseFormat{Type: cohere.ResponseFormatJSONObject, JSONSchema: json.RawMessage(ticketSchema)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate([]byte(ticketSchema), []byte(resp.Text())); err != nil {
		t.Fatalf("%s: %v", resp.Text(), err)
	}
	var v struct{ Label string }
	json.Unmarshal([]byte(resp.Text()), &v) //nolint:errcheck // validated above
	if v.Label != "question" || resp.FinishReason != cohere.FinishComplete || resp.Usage.BilledUnits.InputTokens == 0 {
		t.Errorf("got %+v", resp)
	}
	_, err = c.Chat(context.Background(), &cohere.ChatRequest{Model: "embed-v4.0", Messages: []cohere.ChatMessage{cohere.UserMessage("x")}})
	if apiErr, ok := errors.AsType[*cohere.APIError](err); !ok || apiErr.StatusCode != 400 {
		t.Errorf("embed model: %v", err)
	}
}

func TestChatCatalog(t *testing.T) {
	t.Parallel()
	s := setup(t)
	r := call(t, s, http.MethodGet, "/v1/models?endpoint=chat&page_size=100", nil)
	var names []string
	for _, m := range r.body["models"].([]any) {
		mm := m.(map[string]any)
		names = append(names, mm["name"].(string))
		if mm["context_length"].(float64) < 4096 || !slices.Contains(mm["endpoints"].([]any), any("chat")) {
			t.Errorf("model %v", mm)
		}
	}
	for _, want := range []string{"command-a-03-2025", "command-r-08-2024", "command-r7b-12-2024", "command-r-plus-08-2024",
		"command-a-plus-05-2026", "command-a-vision-07-2025", "command-a-reasoning-08-2025"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not listed: %v", want, names)
		}
	}
	r = call(t, s, http.MethodGet, "/v1/models/command-a-vision-07-2025", nil)
	if r.status != 200 || r.body["supports_vision"] != true || slices.Contains(r.body["endpoints"].([]any), any("batches")) {
		t.Errorf("vision model: %s", r.raw)
	}
	r = call(t, s, http.MethodGet, "/v1/models/command-a-03-2025", nil)
	if r.status != 200 || !slices.Contains(r.body["endpoints"].([]any), any("batches")) {
		t.Errorf("command-a-03-2025 not listed with batches: %s", r.raw)
	}
	r = call(t, s, http.MethodGet, "/v1/models/batch-embed-v4", nil)
	if r.status != 200 || !slices.Contains(r.body["endpoints"].([]any), any("batches")) {
		t.Errorf("batch model: %d %s", r.status, r.raw)
	}
}

// TestChatFewShot: with few-shot turns and no label in the question, the
// label is that of the nearest example.
func TestChatFewShot(t *testing.T) {
	t.Parallel()
	s := setup(t)
	const doc = `{"type":"object","properties":{"label":{"type":"string","enum":["OT","NT"]}},"required":["label"]}`
	ask := func(question string) string {
		b := chatBody("command-a-03-2025",
			map[string]any{"role": "system", "content": "Label each verse OT or NT."},
			user("The Lord is my shepherd; I shall not want."), map[string]any{"role": "assistant", "content": `{"label":"OT"}`},
			user("Jesus wept."), map[string]any{"role": "assistant", "content": `{"label":"NT"}`},
			user("In the beginning God created the heaven and the earth."), map[string]any{"role": "assistant", "content": `{"label":"OT"}`},
			user(question))
		b["response_format"] = map[string]any{"type": "json_object", "json_schema": json.RawMessage(doc)}
		var v struct{ Label string }
		if err := json.Unmarshal([]byte(replyText(t, call(t, s, http.MethodPost, "/v2/chat", b))), &v); err != nil {
			t.Fatal(err)
		}
		return v.Label
	}
	for question, want := range map[string]string{
		"The Lord is my light and my salvation.": "OT",
		"Then Jesus wept again at the tomb.":     "NT",
		"God created the earth in the beginning": "OT",
		"Be not afraid, said Jesus.":             "NT", // "not" does not name OT
	} {
		if got := ask(question); got != want {
			t.Errorf("%q: label %s, want %s", question, got, want)
		}
	}
}

func TestWordIndex(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text, sub string
		want      int
	}{
		{"shall not want", "ot", -1},
		{"ot and nt", "nt", 7},
		{"the spam, not spam", "not spam", 10},
		{"bug", "bug", 0},
		{"debug bug", "bug", 6},
		{"feature-request", "feature", 0},
		{"", "x", -1},
		{"é ot", "ot", 3},
	} {
		if got := wordIndex(tt.text, tt.sub); got != tt.want {
			t.Errorf("wordIndex(%q, %q) = %d, want %d", tt.text, tt.sub, got, tt.want)
		}
	}
}
