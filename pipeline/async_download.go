package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// pendingChunk is a chunk of a group being downloaded: its records, and the
// output rows received for them so far.
type pendingChunk struct {
	number int
	recs   chunkRecords
	want   int // records of the chunk that were sent
	got    int // of them, records with an output row
	// out holds the rows received so far, of the operation's kind;
	// unusable, why a received row cannot be written.
	out      sinks.Chunk
	unusable map[string]string
	flushed  bool
}

// HandleAsyncDownload streams every output part of a group row by row into
// the sink, chunk by chunk, with the same sinks.Chunk and CompleteChunk as
// the sync route. Rows are joined to records by id, never by position;
// repeated rows are dropped. A chunk is written as soon as all its records
// have arrived, so that memory holds about one chunk when the output comes
// in input order (Cohere does not promise an order: out of order, it holds
// what has not been written yet). Records the output lacks go the sync
// route, or are dead-lettered, as the job's fallback says.
func (w *Worker) HandleAsyncDownload(ctx context.Context, p AsyncPayload) error {
	st, ok, err := w.asyncGroup(ctx, p)
	if !ok {
		return err
	}
	if st.Phase != jobstore.PhaseDownload {
		return nil
	}
	return w.withJob(ctx, p.Job, func(spec Spec, sink Sink) error {
		return w.download(ctx, spec, sink, p, st)
	})
}

// download reads the group's output into the sink and records its chunks.
func (w *Worker) download(ctx context.Context, spec Spec, sink Sink, p AsyncPayload, st jobstore.GroupState) error {
	started := time.Now()
	chunks, byID, err := w.pendingChunks(ctx, spec, sink, p.Job, p.Group)
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return w.settle(ctx, p.Job, err)
	}
	accept := func(id string, row asyncRow) error {
		c, ok := byID[id]
		if !ok {
			return nil // a repeated row, or a record whose chunk is done
		}
		delete(byID, id)
		row.join(c.pendingChunk, c.recs.items[c.itemIndex(id)])
		c.got++
		if c.got == c.want {
			return w.flushChunk(ctx, spec, sink, st, c.pendingChunk)
		}
		return nil
	}
	if st.OutputID != "" {
		if err := w.readOutput(ctx, spec, st, accept); err != nil {
			if errors.Is(err, errStopped) {
				return nil
			}
			return w.asyncAPIError(ctx, spec, err)
		}
	}
	for _, c := range chunks {
		if c.flushed {
			continue
		}
		if err := w.flushChunk(ctx, spec, sink, st, c); err != nil {
			if errors.Is(err, errStopped) {
				return nil
			}
			return w.settle(ctx, p.Job, err)
		}
	}
	// Finalize is queued before the phase moves on: a delivery that
	// failed to queue it is retried while the group is still downloading.
	if err := finalizeIfDone(ctx, w.Store, w.Queue, p.Job); err != nil {
		return err
	}
	if err := w.Store.SetPhase(ctx, p.Job, p.Group, jobstore.PhaseDone); err != nil {
		return err
	}
	w.cleanup(ctx, spec, p.Group)
	w.log().Info("group downloaded", "job", p.Job, "group", p.Group, "chunks", len(chunks), "took", time.Since(started))
	return nil
}

// pendingChunks reads the group's chunks that are not done yet, as the
// upload did, and maps each record that was sent to its chunk. Texts are
// dropped once hashed (kept for -store-prompt): only ids, hashes and
// metadata stay in memory.
func (w *Worker) pendingChunks(ctx context.Context, spec Spec, sink Sink, job string, g int) ([]*pendingChunk, map[string]*chunkRef, error) {
	def, err := w.Store.Group(ctx, job, g)
	if err != nil {
		return nil, nil, err
	}
	var chunks []*pendingChunk
	byID := map[string]*chunkRef{}
	for i, r := range def.Ranges {
		n := def.First + i
		done, err := w.Store.ChunkDone(ctx, job, n)
		if err != nil {
			return nil, nil, err
		}
		recs, err := w.readChunk(ctx, spec, sink, n, r)
		if err != nil {
			return nil, nil, err
		}
		c := &pendingChunk{number: n, recs: recs, flushed: done, unusable: map[string]string{},
			out: sinks.Chunk{Job: job, Number: n, Kept: recs.kept, Failed: recs.failed}}
		spec.asyncOp().rowKind(&c.out)
		ref := &chunkRef{pendingChunk: c, index: map[string]int{}}
		for j := range recs.items {
			if !spec.StorePrompt {
				recs.items[j].rec.Text = ""
			}
			id := recs.items[j].rec.ID
			ref.index[id] = j
			if !done {
				byID[id] = ref
				c.want++
			}
		}
		chunks = append(chunks, c)
	}
	return chunks, byID, nil
}

// chunkRef points from a record id to its chunk.
type chunkRef struct {
	*pendingChunk
	index map[string]int
}

func (c *chunkRef) itemIndex(id string) int { return c.index[id] }

