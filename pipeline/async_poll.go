package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// startPoll starts a new chain of status checks for a group. Its token
// retires any older chain, so that a resumed group is not polled twice.
func (w *Worker) startPoll(ctx context.Context, job string, g int) error {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	if err := w.Store.RecordPollToken(ctx, job, g, token); err != nil {
		return err
	}
	return w.Queue.EnqueuePoll(ctx, AsyncPayload{Job: job, Group: g, Token: token}, 0)
}

// pollAgain schedules the chain's next check, backing off from PollMin to
// PollMax: the wait is spent in the queue, not in a worker slot.
func (w *Worker) pollAgain(ctx context.Context, p AsyncPayload) error {
	c := w.asyncConfig()
	wait := c.PollMin << min(max(p.Attempt-p.Since, 0), 16)
	if wait > c.PollMax || wait <= 0 {
		wait = c.PollMax
	}
	p.Attempt++
	return w.Queue.EnqueuePoll(ctx, p, wait)
}

// HandleAsyncPoll checks a group's remote state once: a validated dataset
// gets its embed job or batch (created once), a finished remote job gets its
// download task; anything else is checked again later, up to the deadline.
func (w *Worker) HandleAsyncPoll(ctx context.Context, p AsyncPayload) error {
	st, ok, err := w.asyncGroup(ctx, p)
	if !ok {
		return err
	}
	if st.Token != p.Token {
		return nil // a newer chain polls this group
	}
	spec, err := w.Store.Spec(ctx, p.Job)
	if err != nil {
		return err
	}
	if !st.PhaseAt.IsZero() && time.Since(st.PhaseAt) > w.asyncConfig().Deadline {
		return w.remoteFailed(ctx, spec, st, fmt.Sprintf("group %d still %s after %s", p.Group, st.Phase, w.asyncConfig().Deadline), true)
	}
	switch st.Phase {
	case jobstore.PhaseValidating:
		return w.pollDataset(ctx, spec, st, p)
	case jobstore.PhaseProcessing:
		return w.pollRemote(ctx, spec, st, p)
	}
	return nil
}

func (w *Worker) pollDataset(ctx context.Context, spec Spec, st jobstore.GroupState, p AsyncPayload) error {
	d, err := paced(ctx, &w.Deps, endpointDatasets, w.Async.GetDataset, st.DatasetID)
	if err != nil {
		return w.asyncAPIError(ctx, spec, err)
	}
	switch d.ValidationStatus {
	case cohere.DatasetValidated, cohere.DatasetSkipped:
	case cohere.DatasetFailed:
		// Only records that parse and carry text are uploaded, so a failed
		// validation is not about one record: the job stops with the
		// API's message.
		return w.remoteFailed(ctx, spec, st, fmt.Sprintf("dataset %s failed validation: %s", st.DatasetID, d.ValidationError), false)
	default:
		return w.pollAgain(ctx, p)
	}
	if st.RemoteID == "" {
		if ok, err := w.mayCreate(ctx, spec, st); err != nil || !ok {
			if err != nil {
				return w.settle(ctx, spec.ID, err)
			}
			// Other groups' bills decide whether this one fits. Waiting
			// for them is not this phase running late: its deadline
			// starts again.
			if err := w.Store.TouchPhase(ctx, spec.ID, st.Group); err != nil {
				return err
			}
			return w.pollAgain(ctx, p)
		}
	}
	id, err := w.createRemote(ctx, spec, st)
	if err != nil {
		return w.asyncAPIError(ctx, spec, err)
	}
	if err := w.Store.SetPhase(ctx, spec.ID, st.Group, jobstore.PhaseProcessing); err != nil {
		return err
	}
	w.log().Info("remote job created", "job", spec.ID, "group", st.Group, "route", st.Route, "remote", id)
	p.Since = p.Attempt + 1 // a new phase starts polling fast again
	return w.pollAgain(ctx, p)
}

