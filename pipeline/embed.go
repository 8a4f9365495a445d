package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/sinks"
)

// embedChunk is embed's Process: the chunk's records (or their passages,
// -split) the sink does not hold unchanged, embedded.
func embedChunk(ctx context.Context, d *Deps, c Chunk) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: c.Job, Number: c.Chunk}
	items, err := d.readItems(ctx, c, out)
	if err != nil {
		return nil, err
	}
	if c.Spec.splits() {
		items = splitItems(c.Spec.splitSpec(), items)
	}
	todo, err := skipUnchanged(ctx, c, items, out)
	if err != nil {
		return nil, err
	}
	if err := d.countTruncated(ctx, c.Spec, todo); err != nil {
		return nil, err
	}
	rows, failed, err := embedItems(ctx, d, c.Spec, newCheckpoint(d.Store, c.Spec, c.Chunk), todo)
	if err != nil {
		return nil, err
	}
	out.Rows, out.Failed = rows, append(out.Failed, failed...)
	return out, nil
}

// embedItems embeds items in calls of at most MaxBatch texts (callSize). A
// text that occurs several times in the chunk is paid for once; one whose
// vector an earlier delivery of the chunk checkpointed is not paid for again,
// and each call's vectors are checkpointed as it returns.
func embedItems(ctx context.Context, d *Deps, spec Spec, ck checkpoint, items []item) ([]sinks.Embedding, []sinks.Failure, error) {
	result, err := checkpointedCalls(ctx, d, ck, items, callSize(d.Limiter("embed").Current().Count), "embed",
		func(ctx context.Context, batch []item, vecs []*sinks.Embedding, reasons []string) error {
			return embedBatch(ctx, d, spec, batch, vecs, reasons)
		}, appendEmbedding, decodeEmbedding)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC()
	fp := spec.Fingerprint()
	rows, failed := outcomes(items, result, func(it item, row sinks.Embedding) sinks.Embedding {
		row.ID, row.Metadata = it.rec.ID, it.rec.Meta
		row.Model, row.InputType, row.Fingerprint = spec.Model, spec.InputType, fp
		row.ContentSHA256, row.EmbeddedAt = it.sha, now
		row.Passage = it.pass
		if spec.StoreText {
			row.Text = it.rec.Text
		}
		return row
	})
	return rows, failed, nil
}

// callSize is the number of texts per embed call under a limit of count
// texts per window: the largest size up to MaxBatch that cuts the window
// into equal calls. Calls of 96 fit 20 times into Cohere's 2,000 a minute and
// leave 80 texts of every window unused, 4 % of the key's ceiling; calls of
// 95 fit 21 times (1,995). Limits of 100 calls a window or more lose under
// 1 % either way and keep 96.
func callSize(count int) int {
	if count <= 0 || count >= 100*MaxBatch {
		return MaxBatch
	}
	calls := (count + MaxBatch - 1) / MaxBatch
	return count / calls
}

// embedBatch embeds one batch into vecs; the texts the API rejects get the
// API's verdict in reasons (splitRejected, outcome.go).
func embedBatch(ctx context.Context, d *Deps, spec Spec, batch []item, vecs []*sinks.Embedding, reasons []string) error {
	return d.splitRejected(ctx, spec.ID, len(batch), func(lo, hi int) error {
		texts := make([]string, hi-lo)
		for i, it := range batch[lo:hi] {
			texts[i] = it.rec.Text
		}
		resp, err := embedTexts(ctx, d, spec, texts)
		if err != nil {
			return err
		}
		return unpack(spec, resp, vecs[lo:hi])
	}, func(i int, v *cohere.APIError) { reasons[i] = rejectedReason(v) })
}

// unpack copies each requested embedding type of resp into vecs, checking
// that the API returned one vector per text.
func unpack(spec Spec, resp *cohere.EmbedResponse, vecs []*sinks.Embedding) error {
	e := resp.Embeddings
	for i := range vecs {
		vecs[i] = &sinks.Embedding{}
	}
	for _, t := range spec.EmbeddingTypes {
		var ok bool
		switch t {
		case "float":
			ok = spread(e.Float, vecs, func(v *sinks.Embedding, x []float32) { v.Float = x })
		case "int8":
			ok = spread(e.Int8, vecs, func(v *sinks.Embedding, x []int8) { v.Int8 = x })
		case "uint8":
			ok = spread(e.Uint8, vecs, func(v *sinks.Embedding, x []uint8) { v.Uint8 = x })
		case "binary":
			ok = spread(e.Binary, vecs, func(v *sinks.Embedding, x []byte) { v.Binary = x })
		case "ubinary":
			ok = spread(e.Ubinary, vecs, func(v *sinks.Embedding, x []byte) { v.Binary = x })
		}
		if !ok {
			return fmt.Errorf("embed response lacks %s embeddings for some of its %d texts", t, len(vecs))
		}
	}
	return nil
}

// spread gives vector i of got to vecs[i], if there is one vector per text.
func spread[T any](got []T, vecs []*sinks.Embedding, set func(*sinks.Embedding, T)) bool {
	if len(got) != len(vecs) {
		return false
	}
	for i, v := range got {
		set(vecs[i], v)
	}
	return true
}

// embedTexts makes one embed call through callAPI, the limiter counting texts.
func embedTexts(ctx context.Context, d *Deps, spec Spec, texts []string) (*cohere.EmbedResponse, error) {
	req := &cohere.EmbedRequest{
		Model:           spec.Model,
		InputType:       spec.InputType,
		Texts:           texts,
		EmbeddingTypes:  embeddingTypes(spec.EmbeddingTypes),
		OutputDimension: spec.Dimensions,
		Truncate:        spec.Truncate,
	}
	return callFor(ctx, d, spec.ID, "embed", len(texts), d.Embedder.Embed, req, func(r *cohere.EmbedResponse) map[string]int64 {
		return embedStats(r.Meta.BilledUnits.InputTokens, len(texts))
	})
}

// handlerRetries bounds the waits for a transient error inside a chunk before
// the chunk is handed back to the queue to retry.
const handlerRetries = 4

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func embeddingTypes(ts []string) []cohere.EmbeddingType {
	out := make([]cohere.EmbeddingType, len(ts))
	for i, t := range ts {
		out[i] = cohere.EmbeddingType(t)
	}
	return out
}
