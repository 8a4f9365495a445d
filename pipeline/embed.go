package pipeline

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// item is one record on its way through a chunk.
type item struct {
	rec  input.Record
	sha  [32]byte
	pass sinks.Passage // where a passage comes from (-split); zero for a whole record
}

// HandleEmbedChunk embeds one chunk: it reads the chunk's records, skips those
// the sink already holds unchanged, embeds the rest in calls of at most 96
// texts paced by the shared limiter, writes the results in one idempotent
// sink write and records the chunk's counts once. Other operations than
// embed process the chunk their own way (Op.Process).
func (w *Worker) HandleEmbedChunk(ctx context.Context, p ChunkPayload) error {
	if done, err := w.Store.ChunkDone(ctx, p.Job, p.Chunk); err != nil {
		return err
	} else if done {
		return nil
	} else if w.stopped(ctx, p.Job) {
		w.jobEnded(p.Job)
		return nil
	}
	return w.withJob(ctx, p.Job, func(spec Spec, sink Sink) error {
		return w.runChunk(ctx, spec, sink, p)
	})
}

// runChunk processes a chunk with the job's operation and records it.
func (w *Worker) runChunk(ctx context.Context, spec Spec, sink Sink, p ChunkPayload) error {
	log := w.log().With("job", p.Job, "chunk", p.Chunk)
	started := time.Now()
	op, err := LookupOp(spec.Op)
	if err != nil {
		return w.settle(ctx, p.Job, w.abort(ctx, p.Job, err.Error()))
	}
	res, err := op.Process(ctx, w, spec, sink, p)
	if err != nil {
		if !errors.Is(err, errStopped) {
			log.Warn("chunk failed", "err", err)
		}
		return w.settle(ctx, p.Job, err)
	}
	rewritten, err := w.notePending(ctx, res)
	if err != nil {
		return err
	}
	sinkStart := time.Now()
	if err := w.writeChunk(ctx, spec, sink, res); err != nil {
		log.Warn("sink write failed", "err", err)
		return w.settle(ctx, p.Job, fmt.Errorf("sink: %w", err))
	}
	w.Metrics.sinkWrite(p.Job, time.Since(sinkStart))
	r := ChunkResult{Written: recordsWritten(res), Skipped: int64(len(res.Kept)), Failed: int64(len(res.Failed))}
	pre := min(p.Prewritten+rewritten, r.Skipped)
	r.Written, r.Skipped = r.Written+pre, r.Skipped-pre
	if spec.splits() {
		r = docCounts(res) // records are documents; the rows are their passages
	}
	n, err := w.Store.CompleteChunk(ctx, p.Job, p.Chunk, r, res.Failed)
	if err != nil {
		return err
	}
	// The rows are in the sink: a later delivery finds them there, so the
	// calls' checkpointed results (checkpoint.go) are no longer needed; the
	// key's TTL covers a failed delete.
	_ = w.Store.DropCallResults(ctx, p.Job, p.Chunk)
	if n < 0 {
		return nil // another delivery of this chunk recorded it first
	}
	w.Metrics.records(p.Job, r)
	log.Debug("chunk done", "written", r.Written, "skipped", r.Skipped, "failed", r.Failed, "took", time.Since(started))
	return w.maybeFinalize(ctx, p.Job, n)
}

func (w *Worker) embedChunk(ctx context.Context, spec Spec, sink Sink, p ChunkPayload) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: p.Job, Number: p.Chunk}
	items, err := w.readItems(ctx, spec, p, out)
	if err != nil {
		return nil, err
	}
	if spec.splits() {
		items = splitItems(spec.splitSpec(), items)
	}
	todo, err := skipUnchanged(ctx, spec, sink, p, items, out)
	if err != nil {
		return nil, err
	}
	if err := w.countTruncated(ctx, spec, todo); err != nil {
		return nil, err
	}
	rows, failed, err := w.embedItems(ctx, spec, newCheckpoint(w.Store, spec, p.Chunk), todo)
	if err != nil {
		return nil, err
	}
	out.Rows, out.Failed = rows, append(out.Failed, failed...)
	return out, nil
}

// readItems reads a chunk's records. Bad records and duplicate ids go to
// out.Failed; the good ones come back with their content hash.
func (w *Worker) readItems(ctx context.Context, spec Spec, p ChunkPayload, out *sinks.Chunk) ([]item, error) {
	return w.readTexts(ctx, spec, p, out, nil)
}