// createRemote creates the group's embed job or batch once. Before creating
// one it looks it up by name (an earlier delivery, or a run whose job store
// was lost, may have made it), and after a failed create it looks again: a
// create whose answer was lost may have made it all the same. Its id is
// recorded at once.
func (w *Worker) createRemote(ctx context.Context, spec Spec, st jobstore.GroupState) (string, error) {
	if st.RemoteID != "" {
		return st.RemoteID, nil
	}
	name := remoteJobName(spec.ID, st.Group, st.DatasetID)
	if id, err := w.findRemote(ctx, st.Route, name); err != nil || id != "" {
		if err != nil {
			return "", err
		}
		return w.Store.SetOnce(ctx, spec.ID, st.Group, "remote", id)
	}
	var id string
	var err error
	if st.Route == AsyncBatches {
		var b *cohere.Batch
		b, err = paced(ctx, &w.Deps, endpointBatches, w.Async.CreateBatch, &cohere.CreateBatchRequest{Name: name, InputDatasetID: st.DatasetID, Model: spec.BatchModelName()})
		if err == nil {
			id = b.ID
		}
	} else {
		var r *cohere.CreateEmbedJobResponse
		r, err = paced(ctx, &w.Deps, endpointEmbedJobs, w.Async.CreateEmbedJob, &cohere.CreateEmbedJobRequest{
			Model: spec.Model, DatasetID: st.DatasetID, InputType: spec.InputType, Name: name,
			EmbeddingTypes: embeddingTypes(spec.EmbeddingTypes), Truncate: spec.Truncate,
		})
		if err == nil {
			id = r.JobID
		}
	}
	if err != nil {
		found, ferr := w.findRemote(ctx, st.Route, name)
		if ferr != nil || found == "" {
			return "", err
		}
		w.log().Info("remote job found by name after a failed create", "job", spec.ID, "group", st.Group, "remote", found, "err", err)
		id = found
	}
	_ = w.Store.AddStats(ctx, spec.ID, map[string]int64{jobstore.StatCalls: 1})
	return w.Store.SetOnce(ctx, spec.ID, st.Group, "remote", id)
}

// findRemote looks a group's embed job or batch up by name: "" when there
// is none that has neither failed nor been cancelled.
func (w *Worker) findRemote(ctx context.Context, route, name string) (string, error) {
	if route == AsyncBatches {
		b, err := paced(ctx, &w.Deps, endpointBatches, w.Async.FindBatch, name)
		if err != nil || b == nil {
			return "", err
		}
		return b.ID, nil
	}
	j, err := paced(ctx, &w.Deps, endpointEmbedJobs, w.Async.FindEmbedJob, name)
	if err != nil || j == nil {
		return "", err
	}
	return j.JobID, nil
}

// pollRemote checks the embed job or batch.
func (w *Worker) pollRemote(ctx context.Context, spec Spec, st jobstore.GroupState, p AsyncPayload) error {
	var status, output, reason string
	var tokens, outTokens int64
	if st.Route == AsyncBatches {
		b, err := paced(ctx, &w.Deps, endpointBatches, w.Async.GetBatch, st.RemoteID)
		if err != nil {
			return w.asyncAPIError(ctx, spec, err)
		}
		output, tokens, outTokens, reason = b.OutputDatasetID, int64(b.InputTokens), int64(b.OutputTokens), b.StatusReason
		switch b.Status {
		case cohere.BatchStatusCompleted:
			status = cohere.EmbedJobComplete
		case cohere.BatchStatusFailed:
			status = cohere.EmbedJobFailed
		case cohere.BatchStatusCanceled, cohere.BatchStatusCanceling:
			status = cohere.EmbedJobCancelled
		}
		if b.NumFailedRecords > 0 {
			_ = w.Store.RecordRemoteFailed(ctx, spec.ID, st.Group, int64(b.NumFailedRecords))
		}
	} else {
		j, err := paced(ctx, &w.Deps, endpointEmbedJobs, w.Async.GetEmbedJob, st.RemoteID)
		if err != nil {
			return w.asyncAPIError(ctx, spec, err)
		}
		status, output, tokens = j.Status, j.OutputDatasetID, int64(j.Meta.BilledUnits.InputTokens)
	}
	switch status {
	case cohere.EmbedJobComplete:
		// Billed before the phase moves on: a group's budget reservation
		// counts until then (async_budget.go). A bill that could not be
		// recorded is retried with the task.
		if tokens > 0 || outTokens > 0 {
			billed, err := w.Store.BillGroup(ctx, spec.ID, st.Group, map[string]int64{jobstore.StatTokens: tokens, jobstore.StatOutputTokens: outTokens})
			if err != nil {
				return w.settle(ctx, spec.ID, err)
			}
			if billed {
				w.Metrics.billed(spec, st.Route, tokens, outTokens)
			}
		}
		if err := w.Store.SetPhase(ctx, spec.ID, st.Group, jobstore.PhaseDownload, "output", output); err != nil {
			return err
		}
		return w.Queue.EnqueueDownload(ctx, spec.ID, st.Group)
	case cohere.EmbedJobFailed:
		msg := fmt.Sprintf("%s %s failed", RemoteKind(st.Route), st.RemoteID)
		if reason != "" {
			msg += ": " + reason
		}
		return w.remoteFailed(ctx, spec, st, msg, false)
	case cohere.EmbedJobCancelled:
		return w.remoteFailed(ctx, spec, st, fmt.Sprintf("%s %s was cancelled", RemoteKind(st.Route), st.RemoteID), false)
	}
	return w.pollAgain(ctx, p)
}