// readOutput streams the remote job's output parts and hands each row to
// accept, as the operation reads it.
func (w *Worker) readOutput(ctx context.Context, spec Spec, st jobstore.GroupState, accept func(string, asyncRow) error) error {
	d, err := paced(ctx, &w.Deps, endpointDatasets, w.Async.GetDataset, st.OutputID)
	if err != nil {
		return err
	}
	parts := slices.Clone(d.DatasetParts)
	slices.SortFunc(parts, func(a, b cohere.DatasetPart) int { return int(a.Index - b.Index) })
	for _, part := range parts {
		if w.stopped(ctx, spec.ID) {
			return errStopped
		}
		if err := spec.asyncOp().readPart(ctx, w.Async, spec, st.Route, part.URL, accept); err != nil {
			return fmt.Errorf("read part %d of %s: %w", part.Index, st.OutputID, err)
		}
	}
	return nil
}

// fromJobEmbedding takes the job's embedding types from an embed job row;
// false when one is absent.
func fromJobEmbedding(spec Spec, e cohere.Embedding) (sinks.Embedding, bool) {
	var out sinks.Embedding
	for _, t := range spec.EmbeddingTypes {
		switch t {
		case "float":
			out.Float = e.Float
		case "int8":
			out.Int8 = e.Int8
		case "uint8":
			out.Uint8 = e.Uint8
		case "binary":
			out.Binary = e.Binary
		case "ubinary":
			out.Binary = e.Ubinary
		}
	}
	ok := true
	for _, t := range spec.EmbeddingTypes {
		switch t {
		case "float":
			ok = ok && out.Float != nil
		case "int8":
			ok = ok && out.Int8 != nil
		case "uint8":
			ok = ok && out.Uint8 != nil
		default:
			ok = ok && out.Binary != nil
		}
	}
	return out, ok
}

// flushChunk writes a chunk to the sink. With every sent record back, it is
// recorded done like a sync chunk. Otherwise the missing records (and those
// whose row cannot be written) are dead-lettered (-async-fallback
// dead-letter), or what arrived is written and the chunk is handed to the
// sync route, which finds those records in the sink and runs only the rest.
func (w *Worker) flushChunk(ctx context.Context, spec Spec, sink Sink, st jobstore.GroupState, c *pendingChunk) error {
	c.flushed = true
	if w.stopped(ctx, spec.ID) {
		return errStopped
	}
	out := c.out
	written := recordsWritten(&out)
	got := make(map[string]bool, written)
	for _, r := range out.Rows {
		got[r.ID] = true
	}
	for _, r := range out.Chats {
		got[r.ID] = true
	}
	var missing []sinks.Failure
	for _, it := range c.recs.items {
		if got[it.rec.ID] {
			continue
		}
		reason := fmt.Sprintf("missing from the output of %s %s", RemoteKind(st.Route), st.RemoteID)
		if why, ok := c.unusable[it.rec.ID]; ok {
			reason = fmt.Sprintf("%s %s: %s", RemoteKind(st.Route), st.RemoteID, why)
		}
		missing = append(missing, failure(it.rec, reason))
	}
	fallback := len(missing) > 0 && spec.AsyncFallback == FallbackSync
	if len(missing) > 0 && !fallback {
		out.Failed = append(slices.Clone(out.Failed), missing...)
	}
	// As a chunk of the sync route does (chunk.go, pending.go): rows that a
	// delivery which died between this write and recording the chunk left in
	// the sink count as written when the next delivery finds them there.
	var rewritten int64
	if !fallback {
		var err error
		if rewritten, err = w.notePending(ctx, &out); err != nil {
			return err
		}
	}
	if !fallback || written > 0 {
		sinkStart := time.Now()
		if err := w.writeChunk(ctx, spec, sink, &out); err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		w.Metrics.sinkWrite(spec.ID, time.Since(sinkStart))
		w.countCut(ctx, spec.ID, st.Group, c.number, out.Chats)
	}
	c.out.Rows, c.out.Chats = nil, nil
	if fallback {
		def, err := w.Store.Group(ctx, spec.ID, st.Group)
		if err != nil {
			return err
		}
		w.log().Info("records missing from the remote output go the sync route", "job", spec.ID, "chunk", c.number, "missing", len(missing))
		return w.requeueChunk(ctx, spec.ID, c.number, def.Ranges[c.number-def.First], written)
	}
	r := jobstore.ChunkResult{Written: written, Skipped: int64(len(out.Kept)), Failed: int64(len(out.Failed))}.AsWritten(rewritten)
	recorded, _, err := w.Store.CompleteChunk(ctx, spec.ID, c.number, r, out.Failed)
	if err != nil || !recorded {
		return err
	}
	w.Metrics.records(spec.ID, r)
	return nil
}

// countCut counts the replies of a chunk written cut at -max-tokens, once
// per chunk however often its download runs.
func (w *Worker) countCut(ctx context.Context, job string, g, chunk int, chats []sinks.ChatResult) {
	var cut int64
	for _, c := range chats {
		if c.FinishReason == cohere.FinishMaxTokens {
			cut++
		}
	}
	if cut == 0 {
		return
	}
	_, _ = w.Store.AddStatsOnce(ctx, job, g, fmt.Sprintf("cut:%d", chunk), map[string]int64{jobstore.StatMaxTokens: cut})
}
