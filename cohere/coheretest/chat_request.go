package coheretest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/cobatch/cobatch/cohere/schema"
)

// chatRequest holds every field /v2/chat documents; anything else is an
// unknown field and refused. Fields the fake does not implement are kept
// raw so that it can say so (501) rather than ignore them.
type chatRequest struct {
	Model            string              `json:"model"`
	Messages         []chatMessage       `json:"messages"`
	Stream           *bool               `json:"stream"`
	Tools            json.RawMessage     `json:"tools"`
	StrictTools      *bool               `json:"strict_tools"`
	Documents        json.RawMessage     `json:"documents"`
	CitationOptions  json.RawMessage     `json:"citation_options"`
	ResponseFormat   *chatResponseFormat `json:"response_format"`
	SafetyMode       *string             `json:"safety_mode"`
	MaxTokens        *int                `json:"max_tokens"`
	StopSequences    []string            `json:"stop_sequences"`
	Temperature      *float64            `json:"temperature"`
	Seed             *int64              `json:"seed"`
	FrequencyPenalty *float64            `json:"frequency_penalty"`
	PresencePenalty  *float64            `json:"presence_penalty"`
	K                *int                `json:"k"`
	P                *float64            `json:"p"`
	Logprobs         *bool               `json:"logprobs"`
	ToolChoice       *string             `json:"tool_choice"`
	Thinking         json.RawMessage     `json:"thinking"`
	Priority         *int                `json:"priority"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	ToolPlan   string          `json:"tool_plan"`
	Citations  json.RawMessage `json:"citations"`
}

type chatPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
	Document json.RawMessage `json:"document"`
}

type chatResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema"`
}

// chatPlan is a validated chat request.
type chatPlan struct {
	model    string
	turns    []Turn
	seed     int64
	format   string // "text" or "json_object"
	schema   []byte
	compiled *schema.Schema
	max      int
	stops    []string
	tokens   int // billed input tokens
}

// decodeStrict decodes body into v, refusing fields v does not have.
func decodeStrict(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badRequest("invalid request: unknown field %s", name)
		}
		return badRequest("invalid json syntax: %s", err.Error())
	}
	if dec.More() {
		return badRequest("invalid json syntax: invalid character after top-level value")
	}
	return nil
}

func notImplemented(what string) *apiError {
	return &apiError{http.StatusNotImplemented, what + " is not implemented by this server"}
}

// planChat validates a chat request the way the API does, with its
// documented messages where it has them.
func planChat(body []byte) (*chatPlan, *apiError) {
	var req chatRequest
	if aerr := decodeStrict(body, &req); aerr != nil {
		return nil, aerr
	}
	if aerr := checkModel(req.Model, "chat"); aerr != nil {
		return nil, aerr
	}
	switch {
	case req.Stream != nil && *req.Stream:
		return nil, notImplemented("stream")
	case len(req.Tools) > 0 && string(req.Tools) != "null", req.ToolChoice != nil, req.StrictTools != nil:
		return nil, notImplemented("tool use")
	case len(req.Documents) > 0 && string(req.Documents) != "null", len(req.CitationOptions) > 0:
		return nil, notImplemented("documents and citations")
	case len(req.Thinking) > 0 && string(req.Thinking) != "null":
		return nil, notImplemented("thinking")
	case req.Logprobs != nil && *req.Logprobs:
		return nil, notImplemented("logprobs")
	}
	p := &chatPlan{model: req.Model, format: "text", max: chatMaxOutput(req.Model), stops: req.StopSequences}
	if req.Seed != nil {
		p.seed = *req.Seed
	}
	if aerr := p.readMessages(req.Messages); aerr != nil {
		return nil, aerr
	}
	if aerr := checkSampling(&req); aerr != nil {
		return nil, aerr
	}
	if req.MaxTokens != nil {
		switch {
		case *req.MaxTokens < 1:
			return nil, badRequest("invalid request: max_tokens must be at least 1 - received %d", *req.MaxTokens)
		case *req.MaxTokens > p.max:
			return nil, badRequest("too many tokens: max tokens must be less than or equal to %d, the maximum output for this model - received %d.", p.max, *req.MaxTokens)
		}
		p.max = *req.MaxTokens
	}
	if f := req.ResponseFormat; f != nil {
		if aerr := p.readFormat(f); aerr != nil {
			return nil, aerr
		}
	}
	if m, _ := findModel(req.Model); p.tokens+chatPromptOverhead(len(p.turns)) > int(m.ContextLength) {
		over := p.tokens + chatPromptOverhead(len(p.turns)) - int(m.ContextLength)
		return nil, badRequest("too many tokens: size limit exceeded by %d tokens. Try using shorter or fewer inputs.", over)
	}
	return p, nil
}

