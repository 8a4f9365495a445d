package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/schema"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// Chatter calls Cohere's v2 chat endpoint (cohere.Client satisfies it).
type Chatter interface {
	Chat(ctx context.Context, req *cohere.ChatRequest) (*cohere.ChatResponse, error)
}

// chatInFlight is how many calls one chunk keeps in flight: the shared
// limiter paces them, so this bounds only what one task holds open.
const chatInFlight = 8

// chatJob is what every call of a chat chunk shares.
type chatJob struct {
	d      *Deps
	spec   Spec
	client Chatter
	schema *schema.Schema // nil without -json-schema
	fp     string
	now    time.Time
}

// chatChunk prompts the model once per record of one chunk. A record's
// content hash is its rendered prompt's, so a record is kept unchanged
// exactly when neither the fields the template reads nor the job's
// fingerprint changed.
func chatChunk(ctx context.Context, d *Deps, c Chunk) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: c.Job, Number: c.Chunk, Chats: []sinks.ChatResult{}}
	items, err := d.readItems(ctx, c, out)
	if err != nil {
		return nil, err
	}
	ct, err := parseChatTemplate(c.Spec.Prompt)
	if err != nil {
		return nil, d.abort(ctx, c.Spec.ID, fmt.Sprintf("-prompt: %v", err))
	}
	prompts := map[string]string{}
	ready := items[:0]
	for _, it := range items {
		prompt, err := ct.render(it.rec)
		if err != nil {
			out.Failed = append(out.Failed, failure(it.rec, err.Error()))
			continue
		}
		it.sha = sha256.Sum256([]byte(prompt))
		prompts[it.rec.ID] = prompt
		ready = append(ready, it)
	}
	todo, err := skipUnchanged(ctx, c, ready, out)
	if err != nil || len(todo) == 0 {
		return out, err
	}
	cj := chatJob{d: d, spec: c.Spec, fp: c.Spec.Fingerprint(), now: time.Now().UTC()}
	if cj.client, err = opClient(d.Chatter, d, "chat"); err != nil {
		return nil, err
	}
	if len(c.Spec.JSONSchema) > 0 {
		if cj.schema, err = schema.Compile(c.Spec.JSONSchema); err != nil {
			return nil, d.abort(ctx, c.Spec.ID, fmt.Sprintf("-json-schema: %v", err))
		}
	}
	inFlight := chatInFlight
	if c.Spec.MaxCost > 0 {
		// Each call is checked against the budget with what the calls
		// before it were billed (mayCall): one at a time per chunk keeps
		// a chunk from crossing the budget by the calls it holds open.
		inFlight = 1
	}
	// A prompt repeated in the chunk is paid for once.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	result, err := callDistinct(cctx, todo, inFlight, func(ctx context.Context, it item) (*sinks.ChatResult, string, error) {
		r, reason, err := cj.record(ctx, prompts[it.rec.ID])
		if err != nil {
			cancel() // the chunk is retried or the job stopped: no more calls
		}
		return r, reason, err
	})
	if err != nil {
		return nil, err
	}
	rows, failed := outcomes(todo, result, func(it item, row sinks.ChatResult) sinks.ChatResult {
		row.ID, row.ContentSHA256, row.Metadata = it.rec.ID, it.sha, it.rec.Meta
		return row
	})
	out.Chats, out.Failed = append(out.Chats, rows...), append(out.Failed, failed...)
	return out, nil
}

// request is the chat call for one rendered prompt.
func (cj *chatJob) request(prompt string) *cohere.ChatRequest {
	s := cj.spec
	temp := s.Temperature
	req := &cohere.ChatRequest{Model: s.Model, MaxTokens: s.MaxTokens, Temperature: &temp, Seed: s.Seed}
	if s.System != "" {
		req.Messages = append(req.Messages, cohere.SystemMessage(s.System))
	}
	req.Messages = append(req.Messages, cohere.UserMessage(prompt))
	if len(s.JSONSchema) > 0 {
		req.ResponseFormat = &cohere.ResponseFormat{Type: cohere.ResponseFormatJSONObject, JSONSchema: s.JSONSchema}
	}
	return req
}

// record prompts the model with one record's prompt. A reply that does not
// parse or validate is asked for once more, then dead-lettered with the raw
// reply; a prompt the API rejects (over the model's context, ...) is
// dead-lettered with its reason. A non-empty reason means the record failed.
func (cj *chatJob) record(ctx context.Context, prompt string) (*sinks.ChatResult, string, error) {
	req := cj.request(prompt)
	for attempt := 1; ; attempt++ {
		var res *sinks.ChatResult
		var invalid error
		reply, err := callFor(ctx, cj.d, cj.spec.ID, "chat", 1, cj.client.Chat, req, func(r *cohere.ChatResponse) map[string]int64 {
			st := chatBilled(r)
			res, invalid = cj.result(r, prompt)
			if invalid == nil {
				st[jobstore.StatEmbedded] = 1
				if r.FinishReason == cohere.FinishMaxTokens {
					st[jobstore.StatMaxTokens] = 1
				}
			}
			return st
		})
		reason, err := reasonOrErr(err)
		if strings.Contains(reason, "too many tokens") {
			// Not truncated: the record is reported with its size.
			reason = fmt.Sprintf("prompt of ~%d tokens (%d bytes) is over the context of %s: %s", (len(prompt)+len(cj.spec.System)+3)/4, len(prompt)+len(cj.spec.System), cj.spec.Model, reason)
		}
		if reason != "" || err != nil {
			return nil, reason, err
		}
		if invalid == nil {
			return res, "", nil
		}
		if attempt == 2 {
			return nil, fmt.Sprintf("reply invalid after a retry: %v; raw reply: %q", invalid, reply.Text()), nil
		}
	}
}

// chatBilled is what a chat call billed: its input tokens, and its output
// tokens, which are priced apart (Spec.PriceOut).
func chatBilled(r *cohere.ChatResponse) map[string]int64 {
	b := r.Usage.BilledUnits
	return map[string]int64{jobstore.StatTokens: int64(b.InputTokens), jobstore.StatOutputTokens: int64(b.OutputTokens)}
}

// result turns a reply into a row, parsing and validating a structured
// reply. A reply cut at -max-tokens is written as it is: it is flagged by
// its finish_reason, and asking again would cut it again.
func (cj *chatJob) result(r *cohere.ChatResponse, prompt string) (*sinks.ChatResult, error) {
	res := &sinks.ChatResult{
		Output: r.Text(), FinishReason: r.FinishReason,
		InputTokens: int(r.Usage.BilledUnits.InputTokens), OutputTokens: int(r.Usage.BilledUnits.OutputTokens),
		Model: cj.spec.Model, Fingerprint: cj.fp, GeneratedAt: cj.now,
	}
	if cj.spec.StorePrompt {
		res.Prompt = prompt
	}
	if cj.schema == nil || r.FinishReason == cohere.FinishMaxTokens {
		return res, nil
	}
	if err := cj.schema.Validate([]byte(res.Output)); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(res.Output)); err != nil {
		return nil, err
	}
	res.OutputJSON = b.Bytes()
	return res, nil
}
