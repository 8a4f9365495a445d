package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// asyncOp is what an operation adds to the async route: which remote route
// it takes, what each record sends and how an output row becomes a sink
// row. The phases, names, polling, the join by id, the budget and the
// fallback (async_*.go) are shared by every operation.
type asyncOp interface {
	// autoRoute is the route -async auto takes above the threshold ("":
	// the synchronous one).
	autoRoute(s Spec) string
	// batchModel is the model a batch runs without -batch-model ("": none).
	batchModel(s Spec) string
	// text returns what a record sends, and what its content hash is taken
	// of, as the synchronous route takes it; an error dead-letters the
	// record with its message.
	text(s Spec) (func(input.Record) (string, error), error)
	// datasetType is the type of the dataset a group uploads.
	datasetType(route string) string
	// lines writes a group's dataset lines to out.
	lines(s Spec, route string, out io.Writer) (lineWriter, error)
	// rowKind marks an empty chunk with the operation's row kind (sinks.Chunk).
	rowKind(c *sinks.Chunk)
	// readPart reads one part of the remote output, handing each row to
	// accept with the record id it answers.
	readPart(ctx context.Context, api AsyncAPI, s Spec, route, url string, accept func(id string, row asyncRow) error) error
}

// lineWriter writes the dataset line of each item; flush ends the file.
type lineWriter interface {
	write(it item) error
	flush() error
}

// asyncRow is one output row joined to its record: join adds it to the
// chunk's rows, or records why it cannot be used.
type asyncRow interface {
	join(c *pendingChunk, it item)
}

// unusableRow is an output row that cannot be written (an error the remote
// job gave the record, a reply that does not parse or validate): its
// record counts as missing, with this reason.
type unusableRow string

func (r unusableRow) join(c *pendingChunk, it item) { c.unusable[it.rec.ID] = string(r) }

// embedAsync is the embed operation's async route: Embed Jobs for the v3
// models, Batches for embed-v4.
type embedAsync struct{}

func (embedAsync) autoRoute(s Spec) string {
	if isEmbedJobModel(s.Model) && s.Dimensions == 0 {
		return AsyncEmbedJobs
	}
	if strings.HasPrefix(s.Model, "embed-v4") && s.BatchModelName() != "" {
		return AsyncBatches
	}
	return ""
}

// batchModel is the batch twin of embed-v4.
func (embedAsync) batchModel(s Spec) string {
	if strings.HasPrefix(s.Model, "embed-v4") {
		return "batch-embed-v4"
	}
	return ""
}

func (embedAsync) text(Spec) (func(input.Record) (string, error), error) {
	return func(r input.Record) (string, error) { return r.Text, nil }, nil
}

func (embedAsync) datasetType(route string) string {
	if route == AsyncBatches {
		return cohere.DatasetBatchEmbedV2Input
	}
	return cohere.DatasetEmbedInput
}

func (embedAsync) rowKind(*sinks.Chunk) {}

// datasetLine is one line of an embed-input dataset: the id comes back in
// the output through keep_fields.
type datasetLine struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// batchLine is one line of a batch-embed-v2-input dataset: custom_id is the
// record id, body a /v2/embed request of one text (the batch names the model).
type batchLine struct {
	CustomID string    `json:"custom_id"`
	Body     batchBody `json:"body"`
}

type batchBody struct {
	Texts           []string `json:"texts"`
	InputType       string   `json:"input_type"`
	EmbeddingTypes  []string `json:"embedding_types"`
	OutputDimension int      `json:"output_dimension,omitempty"`
	Truncate        string   `json:"truncate,omitempty"`
}

type embedLines struct {
	spec  Spec
	route string
	enc   *json.Encoder
}

func (embedAsync) lines(s Spec, route string, out io.Writer) (lineWriter, error) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	return &embedLines{spec: s, route: route, enc: enc}, nil
}

func (l *embedLines) write(it item) error {
	var line any = datasetLine{ID: it.rec.ID, Text: it.rec.Text}
	if l.route == AsyncBatches {
		s := l.spec
		line = batchLine{CustomID: it.rec.ID, Body: batchBody{
			Texts: []string{it.rec.Text}, InputType: s.InputType, EmbeddingTypes: s.EmbeddingTypes,
			OutputDimension: s.Dimensions, Truncate: s.Truncate,
		}}
	}
	return l.enc.Encode(line)
}

func (l *embedLines) flush() error { return nil }

// embedRow is a vector of the output, complete but for its record's id,
// metadata and content hash.
type embedRow sinks.Embedding

func (r *embedRow) join(c *pendingChunk, it item) {
	e := sinks.Embedding(*r)
	e.ID, e.Metadata, e.ContentSHA256 = it.rec.ID, it.rec.Meta, it.sha
	c.out.Rows = append(c.out.Rows, e)
}

func (embedAsync) readPart(ctx context.Context, api AsyncAPI, spec Spec, route, url string, accept func(string, asyncRow) error) error {
	fp, now := spec.Fingerprint(), time.Now().UTC()
	fill := func(e sinks.Embedding) *embedRow {
		e.Model, e.InputType, e.Fingerprint, e.EmbeddedAt = spec.Model, spec.InputType, fp, now
		r := embedRow(e)
		return &r
	}
	if route == AsyncBatches {
		return api.ReadBatchOutput(ctx, url, func(r cohere.BatchOutputRow) error {
			var resp cohere.EmbedResponse
			if err := json.Unmarshal(r.Body, &resp); err != nil {
				return fmt.Errorf("batch output %s: %w", r.CustomID, err)
			}
			vecs := make([]*sinks.Embedding, 1)
			if err := unpack(spec, &resp, vecs); err != nil {
				return nil // an unusable answer counts as missing
			}
			return accept(r.CustomID, fill(*vecs[0]))
		})
	}
	return api.ReadEmbedJobOutput(ctx, url, func(r cohere.EmbedJobRow) error {
		id, _ := r.Fields["id"].(string)
		row, ok := fromJobEmbedding(spec, r.Embeddings)
		if !ok {
			return nil
		}
		return accept(id, fill(row))
	})
}
