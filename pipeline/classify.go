package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/sinks"
)

// Classifier calls Cohere's classify endpoint (cohere.Client satisfies it).
type Classifier interface {
	Classify(ctx context.Context, req *cohere.ClassifyRequest) (*cohere.ClassifyResponse, error)
}

// opClient is the worker's client of an operation: its own when set, else
// the Embedder when that serves the operation too (cohere.Client does).
func opClient[C any](own C, d *Deps, op string) (C, error) {
	if any(own) != nil {
		return own, nil
	}
	if c, ok := d.Embedder.(C); ok {
		return c, nil
	}
	var none C
	return none, fmt.Errorf("worker has no %s client", op)
}

// jobExamples returns a classify job's examples, read from Redis once per
// job and process.
func (d *Deps) jobExamples(ctx context.Context, spec Spec) ([]cohere.ClassifyExample, error) {
	if spec.ExamplesSHA256 == "" {
		return nil, nil
	}
	if ex, ok := d.examples.Load(spec.ID); ok {
		return ex.([]cohere.ClassifyExample), nil
	}
	ex, err := d.Store.Examples(ctx, spec.ID)
	if err != nil {
		return nil, err
	}
	if len(ex) == 0 || jsonSHA256(ex) != spec.ExamplesSHA256 {
		// No retry can bring them back: stop the job with a reason.
		return nil, d.abort(ctx, spec.ID, "the job's classify examples are missing from Redis or changed; run enqueue again to store them")
	}
	d.examples.Store(spec.ID, ex)
	return ex, nil
}

// classifyChunk labels one chunk on the job's route (-via): records the
// sink holds unchanged are kept, the others labelled.
func classifyChunk(ctx context.Context, d *Deps, c Chunk) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: c.Job, Number: c.Chunk, Classifications: []sinks.Classification{}}
	items, err := d.readItems(ctx, c, out)
	if err != nil {
		return nil, err
	}
	todo, err := skipUnchanged(ctx, c, items, out)
	if err != nil || len(todo) == 0 {
		return out, err
	}
	var verdict func(item) (*sinks.Classification, string)
	switch c.Spec.Via {
	case ViaEmbed:
		verdict, err = classifyViaEmbed(ctx, d, c.Spec, c.ChunkPayload, todo)
	case ViaChat:
		verdict, err = classifyViaChat(ctx, d, c.Spec, todo)
	default:
		verdict, err = classifyViaClassify(ctx, d, c.Spec, c.ChunkPayload, todo)
	}
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	model, fp := c.Spec.Model, c.Spec.Fingerprint()
	rows, failed := outcomes(todo, verdict, func(it item, row sinks.Classification) sinks.Classification {
		row.ID, row.ContentSHA256, row.Metadata = it.rec.ID, it.sha, it.rec.Meta
		row.Model, row.Fingerprint, row.ClassifiedAt = model, fp, now
		return row
	})
	out.Classifications, out.Failed = append(out.Classifications, rows...), append(out.Failed, failed...)
	return out, nil
}

// classifyViaClassify labels records with /v1/classify as embedChunk
// embeds them: each distinct text is paid for once, and a batch the API
// rejects is halved until the offending inputs are isolated. Each verdict
// holds the route's fields of a row; nil, a rejected text's reason.
func classifyViaClassify(ctx context.Context, d *Deps, spec Spec, p ChunkPayload, todo []item) (verdict func(item) (*sinks.Classification, string), err error) {
	cb := classifyBatcher{d: d, spec: spec}
	if cb.client, err = opClient(d.Classifier, d, "classify"); err != nil {
		return nil, err
	}
	if cb.examples, err = d.jobExamples(ctx, spec); err != nil {
		return nil, err
	}
	// As for embed (embedItems): the verdicts of calls an earlier delivery
	// made are not paid for again, and each call's are checkpointed.
	result, err := checkpointedCalls(ctx, d, newCheckpoint(d.Store, spec, p.Chunk), todo, MaxBatch, "",
		func(ctx context.Context, batch []item, verdicts []*cohere.Classification, reasons []string) error {
			return cb.batch(ctx, batch, verdicts, reasons)
		}, appendVerdict, decodeVerdict)
	if err != nil {
		return nil, err
	}
	return func(it item) (*sinks.Classification, string) {
		v, reason := result(it)
		if v == nil {
			return nil, reason
		}
		labels := make(map[string]float32, len(v.Labels))
		for l, c := range v.Labels {
			labels[l] = float32(c.Confidence)
		}
		return &sinks.Classification{Label: v.Prediction, Confidence: new(float32(v.Confidence)), Labels: labels, Route: ViaClassify}, ""
	}, nil
}

type classifyBatcher struct {
	d        *Deps
	spec     Spec
	client   Classifier
	examples []cohere.ClassifyExample
}

// batch classifies one batch into verdicts; rejected inputs get a reason
// (splitRejected, outcome.go).
func (b classifyBatcher) batch(ctx context.Context, batch []item, verdicts []*cohere.Classification, reasons []string) error {
	return b.d.splitRejected(ctx, b.spec.ID, len(batch), func(lo, hi int) error {
		return b.send(ctx, batch[lo:hi], verdicts[lo:hi])
	}, func(i int, v *cohere.APIError) { reasons[i] = rejectedReason(v) })
}

// send makes one classify call for batch.
func (b classifyBatcher) send(ctx context.Context, batch []item, verdicts []*cohere.Classification) error {
	req := &cohere.ClassifyRequest{Model: b.spec.Model, Examples: b.examples, Truncate: b.spec.Truncate, Inputs: make([]string, len(batch))}
	for i, it := range batch {
		req.Inputs[i] = it.rec.Text
	}
	resp, err := callFor(ctx, b.d, b.spec.ID, "classify", 1, b.client.Classify, req, func(r *cohere.ClassifyResponse) map[string]int64 {
		return embedStats(r.Meta.BilledUnits.InputTokens, len(batch))
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