func (p *chatPlan) readMessages(msgs []chatMessage) *apiError {
	if len(msgs) == 0 {
		return badRequest("invalid request: message must be at least 1 token long or tool results must be specified.")
	}
	sawOther := false
	for i, m := range msgs {
		switch m.Role {
		case "system":
			if sawOther {
				return badRequest("system turn must be the first in the list")
			}
		case "user", "assistant":
			sawOther = true
		case "tool":
			if m.ToolCallID == "" {
				return badRequest("tool call id must be provided with tool message")
			}
			return badRequest("tool call id not found in previous tool calls")
		default:
			return badRequest("invalid request: invalid role '%s' in messages at index %d. Role must be one of the following: user, assistant, system, tool", m.Role, i)
		}
		if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
			return notImplemented("tool use")
		}
		text, aerr := p.contentText(i, m.Content)
		if aerr != nil {
			return aerr
		}
		if strings.TrimSpace(text) == "" {
			return badRequest("message must not be empty in a turn")
		}
		p.turns = append(p.turns, Turn{Role: m.Role, Text: text})
		p.tokens += Tokens(text)
	}
	if lastUser(p.turns) == "" {
		return badRequest("invalid request: messages must contain at least one user message")
	}
	return nil
}

// contentText reads a message's content: a string, or an array of parts
// of which the fake reads "text" ones.
func (p *chatPlan) contentText(i int, raw json.RawMessage) (string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", badRequest("message must not be empty in a turn")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badRequest("invalid json syntax: %s", err.Error())
		}
		return s, nil
	}
	var parts []chatPart
	if aerr := decodeStrict(raw, &parts); aerr != nil {
		return "", badRequest("invalid request: content of messages[%d] must be a string or an array of content parts", i)
	}
	var texts []string
	for j, part := range parts {
		switch part.Type {
		case "text":
			if part.Text == nil {
				return "", badRequest("invalid request: messages[%d].content[%d]: required 'text' param is missing or empty.", i, j)
			}
			texts = append(texts, *part.Text)
		case "image_url":
			if m, _ := findModel(p.model); !m.SupportsVision {
				return "", badRequest("invalid request: model '%s' does not support images", p.model)
			}
			return "", notImplemented("image input")
		case "document":
			return "", notImplemented("document content")
		default:
			return "", badRequest("invalid request: messages[%d].content[%d]: unknown content type '%s'", i, j, part.Type)
		}
	}
	return strings.Join(texts, "\n"), nil
}

func checkSampling(req *chatRequest) *apiError {
	between := func(name string, v *float64, lo, hi float64, bound string) *apiError {
		if v != nil && (*v < lo || *v > hi) {
			return badRequest("invalid request: %s must be between %s inclusive.", name, bound)
		}
		return nil
	}
	for _, c := range []*apiError{
		between("temperature", req.Temperature, 0, 1, "0 and 1.0"),
		between("frequency_penalty", req.FrequencyPenalty, 0, 1, "0 and 1"),
		between("presence_penalty", req.PresencePenalty, 0, 1, "0 and 1"),
		between("p", req.P, 0.01, 0.99, "0.01 and 0.99"),
	} {
		if c != nil {
			return c
		}
	}
	switch {
	case req.FrequencyPenalty != nil && req.PresencePenalty != nil && *req.FrequencyPenalty != 0 && *req.PresencePenalty != 0:
		return badRequest("invalid request: cannot specify both frequency_penalty and presence_penalty.")
	case req.K != nil && (*req.K < 0 || *req.K > 500):
		return badRequest("invalid request: k must be between 0 and 500 inclusive.")
	case len(req.StopSequences) > 5:
		return badRequest("invalid request: stop_sequences must contain at most 5 elements - received %d", len(req.StopSequences))
	case req.SafetyMode != nil && !slices.Contains([]string{"CONTEXTUAL", "STRICT", "OFF"}, *req.SafetyMode):
		return badRequest("invalid request: safety_mode must be one of 'CONTEXTUAL', 'STRICT' or 'OFF'")
	case req.Priority != nil && *req.Priority < 0:
		return badRequest("invalid request: priority must be at least 0")
	}
	return nil
}

func (p *chatPlan) readFormat(f *chatResponseFormat) *apiError {
	hasSchema := len(f.JSONSchema) > 0 && string(f.JSONSchema) != "null"
	switch f.Type {
	case "text":
		if hasSchema {
			return badRequest("invalid request: json_schema can only be used with response_format type 'json_object'")
		}
	case "json_object":
		p.format = "json_object"
		if !hasSchema {
			return nil
		}
		if t := bytes.TrimSpace(f.JSONSchema); len(t) == 0 || t[0] != '{' {
			return badRequest("schema must be an object")
		}
		s, err := schema.Compile(f.JSONSchema)
		if err != nil {
			return badRequest("invalid request: response_format.json_schema: %s", strings.TrimPrefix(err.Error(), "schema: "))
		}
		p.schema, p.compiled = f.JSONSchema, s
	default:
		return badRequest("invalid request: response_format type must be one of 'text' or 'json_object' - received '%s'", f.Type)
	}
	return nil
}
