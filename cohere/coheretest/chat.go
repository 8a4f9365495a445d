package coheretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cobatch/cobatch/cohere/schema"
)

// chatModels are the chat models the fake serves: context length, the
// largest max_tokens each accepts, and vision support.
var chatModels = []struct {
	name      string
	ctx       float64
	maxOutput int
	vision    bool
}{
	{"command-a-plus-05-2026", 256000, 8000, false},
	{"command-a-03-2025", 256000, 8000, false},
	{"command-a-vision-07-2025", 128000, 8000, true},
	{"command-a-reasoning-08-2025", 256000, 32000, false},
	{"command-r-plus-08-2024", 128000, 4000, false},
	{"command-r-08-2024", 128000, 4000, false},
	{"command-r7b-12-2024", 128000, 4000, false},
}

func chatCatalog() []modelInfo {
	var out []modelInfo
	for _, m := range chatModels {
		info := otherModel(m.name, "chat", m.ctx)
		info.Features = []string{"json_mode", "json_schema", "safety_modes", "strict_tools", "tools"}
		info.SupportsVision = m.vision
		out = append(out, info)
	}
	return out
}

// chatMaxOutput is a chat model's output limit; models outside chatModels
// (the legacy "command") get 4000.
func chatMaxOutput(model string) int {
	for _, m := range chatModels {
		if m.name == model {
			return m.maxOutput
		}
	}
	return 4000
}

// chatPromptOverhead is what the model's own prompt template adds to the
// counted (not billed) input tokens: 66 for one message, as in the API's
// example answer (5 billed, 71 counted).
func chatPromptOverhead(messages int) int { return 62 + 4*messages }

// Turn is one chat message as the fake reads it: its role and its text
// (text parts joined with newlines).
type Turn struct {
	Role string
	Text string
}

// ChatText is the fake's text reply to turns under model, before max_tokens
// or stop_sequences cut it: "Re: " and the first 30 words of the last user
// message, then a tag hashed from the model, the seed (0 when the request
// has none) and every turn, so that different conversations differ.
func ChatText(model string, seed int64, turns []Turn) string {
	w := strings.Fields(lastUser(turns))
	if len(w) > 30 {
		w = w[:30]
	}
	return fmt.Sprintf("Re: %s [%08x]", strings.Join(w, " "), uint32(conversationHash(model, seed, turns)))
}

// ChatJSON is the fake's reply to a json_object request: with a schema, a
// JSON object that validates against it (see generate for the choices),
// without one {"reply": ChatText(...)}.
func ChatJSON(model string, seed int64, turns []Turn, jsonSchema []byte) (string, error) {
	if len(jsonSchema) == 0 {
		b, err := json.Marshal(map[string]string{"reply": ChatText(model, seed, turns)})
		return string(b), err
	}
	var root map[string]any
	if err := json.Unmarshal(jsonSchema, &root); err != nil {
		return "", errors.New("schema must be an object")
	}
	g := &generator{root: root, user: lastUser(turns), h: conversationHash(model, seed, turns)}
	v, err := g.value(root, "", 0)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func lastUser(turns []Turn) string {
	for i := len(turns) - 1; i >= 0; i-- {
		if turns[i].Role == "user" {
			return turns[i].Text
		}
	}
	return ""
}

func conversationHash(model string, seed int64, turns []Turn) uint64 {
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(seed, 10)))
	for _, t := range turns {
		h.Write([]byte{0})
		h.Write([]byte(t.Role))
		h.Write([]byte{0})
		h.Write([]byte(t.Text))
	}
	return h.Sum64()
}

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

type chatTextPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type chatTokens struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// chatResponse follows the field order of the API's example answer.
type chatResponse struct {
	ID      string `json:"id"`
	Message struct {
		Role    string         `json:"role"`
		Content []chatTextPart `json:"content"`
	} `json:"message"`
	FinishReason string `json:"finish_reason"`
	Usage        struct {
		BilledUnits chatTokens `json:"billed_units"`
		Tokens      chatTokens `json:"tokens"`
	} `json:"usage"`
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
	if req.Model == "" {
		return nil, badRequest("a model parameter is required for this endpoint.")
	}
	known, serves := modelServes(req.Model, "chat")
	if !known {
		return nil, &apiError{http.StatusNotFound, modelNotFound(req.Model)}
	}
	if !serves {
		return nil, badRequest("invalid request: model '%s' is not supported by the chat API", req.Model)
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

// reply builds the answer's text and finish reason; bad asks for a reply
// that breaks the request's response format (see WithBadReplies).
func (p *chatPlan) reply(bad bool) (text, finish string, aerr *apiError) {
	switch {
	case p.format == "text":
		text = ChatText(p.model, p.seed, p.turns)
	case bad:
		text = breakReply(p)
	default:
		var err error
		text, err = ChatJSON(p.model, p.seed, p.turns, p.schema)
		if err == nil && p.compiled != nil {
			err = p.compiled.Validate([]byte(text))
		}
		if err != nil {
			return "", "", badRequest("invalid request: response_format.json_schema: this server cannot produce a value for the schema: %v", err)
		}
	}
	finish = "COMPLETE"
	for _, stop := range p.stops {
		if i := strings.Index(text, stop); stop != "" && i >= 0 {
			text, finish = text[:i], "STOP_SEQUENCE"
		}
	}
	if pieces := tokenPieces(text); len(pieces) > p.max {
		text, finish = strings.Join(pieces[:p.max], ""), "MAX_TOKENS"
	}
	return text, finish, nil
}

// breakReply is a structured reply that fails its format: with a schema
// that requires properties, the valid object less its first required
// property (valid JSON, invalid against the schema); otherwise prose that
// is not JSON at all.
func breakReply(p *chatPlan) string {
	prose := "I am sorry, but I cannot answer that in JSON."
	if p.schema == nil {
		return prose
	}
	good, err := ChatJSON(p.model, p.seed, p.turns, p.schema)
	if err != nil {
		return prose
	}
	var obj map[string]any
	var root struct {
		Required []string `json:"required"`
	}
	if json.Unmarshal([]byte(good), &obj) != nil || json.Unmarshal(p.schema, &root) != nil || len(root.Required) == 0 {
		return prose
	}
	delete(obj, root.Required[0])
	b, _ := json.Marshal(obj)
	return string(b)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, body []byte) {
	p, aerr := planChat(body)
	if aerr != nil {
		writeError(w, aerr.status, aerr.msg)
		return
	}
	if !s.admit(w, "chat", 1) {
		return
	}
	for i, t := range p.turns {
		if s.poisonedIn(t.Text) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: message at index %d could not be processed by the chat model", i))
			return
		}
	}
	text, finish, aerr := p.reply(s.badReply(p))
	if aerr != nil {
		writeError(w, aerr.status, aerr.msg)
		return
	}
	var resp chatResponse
	resp.ID = newUUID()
	resp.Message.Role = "assistant"
	resp.Message.Content = []chatTextPart{{Type: "text", Text: text}}
	resp.FinishReason = finish
	out := Tokens(text)
	resp.Usage.BilledUnits = chatTokens{InputTokens: p.tokens, OutputTokens: out}
	resp.Usage.Tokens = chatTokens{InputTokens: p.tokens + chatPromptOverhead(len(p.turns)), OutputTokens: out}
	s.count(func(st *Stats) {
		st.ChatReplies++
		st.BilledInputTokens += p.tokens
		st.BilledOutputTokens += out
		if finish == "MAX_TOKENS" {
			st.ChatMaxTokens++
		}
	})
	writeJSON(w, http.StatusOK, resp)
}

// badReply decides whether this reply breaks its response format, and
// counts the conversation's replies so that WithBadReplies can fail only
// a first attempt.
func (s *Server) badReply(p *chatPlan) bool {
	key := conversationHash(p.model, p.seed, p.turns)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.chats[key]
	s.chats[key]++
	if p.format != "json_object" {
		return false
	}
	bad := s.cfg.badReplyRate > 0 && s.rng.Float64() < s.cfg.badReplyRate
	if !bad && s.cfg.badReply != nil {
		bad = s.cfg.badReply(lastUser(p.turns), n)
	}
	if bad {
		s.st.ChatBadReplies++
	}
	return bad
}

// poisonedIn reports whether text contains a poison text. Chat prompts wrap
// a record's text in a template, so containment, not equality, is what
// marks a record as poison here.
func (s *Server) poisonedIn(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.cfg.poison {
		if strings.Contains(text, p) {
			return true
		}
	}
	return false
}

// WithBadReplies makes the json_object replies for which f returns true
// break their format (a schema's first required property left out, or
// prose that is not JSON; see the package doc). f gets the last user
// message and how many replies the fake gave the same conversation before
// (0 on the first), so a test can fail only the first attempt. nil turns
// it off.
func WithBadReplies(f func(lastUser string, earlier int) bool) Option {
	return func(c *config) { c.badReply = f }
}

// WithBadReplyRate makes the given fraction of json_object replies break
// their format, drawn from the seeded random source. 0 turns it off.
func WithBadReplyRate(fraction float64) Option {
	return func(c *config) { c.badReplyRate = fraction }
}
