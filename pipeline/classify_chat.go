package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/schema"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// The chat route of a classify job: one /v2/chat call per distinct text,
// the labels named in the system message and held by the reply's JSON
// schema (an enum), the job's examples as few-shot turns. The record's
// text is the last user message after a short fixed lead-in, so that a
// record cannot pass for the instructions. A reply that is not valid JSON
// or names no label is asked again once, then dead-lettered with the raw
// reply. The API gives no confidence: it is left empty (NULL), and labels
// holds 1 for each predicted label.

const (
	// chatLeadIn precedes each record's text in the last user message.
	chatLeadIn = "Text to classify:\n"
	// maxChatShots bounds the few-shot turns taken from -examples.
	maxChatShots = 32
	// chatParallel is how many of a chunk's chat calls are in flight at
	// once; the shared limiter still sets the pace.
	chatParallel = 8
)

// labelSchema is the reply's JSON schema: {"label": one of labels}, or
// {"labels": [one or more of labels]} for a multi-label job.
func labelSchema(labels []string, multi bool) json.RawMessage {
	enum := map[string]any{"type": "string", "enum": labels}
	var s map[string]any
	if multi {
		s = map[string]any{"type": "object", "required": []string{"labels"}, "properties": map[string]any{
			"labels": map[string]any{"type": "array", "items": enum, "minItems": 1}}}
	} else {
		s = map[string]any{"type": "object", "required": []string{"label"}, "properties": map[string]any{"label": enum}}
	}
	b, _ := json.Marshal(s) // maps of strings always encode
	return b
}

// chatPrompt is the system message and the few-shot turns of a job.
func chatPrompt(spec Spec, examples []cohere.ClassifyExample) []cohere.ChatMessage {
	sys := "You classify texts. Answer with a JSON object whose \"label\" is exactly one of these labels: " + strings.Join(spec.Labels, ", ") + "."
	if spec.MultiLabel {
		sys = "You classify texts. Answer with a JSON object whose \"labels\" lists every label that applies, each one of these labels: " + strings.Join(spec.Labels, ", ") + "."
	}
	msgs := []cohere.ChatMessage{cohere.SystemMessage(sys)}
	for _, e := range chatShots(spec.Labels, examples) {
		ans, _ := json.Marshal(map[string]string{"label": e.Label})
		if spec.MultiLabel {
			ans, _ = json.Marshal(map[string][]string{"labels": {e.Label}})
		}
		msgs = append(msgs, cohere.UserMessage(chatLeadIn+e.Text), cohere.AssistantMessage(string(ans)))
	}
	return msgs
}

// chatShots picks at most maxChatShots examples, taking one of each label
// in turn, so that an examples file sorted by label still shows the model
// every label.
func chatShots(labels []string, examples []cohere.ClassifyExample) []cohere.ClassifyExample {
	byLabel := map[string][]cohere.ClassifyExample{}
	for _, e := range examples {
		byLabel[e.Label] = append(byLabel[e.Label], e)
	}
	var out []cohere.ClassifyExample
	for round := 0; round < len(examples) && len(out) < maxChatShots; round++ {
		for _, l := range labels {
			if round < len(byLabel[l]) && len(out) < maxChatShots {
				out = append(out, byLabel[l][round])
			}
		}
	}
	return out
}

// classifyViaChat labels records with one chat call per distinct text.
func classifyViaChat(ctx context.Context, d *Deps, spec Spec, todo []item) (verdict func(item) (*sinks.Classification, string), err error) {
	examples, err := d.jobExamples(ctx, spec)
	if err != nil {
		return nil, err
	}
	lc := labelCaller{d: d, spec: spec, prompt: chatPrompt(spec, examples), schema: labelSchema(spec.Labels, spec.MultiLabel)}
	if lc.compiled, err = schema.Compile(lc.schema); err != nil {
		return nil, fmt.Errorf("label schema: %w", err)
	}
	if lc.client, err = opClient(d.Chatter, d, "chat"); err != nil {
		return nil, err
	}
	return callDistinct(ctx, todo, chatParallel, func(ctx context.Context, it item) (*sinks.Classification, string, error) {
		return lc.label(ctx, it.rec.Text)
	})
}

type labelCaller struct {
	d        *Deps
	spec     Spec
	client   Chatter
	prompt   []cohere.ChatMessage
	schema   json.RawMessage
	compiled *schema.Schema
}

// label asks for text's label(s): a reply that does not hold one is asked
// again once, then comes back as a reason with the raw reply. A request
// the API rejects (400/422) is a reason too; anything else is an error.
func (lc labelCaller) label(ctx context.Context, text string) (*sinks.Classification, string, error) {
	temp, seed := 0.0, int64(0)
	req := &cohere.ChatRequest{
		Model:          lc.spec.Model,
		Messages:       append(slices.Clip(lc.prompt), cohere.UserMessage(chatLeadIn+text)),
		Temperature:    &temp,
		Seed:           &seed,
		ResponseFormat: &cohere.ResponseFormat{Type: "json_object", JSONSchema: lc.schema},
	}
	var reason string
	for range 2 {
		resp, err := callFor(ctx, lc.d, lc.spec.ID, "chat", 1, lc.client.Chat, req, func(r *cohere.ChatResponse) map[string]int64 {
			st := chatBilled(r)
			st[jobstore.StatEmbedded] = 1
			return st
		})
		if reason, err := reasonOrErr(err); reason != "" || err != nil {
			return nil, reason, err
		}
		raw := resp.Text()
		got, perr := lc.parse(raw)
		if perr == nil {
			return got, "", nil
		}
		reason = fmt.Sprintf("chat reply names no label (%v): %q", perr, raw)
	}
	return nil, reason, nil
}

// parse validates a reply against the schema and returns its label(s) as
// the route's fields of a row: the API gives no confidence, and labels
// holds 1 for each label predicted.
func (lc labelCaller) parse(raw string) (*sinks.Classification, error) {
	if err := lc.compiled.Validate([]byte(raw)); err != nil {
		return nil, err
	}
	var v struct {
		Label  string   `json:"label"`
		Labels []string `json:"labels"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, err
	}
	got := []string{v.Label}
	if lc.spec.MultiLabel {
		got = v.Labels
	}
	c := &sinks.Classification{Label: got[0], Labels: make(map[string]float32, len(got)), Route: ViaChat}
	for _, l := range got {
		c.Labels[l] = 1
	}
	if lc.spec.MultiLabel {
		c.LabelsPredicted = got
	}
	return c, nil
}
