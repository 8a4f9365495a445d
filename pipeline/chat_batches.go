package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/schema"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// chatAsync is the chat operation's async route: Cohere Batches over a
// batch-chat-v2-input dataset, each line the /v2/chat request the sync
// route sends for its record (chatJob.request), its reply read, checked and
// written as the sync route's (chatJob.result).
type chatAsync struct{}

func (chatAsync) autoRoute(Spec) string { return AsyncBatches }

// batchModel: a chat batch runs the chat model itself (the model the
// models endpoint lists with "batches" beside "chat").
func (chatAsync) batchModel(s Spec) string { return s.Model }

// text is the record's rendered prompt: what is sent, and what the sync
// route hashes (chatChunk).
func (chatAsync) text(s Spec) (func(input.Record) (string, error), error) {
	ct, err := parseChatTemplate(s.Prompt)
	if err != nil {
		return nil, fmt.Errorf("-prompt: %w", err)
	}
	return ct.render, nil
}

func (chatAsync) datasetType(string) string { return cohere.DatasetBatchChatV2Input }

func (chatAsync) rowKind(c *sinks.Chunk) { c.Chats = []sinks.ChatResult{} }

type chatLines struct {
	cj *chatJob
	bw *cohere.BatchChatWriter
}

func (chatAsync) lines(s Spec, _ string, out io.Writer) (lineWriter, error) {
	return &chatLines{cj: &chatJob{spec: s}, bw: cohere.NewBatchChatWriter(out)}, nil
}

func (l *chatLines) write(it item) error { return l.bw.Write(it.rec.ID, l.cj.request(it.rec.Text)) }

func (l *chatLines) flush() error { return l.bw.Flush() }

// chatRow is a reply of the output, complete but for its record's id,
// content hash, metadata and (-store-prompt) prompt.
type chatRow struct {
	res         sinks.ChatResult
	storePrompt bool
}

func (r *chatRow) join(c *pendingChunk, it item) {
	row := r.res
	row.ID, row.ContentSHA256, row.Metadata = it.rec.ID, it.sha, it.rec.Meta
	if r.storePrompt {
		row.Prompt = it.rec.Text // the rendered prompt (pendingChunks keeps it)
	}
	c.out.Chats = append(c.out.Chats, row)
}

// readPart checks each reply as the sync route does: a reply that does not
// parse or validate against -json-schema, and a line the batch answered
// with an error, are unusable rows, handled by -async-fallback (the sync
// route asks again, or the record is dead-lettered with the reason).
func (chatAsync) readPart(ctx context.Context, api AsyncAPI, spec Spec, _, url string, accept func(string, asyncRow) error) error {
	cj := &chatJob{spec: spec, fp: spec.Fingerprint(), now: time.Now().UTC()}
	if len(spec.JSONSchema) > 0 {
		var err error
		if cj.schema, err = schema.Compile(spec.JSONSchema); err != nil {
			return fmt.Errorf("-json-schema: %w", err)
		}
	}
	return api.ReadBatchChatOutput(ctx, url, func(r cohere.BatchChatResult) error {
		if r.Err != nil {
			return accept(r.CustomID, unusableRow("answered with an error: "+r.Err.Message))
		}
		res, invalid := cj.result(r.Response, "")
		if invalid != nil {
			return accept(r.CustomID, unusableRow(fmt.Sprintf("reply invalid: %v; raw reply: %q", invalid, r.Response.Text())))
		}
		return accept(r.CustomID, &chatRow{res: *res, storePrompt: spec.StorePrompt})
	})
}
