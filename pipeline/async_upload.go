package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// chunkRecords is one chunk's records, sorted as the sync route sorts them:
// good records to embed, ids the sink holds unchanged, dead letters.
type chunkRecords struct {
	items  []item
	kept   []string
	failed []sinks.Failure
}

// readChunk reads a chunk's range as the sync route does (readItems,
// skipUnchanged), each record with the text the async route sends: bad and
// duplicate records are dead-lettered, and unless -force the records the
// sink already holds unchanged are set aside as kept.
func (w *Worker) readChunk(ctx context.Context, spec Spec, sink Sink, chunk int, r input.Range) (chunkRecords, error) {
	text, err := spec.asyncOp().text(spec)
	if err != nil {
		return chunkRecords{}, w.abort(ctx, spec.ID, err.Error())
	}
	p := ChunkPayload{Job: spec.ID, Chunk: chunk, Range: r}
	var out sinks.Chunk
	c := Chunk{ChunkPayload: p, Spec: spec, Sink: sink}
	items, err := w.readTexts(ctx, c, &out, text)
	if err == nil {
		items, err = skipUnchanged(ctx, c, items, &out)
	}
	return chunkRecords{items: items, kept: out.Kept, failed: out.Failed}, err
}

// HandleAsyncUpload builds a group's dataset from its chunks' ranges and
// uploads it as a streamed multipart body: the file never exists whole, on
// disk or in memory. A group already past upload is handed on to its phase.
func (w *Worker) HandleAsyncUpload(ctx context.Context, p AsyncPayload) error {
	st, ok, err := w.asyncGroup(ctx, p)
	if !ok {
		return err
	}
	switch st.Phase {
	case jobstore.PhaseUpload:
	case jobstore.PhaseValidating, jobstore.PhaseProcessing:
		return w.startPoll(ctx, p.Job, p.Group)
	case jobstore.PhaseDownload:
		return w.Queue.EnqueueDownload(ctx, p.Job, p.Group)
	default:
		return nil
	}
	return w.withJob(ctx, p.Job, func(spec Spec, sink Sink) error {
		return w.upload(ctx, spec, sink, p, st)
	})
}

// upload builds and uploads the group's dataset, then moves the group on.
func (w *Worker) upload(ctx context.Context, spec Spec, sink Sink, p AsyncPayload, st jobstore.GroupState) error {
	def, err := w.Store.Group(ctx, p.Job, p.Group)
	if err != nil {
		return err
	}
	name := datasetName(spec, def)
	typ := spec.asyncOp().datasetType(st.Route)
	started := time.Now()
	pr, pw := io.Pipe()
	sent := make(chan jobstore.SentCount, 1)
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
		if err := w.Store.SetPhase(ctx, p.Job, p.Group, jobstore.PhaseDownload, "sent", n.Records); err != nil {
			return err
		}
		return w.Queue.EnqueueDownload(ctx, p.Job, p.Group)
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
	id, err := w.createDataset(ctx, cohere.DatasetCreateParams{Name: name, Type: typ, KeepFields: keepFields(st.Route)}, body, name+".jsonl")
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
	got, err := w.Store.SetOnce(ctx, p.Job, p.Group, "dataset", id)
	if err != nil {
		return err
	}
	if got != id {
		// Another delivery recorded its dataset first: ours is surplus. It
		// held the same records; they are recorded here too, as that
		// delivery may have stopped before recording them.
		_, _ = paced(ctx, &w.Deps, endpointDatasets, noResult(w.Async.DeleteDataset), id)
		return w.sentAndOn(ctx, p.Job, p.Group, n)
	}
	w.log().Info("dataset uploaded", "job", p.Job, "group", p.Group, "dataset", id, "records", n.Records, "took", time.Since(started))
	return w.sentAndOn(ctx, p.Job, p.Group, n)
}

// sentAndOn records what a group's dataset holds, then moves the group on
// to validation: never before, since its budget reservation is reckoned
// from those counts (async_budget.go).
func (w *Worker) sentAndOn(ctx context.Context, job string, g int, n jobstore.SentCount) error {
	if err := w.Store.RecordSent(ctx, job, g, n); err != nil {
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
	if err := w.Store.SetPhase(ctx, job, g, jobstore.PhaseValidating); err != nil {
		return err
	}
	return w.startPoll(ctx, job, g)
}

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
func (w *Worker) writeDataset(ctx context.Context, spec Spec, sink Sink, def jobstore.AsyncGroup, route string, out io.Writer) (jobstore.SentCount, error) {
	bw := bufio.NewWriterSize(out, 256<<10)
	cw := &countWriter{w: bw}
	lines, err := spec.asyncOp().lines(spec, route, cw)
	if err != nil {
		return jobstore.SentCount{}, err
	}
	var n int64
	for i, r := range def.Ranges {
		recs, err := w.readChunk(ctx, spec, sink, def.First+i, r)
		if err != nil {
			return jobstore.SentCount{Records: n, Bytes: cw.n}, err
		}
		for _, it := range recs.items {
			if err := lines.write(it); err != nil {
				return jobstore.SentCount{Records: n, Bytes: cw.n}, err
			}
			n++
		}
	}
	if err := lines.flush(); err != nil {
		return jobstore.SentCount{Records: n, Bytes: cw.n}, err
	}
	return jobstore.SentCount{Records: n, Bytes: cw.n}, bw.Flush()
}

// adoptDataset looks up a group's dataset by name; when it exists, it is
// recorded as the group's (found). The caller records its size and moves
// the group on (sentAndOn).
func (w *Worker) adoptDataset(ctx context.Context, spec Spec, g int, name, typ string) (found bool, err error) {
	d, err := paced(ctx, &w.Deps, endpointDatasets, func(ctx context.Context, name string) (*cohere.Dataset, error) {
		return w.Async.FindDataset(ctx, name, typ)
	}, name)
	if err != nil {
		return false, w.asyncAPIError(ctx, spec, err)
	}
	if d == nil {
		return false, nil
	}
	got, err := w.Store.SetOnce(ctx, spec.ID, g, "dataset", d.ID)
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
		return fmt.Errorf("%v: %w", err, ErrNoRetry)
	}
	return w.settle(ctx, spec.ID, err)
}
