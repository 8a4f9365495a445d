package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// RetryResult says what RetryFailed did.
type RetryResult struct {
	Chunks   int // chunks reopened
	Records  int64
	Enqueued int // chunks enqueued (reopened ones, plus any never done)
}

// ErrJobRunning is returned by RetryFailed for a job that has not ended.
var ErrJobRunning = errors.New("job is still running")

// RetryFailed re-runs the dead-lettered records of an ended job: the chunks
// that hold them are reopened and planned again, nothing else. A retried
// chunk looks every record up in the sink, so what was written is not paid
// for again; records that now succeed move from failed to written, and those
// that fail again are dead-lettered anew in place of their old entries.
// Input files that could not be read at planning stay dead-lettered.
func (p *Planner) RetryFailed(ctx context.Context, id string) (RetryResult, error) {
	var res RetryResult
	st, err := p.Store.Status(ctx, id)
	if err != nil {
		return res, err
	}
	if !st.Ended() {
		return res, fmt.Errorf("retry-failed %s: %w (state %s); cancel it first or wait", id, ErrJobRunning, st.State)
	}
	if len(st.Async) > 0 {
		return res, fmt.Errorf("retry-failed %s: a job on the async route cannot be retried in part; run it again with -async off", id)
	}
	prewritten, err := p.Store.ReopenFailed(ctx, id)
	if err != nil {
		return res, err
	}
	res.Chunks = len(prewritten)
	res.Records = st.Failed
	if p.Inspector != nil {
		// A chunk task the queue archived keeps its task id, which would
		// make enqueueing the chunk again a silent no-op.
		p.Inspector.Forget(id, slices.Collect(maps.Keys(prewritten)))
	}
	// Not done, so that planning resumes the job rather than restarting it.
	if err := p.Store.SetState(ctx, id, jobstore.StateRunning, "", true); err != nil {
		return res, err
	}
	q := *p
	q.prewritten = prewritten
	pr, err := q.Plan(ctx, st.Spec)
	res.Enqueued = pr.Enqueued
	return res, err
}
