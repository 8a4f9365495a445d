package pipeline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// chunkRecords is one chunk's records, sorted as the sync route sorts them:
// good records to embed, ids the sink holds unchanged, dead letters.
type chunkRecords struct {
	items  []item
	kept   []string
	failed []sinks.Failure
}

// readChunk reads a chunk's range as HandleEmbedChunk does: bad and
// duplicate records are dead-lettered, and unless -force the records the
// sink already holds unchanged are set aside as kept.
func (w *Worker) readChunk(ctx context.Context, spec Spec, sink Sink, chunk int, r input.Range) (chunkRecords, error) {
	var out chunkRecords
	text, err := spec.asyncOp().text(spec)
	if err != nil {
		return out, w.abort(ctx, spec.ID, err.Error())
	}
	seen := map[string]int64{}
	read := 0
	err = input.Read(ctx, r, spec.Input, func(rec input.Record) error {
		read++
		if rec.Err != nil {
			if spec.Strict {
				return w.strictAbort(ctx, spec.ID, rec.Err)
			}
			out.failed = append(out.failed, failure(rec, rec.Err.Error()))
			return nil
		}
		if line, dup := seen[rec.ID]; dup {
			out.failed = append(out.failed, failure(rec, fmt.Sprintf("duplicate id %q (first at line %d)", rec.ID, line)))
			return nil
		}
		seen[rec.ID] = rec.Line
		t, err := text(rec)
		if err != nil {
			out.failed = append(out.failed, failure(rec, err.Error()))
			return nil
		}
		rec.Text = t
		out.items = append(out.items, item{rec: rec, sha: sha256.Sum256([]byte(rec.Text))})
		return nil
	})
	if errors.Is(err, input.ErrCorrupt) && !spec.Strict {
		for n := read; n < r.Records; n++ {
			out.failed = append(out.failed, sinks.Failure{File: r.Name, Reason: fmt.Sprintf("record %d of chunk %d unreadable: %v", n+1, chunk, err)})
		}
	} else if err != nil {
		if errors.Is(err, input.ErrCorrupt) {
			return out, w.strictAbort(ctx, spec.ID, err)
		}
		return out, fmt.Errorf("read %s: %w", r.Path, err)
	}
	// An id another chunk of the job claimed is dead-lettered, as on the
	// sync route (pipeline/ids.go).
	items, dups, err := w.Store.keepClaimed(ctx, spec.ID, chunk, out.items)
	if err != nil {
		return out, err
	}
	out.items, out.failed = items, append(out.failed, dups...)
	if spec.Force || len(out.items) == 0 {
		return out, nil
	}
	fp := spec.Fingerprint()
	keys := make([]sinks.Key, len(out.items))
	for i, it := range out.items {
		keys[i] = sinks.Key{ID: it.rec.ID, ContentSHA256: it.sha, Fingerprint: fp}
	}
	have, err := sink.Lookup(ctx, spec.ID, chunk, keys)
	if err != nil {
		return out, fmt.Errorf("sink lookup: %w", err)
	}
	todo := out.items[:0:0]
	for _, it := range out.items {
		if have[it.rec.ID] {
			out.kept = append(out.kept, it.rec.ID)
		} else {
			todo = append(todo, it)
		}
	}
	out.items = todo
	return out, nil
}

// HandleAsyncUpload builds a group's dataset from its chunks' ranges and
// uploads it as a streamed multipart body: the file never exists whole, on
// disk or in memory. A group already past upload is handed on to its phase.
func (w *Worker) HandleAsyncUpload(ctx context.Context, t *asynq.Task) error {
	p, st, ok, err := w.asyncGroup(ctx, t)
	if !ok {
		return err
	}
	switch st.Phase {
	case PhaseUpload:
	case PhaseValidating, PhaseProcessing:
		return w.startPoll(ctx, p.Job, p.Group)
	case PhaseDownload:
		return w.enqueue(ctx, NewAsyncDownloadTask(p.Job, p.Group, w.queue()))
	default:
		return nil
	}
	spec, sink, release, err := w.job(ctx, p.Job)
	if err != nil {
		return w.settle(ctx, p.Job, err)
	}
	defer release()
	def, err := w.Store.group(ctx, p.Job, p.Group)
	if err != nil {
		return err
	}
	name := datasetName(spec, def)
	typ := spec.asyncOp().datasetType(st.Route)
	started := time.Now()
	pr, pw := io.Pipe()
	sent := make(chan sentCount, 1)
	go func() {
		n, err := w.writeDataset(ctx, spec, sink, def, st.Route, pw)
		sent <- n
		pw.CloseWithError(err)
	}()
	body := bufio.NewReaderSize(pr, 64<<10)
	_, peekErr := body.Peek(1)
	if peekErr != nil {
		pr.CloseWithError(peekErr)
		n := <-sent
		if !errors.Is(peekErr, io.EOF) {
			return w.uploadFailed(ctx, p.Job, peekErr)
		}
		// Nothing to send: every record is kept or failed. The download
		// phase records the chunks without a remote job.
		if err := w.Store.setPhase(ctx, p.Job, p.Group, PhaseDownload, "sent", n.records); err != nil {
			return err
		}
		return w.enqueue(ctx, NewAsyncDownloadTask(p.Job, p.Group, w.queue()))
	}
	// An earlier delivery, or a run whose job store was lost, may have
	// uploaded the dataset: if it exists, it is the group's. Looked up
	// only when there is something to send, so that a re-run with
	// nothing to do makes no call.
	if found, err := w.adoptDataset(ctx, spec, p.Group, name, typ); found || err != nil {
		if err != nil {
			pr.CloseWithError(errUploadDone)
			<-sent
			return err
		}
		// The group's budget bound is reckoned from its size (async_budget.go):
		// the stream is read to its end to count it, not cut off.
		_, cerr := io.Copy(io.Discard, body)
		n := <-sent
		if cerr != nil {
			return w.uploadFailed(ctx, p.Job, cerr)
		}
		return w.sentAndOn(ctx, p.Job, p.Group, n)
	}
	id, err := w.async().CreateDataset(ctx, cohere.DatasetCreateParams{Name: name, Type: typ, KeepFields: keepFields(st.Route)}, body, name+".jsonl")
	pr.CloseWithError(errUploadDone)
	n := <-sent
	if err != nil {
		if errors.Is(err, errStopped) {
			return nil
		}
		// The answer may be lost while the dataset was made: look again.
		if found, ferr := w.adoptDataset(ctx, spec, p.Group, name, typ); found || ferr != nil {
			if ferr != nil {
				return ferr
			}
			return w.sentAndOn(ctx, p.Job, p.Group, n)
		}
		return w.asyncAPIError(ctx, spec, err)
	}
	got, err := w.Store.setOnce(ctx, p.Job, p.Group, "dataset", id)
	if err != nil {
		return err
	}
	if got != id {
		// Another delivery recorded its dataset first: ours is surplus. It
		// held the same records; they are recorded here too, as that
		// delivery may have stopped before recording them.
		_ = w.async().DeleteDataset(ctx, id)
		return w.sentAndOn(ctx, p.Job, p.Group, n)
	}
	w.log().Info("dataset uploaded", "job", p.Job, "group", p.Group, "dataset", id, "records", n.records, "took", time.Since(started))
	return w.sentAndOn(ctx, p.Job, p.Group, n)
}

