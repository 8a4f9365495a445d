package pipeline

// A chunk's way through a worker, whatever its operation: this file holds
// its lifecycle and the reading of its records; the operation's own steps
// are in its files (embed.go, classify.go, rerank.go, chat.go).

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// item is one record on its way through a chunk.
type item struct {
	rec  input.Record
	sha  [32]byte
	pass sinks.Passage // where a passage comes from (-split); zero for a whole record
}

// HandleChunk runs one chunk of any operation: unless the chunk is already
// recorded or its job stopped, the job's operation processes it (Op.Process:
// read the records, skip those the sink holds unchanged, call the API for
// the rest), its rows go to the sink in one idempotent write, and its counts
// are recorded once; the last chunk finalizes the job.
func (w *Worker) HandleChunk(ctx context.Context, p ChunkPayload) error {
	cj, err := w.Store.ChunkJob(ctx, p.Job, p.Chunk)
	switch {
	case err != nil:
		return err
	case cj.Done:
		// A delivery that recorded the chunk may have failed to queue the
		// finalize task it was the last to need.
		return finalizeIfDone(ctx, w.Store, w.Queue, p.Job)
	case cj.Stopped:
		w.jobEnded(p.Job)
		return nil
	}
	spec, sink, release, err := w.hold(ctx, p.Job, cj.Spec, cj.SpecErr)
	if err != nil {
		return w.settle(ctx, p.Job, err)
	}
	defer release()
	return w.runChunk(ctx, spec, sink, p)
}

// runChunk processes a chunk with the job's operation and records it.
func (w *Worker) runChunk(ctx context.Context, spec Spec, sink Sink, p ChunkPayload) error {
	log := w.log().With("job", p.Job, "chunk", p.Chunk)
	started := time.Now()
	op, err := LookupOp(spec.Op)
	if err != nil {
		return w.settle(ctx, p.Job, w.abort(ctx, p.Job, err.Error()))
	}
	res, err := op.Process(ctx, &w.Deps, Chunk{ChunkPayload: p, Spec: spec, Sink: sink})
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
	r := jobstore.ChunkResult{Written: recordsWritten(res), Skipped: int64(len(res.Kept)), Failed: int64(len(res.Failed))}.AsWritten(p.Prewritten + rewritten)
	if spec.splits() {
		r = docCounts(res) // records are documents; the rows are their passages
	}
	recorded, finalize, err := w.Store.CompleteChunk(ctx, p.Job, p.Chunk, r, res.Failed)
	if err != nil {
		return err
	}
	if !recorded {
		return nil // another delivery of this chunk recorded it first
	}
	w.Metrics.records(p.Job, r)
	log.Debug("chunk done", "written", r.Written, "skipped", r.Skipped, "failed", r.Failed, "took", time.Since(started))
	if finalize {
		return w.Queue.EnqueueFinalize(ctx, p.Job)
	}
	return nil
}

// readItems reads a chunk's records. Bad records and duplicate ids go to
// out.Failed; the good ones come back with their content hash.
func (d *Deps) readItems(ctx context.Context, c Chunk, out *sinks.Chunk) ([]item, error) {
	return d.readTexts(ctx, c, out, nil)
}

// readTexts is readItems with, when text is set, the text each record is
// sent with (the async route's, async_op.go) in place of its own: a record
// text refuses is dead-lettered with text's error.
func (d *Deps) readTexts(ctx context.Context, c Chunk, out *sinks.Chunk, text func(input.Record) (string, error)) ([]item, error) {
	spec, p := c.Spec, c.ChunkPayload
	// Sized for the range's records (Range.Records, exact) at once, as
	// distinct sizes its slice and map.
	n := max(p.Range.Records, 0)
	items := make([]item, 0, n)
	seen := make(map[string]int64, n)
	read := 0
	err := input.Read(ctx, p.Range, spec.Input, func(r input.Record) error {
		read++
		if r.Err != nil {
			if spec.Strict {
				return d.strictAbort(ctx, spec.ID, r.Err)
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
			return nil, d.strictAbort(ctx, spec.ID, err)
		}
		return nil, fmt.Errorf("read %s: %w", p.Range.Path, err)
	}
	return d.dropClaimedIDs(ctx, p, items, out)
}

// skipUnchanged moves the items the sink already holds with the same text
// and fingerprint to out.Kept (unless -force) and returns the rest.
func skipUnchanged(ctx context.Context, c Chunk, items []item, out *sinks.Chunk) ([]item, error) {
	spec := c.Spec
	if spec.Force || len(items) == 0 {
		return items, nil
	}
	fp := spec.Fingerprint()
	keys := make([]sinks.Key, len(items))
	for i, it := range items {
		keys[i] = sinks.Key{ID: it.rec.ID, ContentSHA256: it.sha, Fingerprint: fp}
	}
	have, err := c.Sink.Lookup(ctx, c.Job, c.Chunk, keys)
	if err != nil {
		return nil, fmt.Errorf("sink lookup: %w", err)
	}
	todo := make([]item, 0, len(items))
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
// Both are sized for the items at once: a chunk's items are hundreds of
// bytes each, and growing the slice and map to fit would make garbage of
// them several times over.
func distinct(items []item) ([]item, map[[32]byte]int) {
	uniq := make([]item, 0, len(items))
	first := make(map[[32]byte]int, len(items))
	for _, it := range items {
		if _, ok := first[it.sha]; !ok {
			first[it.sha] = len(uniq)
			uniq = append(uniq, it)
		}
	}
	return uniq, first
}
