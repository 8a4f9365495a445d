package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/sinks"
)

// Classifier calls Cohere's classify endpoint (cohere.Client satisfies it).
type Classifier interface {
	Classify(ctx context.Context, req *cohere.ClassifyRequest) (*cohere.ClassifyResponse, error)
}

func (w *Worker) classifier() (Classifier, error) {
	if w.Classifier != nil {
		return w.Classifier, nil
	}
	if c, ok := w.Embedder.(Classifier); ok {
		return c, nil
	}
	return nil, errors.New("worker has no classify client")
}

// jobExamples returns a classify job's examples, read from Redis once per
// job and process.
func (w *Worker) jobExamples(ctx context.Context, spec Spec) ([]cohere.ClassifyExample, error) {
	if spec.ExamplesSHA256 == "" {
		return nil, nil
	}
	if ex, ok := w.examples.Load(spec.ID); ok {
		return ex.([]cohere.ClassifyExample), nil
	}
	ex, err := w.Store.Examples(ctx, spec.ID)
	if err != nil {
		return nil, err
	}
	if len(ex) == 0 || examplesHash(ex) != spec.ExamplesSHA256 {
		// No retry can bring them back: stop the job with a reason.
		return nil, w.abort(ctx, spec.ID, "the job's classify examples are missing from Redis or changed; run enqueue again to store them")
	}
	w.examples.Store(spec.ID, ex)
	return ex, nil
}

// classifyChunk classifies one chunk as embedChunk embeds one: unchanged
// records are kept, each distinct text is paid for once, and a batch the
// API rejects is halved until the offending inputs are isolated.
func (w *Worker) classifyChunk(ctx context.Context, spec Spec, sink Sink, p ChunkPayload) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: p.Job, Number: p.Chunk, Classifications: []sinks.Classification{}}
	items, err := w.readItems(ctx, spec, p, out)
	if err != nil {
		return nil, err
	}
	todo, err := skipUnchanged(ctx, spec, sink, p, items, out)
	if err != nil {
		return nil, err
	}
	if len(todo) == 0 {
		return out, nil
	}
	client, err := w.classifier()
	if err != nil {
		return nil, err
	}
	examples, err := w.jobExamples(ctx, spec)
	if err != nil {
		return nil, err
	}
	// As for embed (embedItems): the verdicts of calls an earlier delivery
	// made are not paid for again, and each call's are checkpointed.
	cb := classifyBatcher{w: w, spec: spec, client: client, examples: examples}
	result, err := checkpointedCalls(ctx, w, newCheckpoint(w.Store, spec, p.Chunk), todo, MaxBatch, nil,
		func(ctx context.Context, batch []item, verdicts []*cohere.Classification, reasons []string) error {
			return cb.batch(ctx, batch, verdicts, reasons)
		}, encodeVerdict, decodeVerdict)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	fp := spec.Fingerprint()
	for _, it := range todo {
		v, reason := result(it)
		if v == nil {
			out.Failed = append(out.Failed, failure(it.rec, reason))
			continue
		}
		labels := make(map[string]float32, len(v.Labels))
		for l, c := range v.Labels {
			labels[l] = float32(c.Confidence)
		}
		out.Classifications = append(out.Classifications, sinks.Classification{
			ID: it.rec.ID, Label: v.Prediction, Confidence: new(float32(v.Confidence)), Labels: labels,
			Model: spec.Model, Fingerprint: fp, ContentSHA256: it.sha, Metadata: it.rec.Meta, ClassifiedAt: now, Route: ViaClassify,
		})
	}
	return out, nil
}

type classifyBatcher struct {
	w        *Worker
	spec     Spec
	client   Classifier
	examples []cohere.ClassifyExample
}

// batch classifies one batch into verdicts; rejected inputs get a reason
// (splitRejected, outcome.go).
func (b classifyBatcher) batch(ctx context.Context, batch []item, verdicts []*cohere.Classification, reasons []string) error {
	return b.w.splitRejected(ctx, b.spec.ID, len(batch), func(lo, hi int) error {
		return b.send(ctx, batch[lo:hi], verdicts[lo:hi])
	}, func(i int, v *cohere.APIError) { reasons[i] = rejectedReason(v) })
}

// send makes one classify call for batch.
func (b classifyBatcher) send(ctx context.Context, batch []item, verdicts []*cohere.Classification) error {
	req := &cohere.ClassifyRequest{Model: b.spec.Model, Examples: b.examples, Truncate: b.spec.Truncate, Inputs: make([]string, len(batch))}
	for i, it := range batch {
		req.Inputs[i] = it.rec.Text
	}
	var resp *cohere.ClassifyResponse
	err := b.w.callAPI(ctx, b.spec.ID, "classify", 1, func(ctx context.Context) (map[string]int64, error) {
		r, err := b.client.Classify(ctx, req)
		if err != nil {
			return nil, err
		}
		resp = r
		return map[string]int64{StatTokens: int64(r.Meta.BilledUnits.InputTokens), StatEmbedded: int64(len(batch))}, nil
	})
	if err != nil {
		return err
	}
	if len(resp.Classifications) != len(batch) {
		return fmt.Errorf("classify response has %d classifications for %d inputs", len(resp.Classifications), len(batch))
	}
	for i := range resp.Classifications {
		verdicts[i] = &resp.Classifications[i]
	}
	return nil
}

// recordsWritten is the number of records a chunk wrote: rows for embed and
// classify, queries for rerank (a query is one record, however many
// documents its ranking holds).
func recordsWritten(c *sinks.Chunk) int64 {
	n := len(c.Rows) + len(c.Classifications) + len(c.Chats) + len(c.Declared)
	for i, r := range c.Reranks {
		if i == 0 || r.QueryID != c.Reranks[i-1].QueryID {
			n++
		}
	}
	return int64(n)
}
