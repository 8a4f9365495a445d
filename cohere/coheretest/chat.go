package coheretest

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
)

// chatModels are the chat models the fake serves: context length, the
// largest max_tokens each accepts, vision support, and whether Batches
// serves it (listed with "batches" beside "chat").
var chatModels = []struct {
	name      string
	ctx       float64
	maxOutput int
	vision    bool
	batches   bool
}{
	{"command-a-plus-05-2026", 256000, 8000, false, true},
	{"command-a-03-2025", 256000, 8000, false, true},
	{"command-a-vision-07-2025", 128000, 8000, true, false},
	{"command-a-reasoning-08-2025", 256000, 32000, false, false},
	{"command-r-plus-08-2024", 128000, 4000, false, true},
	{"command-r-08-2024", 128000, 4000, false, true},
	{"command-r7b-12-2024", 128000, 4000, false, true},
}

func chatCatalog() []modelInfo {
	var out []modelInfo
	for _, m := range chatModels {
		info := otherModel(m.name, "chat", m.ctx)
		info.Features = []string{"json_mode", "json_schema", "safety_modes", "strict_tools", "tools"}
		info.SupportsVision = m.vision
		if m.batches {
			info.Endpoints = append(info.Endpoints, "batches")
		}
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
// JSON object that validates against it (the choices are listed on the
// generator type in chat_json.go),
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
	g := &generator{root: root, user: lastUser(turns), turns: turns, h: conversationHash(model, seed, turns)}
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
	resp, aerr := s.answerChat(p)
	if aerr != nil {
		writeError(w, aerr.status, aerr.msg)
		return
	}
	s.countChat(resp)
	writeJSON(w, http.StatusOK, resp)
}

// answerChat answers a validated request as /v2/chat does, poison and bad
// replies included. Batches answer their lines with it too; the caller
// bills the answer (countChat) once it is delivered.
func (s *Server) answerChat(p *chatPlan) (*chatResponse, *apiError) {
	for i, t := range p.turns {
		if s.poisonedIn(t.Text) {
			return nil, badRequest("invalid request: message at index %d could not be processed by the chat model", i)
		}
	}
	text, finish, aerr := p.reply(s.badReply(p))
	if aerr != nil {
		return nil, aerr
	}
	resp := new(chatResponse)
	resp.ID = newUUID()
	resp.Message.Role = "assistant"
	resp.Message.Content = []chatTextPart{{Type: "text", Text: text}}
	resp.FinishReason = finish
	out := Tokens(text)
	resp.Usage.BilledUnits = chatTokens{InputTokens: p.tokens, OutputTokens: out}
	resp.Usage.Tokens = chatTokens{InputTokens: p.tokens + chatPromptOverhead(len(p.turns)), OutputTokens: out}
	return resp, nil
}

// countChat adds delivered answers to the stats.
func (s *Server) countChat(resps ...*chatResponse) {
	s.count(func(st *Stats) {
		for _, r := range resps {
			st.ChatReplies++
			st.BilledInputTokens += r.Usage.BilledUnits.InputTokens
			st.BilledOutputTokens += r.Usage.BilledUnits.OutputTokens
			if r.FinishReason == "MAX_TOKENS" {
				st.ChatMaxTokens++
			}
		}
	})
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
