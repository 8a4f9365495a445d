package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Roles of a v2 chat message. The API also knows "tool", which needs tool
// calls this client does not send.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Values of ResponseFormat.Type.
const (
	ResponseFormatText       = "text"
	ResponseFormatJSONObject = "json_object"
)

// Values of ChatResponse.FinishReason the API documents.
const (
	FinishComplete     = "COMPLETE"
	FinishStopSequence = "STOP_SEQUENCE"
	FinishMaxTokens    = "MAX_TOKENS"
	FinishToolCall     = "TOOL_CALL"
	FinishError        = "ERROR"
	FinishTimeout      = "TIMEOUT"
)

// ChatRequest is the body of a non-streaming /v2/chat call. Optional fields
// left nil or zero are not sent, so the API applies its own defaults
// (temperature 0.3, the model's maximum output).
type ChatRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`
	// MaxTokens bounds the reply; a reply cut there ends with FinishMaxTokens.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Temperature is in [0, 1]; a pointer because 0 is a meaningful value.
	Temperature *float64 `json:"temperature,omitempty"`
	// Seed asks for best-effort determinism; a pointer because 0 is a seed.
	Seed           *int64          `json:"seed,omitempty"`
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
}

// ChatMessage is one turn of the conversation.
type ChatMessage struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// SystemMessage, UserMessage and AssistantMessage return a turn whose
// content is one plain string.
func SystemMessage(text string) ChatMessage {
	return ChatMessage{Role: RoleSystem, Content: Text(text)}
}

// UserMessage returns a user turn of plain text.
func UserMessage(text string) ChatMessage { return ChatMessage{Role: RoleUser, Content: Text(text)} }

// AssistantMessage returns an assistant turn of plain text, e.g. a few-shot
// answer.
func AssistantMessage(text string) ChatMessage {
	return ChatMessage{Role: RoleAssistant, Content: Text(text)}
}

// Content is a message's content. The API takes either a string or an
// array of content parts; Content sends whichever form it was built from.
type Content struct {
	text  string
	parts []ContentPart
}

// Text returns content sent as a plain JSON string.
func Text(s string) Content { return Content{text: s} }

// Parts returns content sent as an array of parts.
func Parts(parts ...ContentPart) Content { return Content{parts: parts} }

// TextPart is a content part of type "text".
func TextPart(s string) ContentPart { return ContentPart{Type: "text", Text: s} }

// ContentPart is one element of a content array. Only "text" parts are
// produced here; other types decode with their Type and an empty Text.
type ContentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// IsParts reports whether the content is an array of parts.
func (c Content) IsParts() bool { return c.parts != nil }

// PartsList returns the parts of array content, nil for string content.
func (c Content) PartsList() []ContentPart { return c.parts }

// String is the content's text: the string, or the text parts joined with
// newlines.
func (c Content) String() string {
	if c.parts == nil {
		return c.text
	}
	return joinText(c.parts)
}

// MarshalJSON writes a string or an array, as the content was built.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.parts != nil {
		return json.Marshal(c.parts)
	}
	return json.Marshal(c.text)
}

// UnmarshalJSON accepts a string or an array of parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var parts []ContentPart
		if err := json.Unmarshal(b, &parts); err != nil {
			return fmt.Errorf("message content: %w", err)
		}
		*c = Content{parts: parts}
		if c.parts == nil {
			c.parts = []ContentPart{}
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("message content: want a string or an array: %w", err)
	}
	*c = Content{text: s}
	return nil
}

// ResponseFormat forces the reply's shape. With Type json_object the reply
// is a JSON object; JSONSchema, when set, is the JSON Schema it follows.
type ResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// ChatResponse is the answer of a non-streaming /v2/chat call.
type ChatResponse struct {
	ID           string              `json:"id"`
	FinishReason string              `json:"finish_reason"`
	Message      ChatResponseMessage `json:"message"`
	Usage        ChatUsage           `json:"usage"`
}

// Text is the reply's text parts joined with newlines.
func (r *ChatResponse) Text() string { return joinText(r.Message.Content) }

// ChatResponseMessage is the assistant's reply.
type ChatResponseMessage struct {
	Role    string        `json:"role"`
	Content []ContentPart `json:"content"`
}

// ChatUsage is what a chat call cost: BilledUnits in input and output
// tokens, Tokens as the model counted them (the prompt template included).
type ChatUsage struct {
	BilledUnits  BilledUnits `json:"billed_units"`
	Tokens       Tokens      `json:"tokens"`
	CachedTokens float64     `json:"cached_tokens,omitempty"`
}

func joinText(parts []ContentPart) string {
	var b strings.Builder
	n := 0
	for _, p := range parts {
		if p.Type != "text" {
			continue
		}
		if n > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
		n++
	}
	return b.String()
}

// chatWire is what goes over the wire: this client never streams, and says
// so rather than relying on the API's default.
type chatWire struct {
	*ChatRequest
	Stream bool `json:"stream"`
}

// Chat calls /v2/chat without streaming. Errors and retries are as for
// [Client.Embed]: a 400 means the request itself is wrong, a 429 is
// retried unless Config.Retry.NoRetryRateLimited, 5xx and network errors
// are retried.
func (c *Client) Chat(ctx context.Context, req *ChatRequest) (*ChatResponse, error) {
	if err := checkChat(req); err != nil {
		return nil, fmt.Errorf("cohere: chat: %w", err)
	}
	resp := new(ChatResponse)
	if err := c.call(ctx, http.MethodPost, "/v2/chat", nil, chatWire{ChatRequest: req}, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkChat refuses locally what the API would refuse after counting a
// call against the rate limit.
func checkChat(req *ChatRequest) error {
	switch {
	case req == nil:
		return fmt.Errorf("nil request")
	case req.Model == "":
		return fmt.Errorf("no model")
	case len(req.Messages) == 0:
		return fmt.Errorf("no messages")
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1):
		return fmt.Errorf("temperature %v outside [0, 1]", *req.Temperature)
	case req.MaxTokens < 0:
		return fmt.Errorf("max_tokens %d is negative", req.MaxTokens)
	}
	for i, m := range req.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return fmt.Errorf("message %d: role %q: want system, user or assistant", i, m.Role)
		}
	}
	if f := req.ResponseFormat; f != nil {
		switch f.Type {
		case ResponseFormatText:
			if len(f.JSONSchema) > 0 {
				return fmt.Errorf("response_format: json_schema needs type json_object")
			}
		case ResponseFormatJSONObject:
			if len(f.JSONSchema) > 0 && !json.Valid(f.JSONSchema) {
				return fmt.Errorf("response_format: json_schema is not valid JSON")
			}
		default:
			return fmt.Errorf("response_format: type %q: want text or json_object", f.Type)
		}
	}
	return nil
}
