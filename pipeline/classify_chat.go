package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/schema"
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

// labelChatter calls Cohere's v2 chat endpoint (cohere.Client satisfies it).
type labelChatter interface {
	Chat(ctx context.Context, req *cohere.ChatRequest) (*cohere.ChatResponse, error)
}

const (
	// chatLeadIn precedes each record's text in the last user message.
	chatLeadIn = "Text to classify:\n"
	// maxChatShots bounds the few-shot turns taken from -examples.
	maxChatShots = 32
	// chatParallel is how many of a chunk's chat calls are in flight at
	// once; the shared limiter still sets the pace.
	chatParallel = 8
)

func (w *Worker) labelChatter() (labelChatter, error) {
	if c, ok := w.Embedder.(labelChatter); ok {
		return c, nil
	}
	return nil, errors.New("worker has no chat client")
}

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

func (w *Worker) classifyChatChunk(ctx context.Context, spec Spec, sink Sink, p ChunkPayload) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: p.Job, Number: p.Chunk, Classifications: []sinks.Classification{}}
	items, err := w.readItems(ctx, spec, p, out)
	if err != nil {
		return nil, err
	}
	todo, err := skipUnchanged(ctx, spec, sink, p, items, out)
	if err != nil || len(todo) == 0 {
		return out, err
	}
	client, err := w.labelChatter()
	if err != nil {
		return nil, err
	}
	examples, err := w.jobExamples(ctx, spec)
	if err != nil {
		return nil, err
	}
	sch := labelSchema(spec.Labels, spec.MultiLabel)
	compiled, err := schema.Compile(sch)
	if err != nil {
		return nil, fmt.Errorf("label schema: %w", err)
	}
	lc := labelCaller{w: w, spec: spec, client: client, prompt: chatPrompt(spec, examples), schema: sch, compiled: compiled}
	uniq, first := distinct(todo)
	verdicts := make([][]string, len(uniq))
	reasons := make([]string, len(uniq))
	errs := make([]error, len(uniq))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(chatParallel, len(uniq)) {
		wg.Go(func() {
			for i := range next {
				verdicts[i], reasons[i], errs[i] = lc.label(ctx, uniq[i].rec.Text)
			}
		})
	}
	for i := range uniq {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	fp := spec.Fingerprint()
	for _, it := range todo {
		u := first[it.sha]
		got := verdicts[u]
		if got == nil {
			out.Failed = append(out.Failed, failure(it.rec, reasons[u]))
			continue
		}
		scores := make(map[string]float32, len(got))
		for _, l := range got {
			scores[l] = 1
		}
		c := sinks.Classification{
			ID: it.rec.ID, Label: got[0], Labels: scores, Route: ViaChat,
			Model: spec.Model, Fingerprint: fp, ContentSHA256: it.sha, Metadata: it.rec.Meta, ClassifiedAt: now,
		}
		if spec.MultiLabel {
			c.LabelsPredicted = got
		}
		out.Classifications = append(out.Classifications, c)
	}
	return out, nil
}

type labelCaller struct {
	w        *Worker
	spec     Spec
	client   labelChatter
	prompt   []cohere.ChatMessage
	schema   json.RawMessage
	compiled *schema.Schema
}

// label asks for text's label(s): a reply that does not hold one is asked
// again once, then comes back as a reason with the raw reply. A request
// the API rejects (400/422) is a reason too; anything else is an error.
func (lc labelCaller) label(ctx context.Context, text string) ([]string, string, error) {
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
		var resp *cohere.ChatResponse
		err := lc.w.callAPI(ctx, lc.spec.ID, "chat", 1, func(ctx context.Context) (map[string]int64, error) {
			r, err := lc.client.Chat(ctx, req)
			if err != nil {
				return nil, err
			}
			resp = r
			// Output tokens are priced apart, at Spec.PriceOut.
			b := r.Usage.BilledUnits
			return map[string]int64{StatTokens: int64(b.InputTokens), StatOutputTokens: int64(b.OutputTokens), StatEmbedded: 1}, nil
		})
		if v, ok := rejected(err); ok {
			return nil, rejectedReason(v), nil
		}
		if err != nil {
			return nil, "", err
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

// parse validates a reply against the schema and returns its label(s).
func (lc labelCaller) parse(raw string) ([]string, error) {
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
	if lc.spec.MultiLabel {
		return v.Labels, nil
	}
	return []string{v.Label}, nil
}