// sentAndOn records what a group's dataset holds, then moves the group on
// to validation: never before, since its budget reservation is reckoned
// from those counts (async_budget.go).
func (w *Worker) sentAndOn(ctx context.Context, job string, g int, n sentCount) error {
	if err := w.Store.recordSent(ctx, job, g, n); err != nil {
		return err
	}
	return w.afterUpload(ctx, job, g)
}

var errUploadDone = errors.New("upload finished")

func keepFields(route string) []string {
	if route == AsyncBatches {
		return nil
	}
	return []string{"id"}
}

// uploadFailed handles a failure to build the dataset (input unreadable, a
// -strict abort, the sink unreachable).
func (w *Worker) uploadFailed(ctx context.Context, job string, err error) error {
	return w.settle(ctx, job, err)
}

// afterUpload moves a group whose dataset is recorded on to validation.
func (w *Worker) afterUpload(ctx context.Context, job string, g int) error {
	if err := w.Store.setPhase(ctx, job, g, PhaseValidating); err != nil {
		return err
	}
	return w.startPoll(ctx, job, g)
}

// sentCount is what a group's dataset holds: its records and its bytes
// (the budget reckons the group's input tokens from them, budget.go).
type sentCount struct{ records, bytes int64 }

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// writeDataset streams the group's records to out as JSONL and returns how
// many it wrote. readChunk has already left out ids claimed by another chunk
// (ids.go), so each id is sent once.
func (w *Worker) writeDataset(ctx context.Context, spec Spec, sink Sink, def AsyncGroup, route string, out io.Writer) (sentCount, error) {
	bw := bufio.NewWriterSize(out, 256<<10)
	cw := &countWriter{w: bw}
	lines, err := spec.asyncOp().lines(spec, route, cw)
	if err != nil {
		return sentCount{}, err
	}
	var n int64
	for i, r := range def.Ranges {
		recs, err := w.readChunk(ctx, spec, sink, def.First+i, r)
		if err != nil {
			return sentCount{n, cw.n}, err
		}
		for _, it := range recs.items {
			if err := lines.write(it); err != nil {
				return sentCount{n, cw.n}, err
			}
			n++
		}
	}
	if err := lines.flush(); err != nil {
		return sentCount{n, cw.n}, err
	}
	return sentCount{n, cw.n}, bw.Flush()
}

// adoptDataset looks up a group's dataset by name; when it exists, it is
// recorded as the group's (found). The caller records its size and moves
// the group on (sentAndOn).
func (w *Worker) adoptDataset(ctx context.Context, spec Spec, g int, name, typ string) (found bool, err error) {
	d, err := w.async().FindDataset(ctx, name, typ)
	if err != nil {
		return false, w.asyncAPIError(ctx, spec, err)
	}
	if d == nil {
		return false, nil
	}
	got, err := w.Store.setOnce(ctx, spec.ID, g, "dataset", d.ID)
	if err != nil {
		return false, err
	}
	w.log().Info("dataset found by name", "job", spec.ID, "group", g, "dataset", got)
	return true, nil
}

// asyncAPIError decides what an API error in the async route does: a fatal
// one (key, billing, monthly cap) or a rejected request aborts the job with
// the API's message; others are retried by the queue.
func (w *Worker) asyncAPIError(ctx context.Context, spec Spec, err error) error {
	var apiErr *cohere.APIError
	rejected := errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && !cohere.IsRetryable(err)
	if fatal(err) || rejected {
		if aerr := w.abort(ctx, spec.ID, err.Error()); !errors.Is(aerr, errStopped) {
			return errors.Join(err, aerr)
		}
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	return w.settle(ctx, spec.ID, err)
}