// RemoteKind names what an async route creates at Cohere for a group.
func RemoteKind(route string) string {
	if route == AsyncBatches {
		return "batch"
	}
	return "embed job"
}

// remoteFailed ends a group whose dataset or remote job failed. A remote job
// that failed outright may have failed over one record (Cohere fails a
// whole embed job for it): with -async-fallback sync the group's chunks go
// the sync route, which isolates such records and dead-letters only them.
// Otherwise, and for a failed validation or a deadline, the job aborts with
// the message. The group's remote objects are cleaned up either way.
func (w *Worker) remoteFailed(ctx context.Context, spec Spec, st jobstore.GroupState, msg string, cancel bool) error {
	log := w.log().With("job", spec.ID, "group", st.Group)
	if cancel && st.RemoteID != "" {
		var err error
		if st.Route == AsyncBatches {
			_, err = paced(ctx, &w.Deps, endpointBatches, noResult(w.Async.CancelBatch), st.RemoteID)
		} else {
			_, err = paced(ctx, &w.Deps, endpointEmbedJobs, noResult(w.Async.CancelEmbedJob), st.RemoteID)
		}
		if err != nil && !isNotFound(err) {
			return err
		}
	}
	remoteJobFailed := st.Phase == jobstore.PhaseProcessing && !cancel
	if remoteJobFailed && spec.AsyncFallback == FallbackSync {
		log.Warn("remote job failed; its chunks go the sync route", "reason", msg)
		if err := w.Store.SetPhase(ctx, spec.ID, st.Group, jobstore.PhaseFallback, "error", msg); err != nil {
			return err
		}
		def, err := w.Store.Group(ctx, spec.ID, st.Group)
		if err != nil {
			return err
		}
		for i, r := range def.Ranges {
			if err := w.requeueChunk(ctx, spec.ID, def.First+i, r, 0); err != nil {
				return err
			}
		}
		w.cleanup(ctx, spec, st.Group)
		return nil
	}
	log.Warn("async group failed; aborting the job", "reason", msg)
	if err := w.Store.SetPhase(ctx, spec.ID, st.Group, jobstore.PhaseFailed, "error", msg); err != nil {
		return err
	}
	w.cleanup(ctx, spec, st.Group)
	return w.Store.Abort(ctx, spec.ID, msg)
}

// cleanup deletes a group's datasets unless the job keeps them. A failure
// is logged, not fatal: the results are safe in the sink by then.
func (w *Worker) cleanup(ctx context.Context, spec Spec, g int) {
	if spec.KeepDatasets {
		return
	}
	st, err := w.Store.GroupState(ctx, spec.ID, g)
	if err != nil {
		return
	}
	for _, id := range []string{st.OutputID, st.DatasetID} {
		if id == "" {
			continue
		}
		if _, err := paced(ctx, &w.Deps, endpointDatasets, noResult(w.Async.DeleteDataset), id); err != nil && !isNotFound(err) {
			w.log().Warn("could not delete dataset", "job", spec.ID, "group", g, "dataset", id, "err", err)
		}
	}
}