// readTexts is readItems with, when text is set, the text each record is
// sent with (the async route's, async_op.go) in place of its own: a record
// text refuses is dead-lettered with text's error.
func (w *Worker) readTexts(ctx context.Context, spec Spec, p ChunkPayload, out *sinks.Chunk, text func(input.Record) (string, error)) ([]item, error) {
	var items []item
	seen := map[string]int64{}
	read := 0
	err := input.Read(ctx, p.Range, spec.Input, func(r input.Record) error {
		read++
		if r.Err != nil {
			if spec.Strict {
				return w.strictAbort(ctx, spec.ID, r.Err)
			}
			out.Failed = append(out.Failed, failure(r, r.Err.Error()))
			return nil
		}
		if line, dup := seen[r.ID]; dup {
			out.Failed = append(out.Failed, failure(r, fmt.Sprintf("duplicate id %q (first at line %d)", r.ID, line)))
			return nil
		}
		seen[r.ID] = r.Line
		if text != nil {
			t, err := text(r)
			if err != nil {
				out.Failed = append(out.Failed, failure(r, err.Error()))
				return nil
			}
			r.Text = t
		}
		items = append(items, item{rec: r, sha: sha256.Sum256([]byte(r.Text))})
		return nil
	})
	if errors.Is(err, input.ErrCorrupt) && !spec.Strict {
		// The file is damaged (or changed since it was planned): retrying
		// cannot help. The records it no longer yields are dead-lettered.
		for n := read; n < p.Range.Records; n++ {
			out.Failed = append(out.Failed, sinks.Failure{File: p.Range.Name, Reason: fmt.Sprintf("record %d of chunk %d unreadable: %v", n+1, p.Chunk, err)})
		}
	} else if err != nil {
		if errors.Is(err, input.ErrCorrupt) {
			return nil, w.strictAbort(ctx, spec.ID, err)
		}
		return nil, fmt.Errorf("read %s: %w", p.Range.Path, err)
	}
	return w.dropClaimedIDs(ctx, p, items, out)
}

// skipUnchanged moves the items the sink already holds with the same text
// and fingerprint to out.Kept (unless -force) and returns the rest.
func skipUnchanged(ctx context.Context, spec Spec, sink Sink, p ChunkPayload, items []item, out *sinks.Chunk) ([]item, error) {
	if spec.Force || len(items) == 0 {
		return items, nil
	}
	fp := spec.Fingerprint()
	keys := make([]sinks.Key, len(items))
	for i, it := range items {
		keys[i] = sinks.Key{ID: it.rec.ID, ContentSHA256: it.sha, Fingerprint: fp}
	}
	have, err := sink.Lookup(ctx, p.Job, p.Chunk, keys)
	if err != nil {
		return nil, fmt.Errorf("sink lookup: %w", err)
	}
	var todo []item
	for _, it := range items {
		if have[it.rec.ID] {
			out.Kept = append(out.Kept, it.rec.ID)
		} else {
			todo = append(todo, it)
		}
	}
	return todo, nil
}

func failure(r input.Record, reason string) sinks.Failure {
	return sinks.Failure{File: r.File, Line: r.Line, ID: r.ID, Reason: reason}
}

// distinct returns the items with distinct texts, in order, and for each
// text's hash its index among them: a text repeated in a chunk is paid once.
func distinct(items []item) ([]item, map[[32]byte]int) {
	var uniq []item
	first := map[[32]byte]int{}
	for _, it := range items {
		if _, ok := first[it.sha]; !ok {
			first[it.sha] = len(uniq)
			uniq = append(uniq, it)
		}
	}
	return uniq, first
}

// embedItems embeds items in calls of at most MaxBatch texts (callSize). A
// text that occurs several times in the chunk is paid for once; one whose
// vector an earlier delivery of the chunk checkpointed is not paid for again,
// and each call's vectors are checkpointed as it returns.
func (w *Worker) embedItems(ctx context.Context, spec Spec, ck checkpoint, items []item) ([]sinks.Embedding, []sinks.Failure, error) {
	lim := w.Limiter("embed")
	result, err := checkpointedCalls(ctx, w, ck, items, callSize(lim.Current().Count), lim,
		func(ctx context.Context, batch []item, vecs []*sinks.Embedding, reasons []string) error {
			return w.embedBatch(ctx, spec, batch, vecs, reasons)
		}, encodeEmbedding, decodeEmbedding)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC()
	fp := spec.Fingerprint()
	var rows []sinks.Embedding
	var failed []sinks.Failure
	for _, it := range items {
		v, reason := result(it)
		if v == nil {
			failed = append(failed, failure(it.rec, reason))
			continue
		}
		row := *v
		row.ID, row.Metadata = it.rec.ID, it.rec.Meta
		row.Model, row.InputType, row.Fingerprint = spec.Model, spec.InputType, fp
		row.ContentSHA256, row.EmbeddedAt = it.sha, now
		row.Passage = it.pass
		if spec.StoreText {
			row.Text = it.rec.Text
		}
		rows = append(rows, row)
	}
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
func (w *Worker) embedBatch(ctx context.Context, spec Spec, batch []item, vecs []*sinks.Embedding, reasons []string) error {
	return w.splitRejected(ctx, spec.ID, len(batch), func(lo, hi int) error {
		texts := make([]string, hi-lo)
		for i, it := range batch[lo:hi] {
			texts[i] = it.rec.Text
		}
		resp, err := w.call(ctx, spec, texts)
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

// call makes one embed call through callAPI, the limiter counting texts.
func (w *Worker) call(ctx context.Context, spec Spec, texts []string) (*cohere.EmbedResponse, error) {
	req := &cohere.EmbedRequest{
		Model:           spec.Model,
		InputType:       spec.InputType,
		Texts:           texts,
		EmbeddingTypes:  embeddingTypes(spec.EmbeddingTypes),
		OutputDimension: spec.Dimensions,
		Truncate:        spec.Truncate,
	}
	var resp *cohere.EmbedResponse
	err := w.callAPI(ctx, spec.ID, "embed", len(texts), func(ctx context.Context) (map[string]int64, error) {
		r, err := w.Embedder.Embed(ctx, req)
		if err != nil {
			return nil, err
		}
		resp = r
		return map[string]int64{StatTokens: int64(r.Meta.BilledUnits.InputTokens), StatEmbedded: int64(len(texts))}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
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
