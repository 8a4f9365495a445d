package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// Planner splits a job's inputs into chunk tasks and enqueues them.
type Planner struct {
	Store *Store
	Queue TaskQueue
	// Inspector serves stdin backpressure and RetryFailed; may be nil.
	Inspector QueueInspector
	// MaxPending bounds the queue while stdin input, whose text travels in
	// the payloads, is enqueued (default 64 chunks).
	MaxPending int
	// Groups bounds the datasets of the async route (zero: DefaultGroupLimits).
	Groups GroupLimits

	// prewritten holds, for chunks reopened by RetryFailed, the records
	// they had written.
	prewritten map[int]int64
}

// PlanResult says what planning did.
type PlanResult struct {
	Resumed  bool  // the job existed already
	Chunks   int   // chunks in the job
	Enqueued int   // chunks enqueued now (the others were done or queued)
	Lines    int64 // input lines covered
	Records  int64 // records planned (a corrupt file's tail counts as one)
}

// Plan stores the job (or checks it against the stored one), then streams
// its inputs into chunk tasks. Re-planning a job enqueues only chunks that are
// not done, and a chunk already queued is left as it is, so running the same
// command again resumes the job.
func (p *Planner) Plan(ctx context.Context, spec Spec) (PlanResult, error) {
	var res PlanResult
	resumed, err := CreateOrResume(ctx, p.Store, spec)
	if err != nil {
		return res, err
	}
	if err := p.Store.SaveExamples(ctx, spec.ID, spec.Examples); err != nil {
		return res, err
	}
	if err := p.Store.SetBudget(ctx, spec.ID, spec.Pricing()); err != nil {
		return res, err
	}
	res.Resumed = resumed
	if resumed {
		// A job that stopped (crashed, aborted, cancelled) resumes where it
		// stopped. One that finished runs anew: every record is looked up in
		// the sink, so only what changed since is paid for.
		st, err := p.Store.Status(ctx, spec.ID)
		if err != nil {
			return res, err
		}
		if st.State == jobstore.StateDone {
			if err := p.Store.Restart(ctx, spec.ID); err != nil {
				return res, err
			}
			if err := p.Store.ResetAsync(ctx, spec.ID); err != nil {
				return res, err
			}
		}
		if err := p.Store.SetState(ctx, spec.ID, jobstore.StatePlanning, "", true); err != nil {
			return res, err
		}
	}
	if spec.asyncRoute(math.MaxInt64) != "" {
		return p.planAsync(ctx, spec, res)
	}
	err = p.split(ctx, spec, &res, func(r input.Range) error {
		chunk := res.Chunks
		res.Chunks++
		res.Lines += int64(r.Lines)
		res.Records += int64(r.Records)
		ok, err := p.enqueueChunk(ctx, spec.ID, chunk, r)
		if ok {
			res.Enqueued++
		}
		return err
	})
	if err != nil {
		return res, err
	}
	return res, p.planned(ctx, spec.ID, res)
}

// split cuts the job's inputs into ranges for emit, one input at a time, so
// that a corrupt file (truncated gzip, broken Parquet footer) costs its
// unreadable tail, not the whole job: the records before the damage are
// planned, the damage is dead-lettered and counted as one record.
func (p *Planner) split(ctx context.Context, spec Spec, res *PlanResult, emit func(input.Range) error) error {
	for _, in := range spec.Inputs {
		err := input.Split(ctx, []string{in}, spec.Input, spec.ChunkSize, emit)
		if errors.Is(err, input.ErrCorrupt) && !spec.Strict {
			if err := p.Store.PlanFailure(ctx, spec.ID, sinks.Failure{File: in, Line: input.DamageLine(err), Reason: err.Error()}); err != nil {
				return err
			}
			res.Records++
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// planned records the job as planned and running, and enqueues its finalize
// task if every chunk is done already.
func (p *Planner) planned(ctx context.Context, job string, res PlanResult) error {
	if err := p.Store.Planned(ctx, job, res.Chunks, res.Records); err != nil {
		return err
	}
	if err := p.Store.SetState(ctx, job, jobstore.StateRunning, "", false); err != nil {
		return err
	}
	return finalizeIfDone(ctx, p.Store, p.Queue, job)
}

// enqueueChunk enqueues a chunk task unless the chunk is done; it reports
// whether it enqueued one. A chunk of stdin input, whose text travels in
// its payload, waits for room in the queue first.
func (p *Planner) enqueueChunk(ctx context.Context, job string, chunk int, r input.Range) (bool, error) {
	done, err := p.Store.ChunkDone(ctx, job, chunk)
	if err != nil || done {
		return false, err
	}
	if r.Data != nil {
		if err := p.backpressure(ctx); err != nil {
			return false, err
		}
	}
	ok, err := p.Queue.EnqueueChunk(ctx, ChunkPayload{Job: job, Chunk: chunk, Range: r, Prewritten: p.prewritten[chunk]})
	if err != nil {
		return false, fmt.Errorf("enqueue chunk %d: %w", chunk, err)
	}
	return ok, nil
}

// backpressure waits while the queue holds MaxPending tasks or more, so that
// stdin input does not pile up in Redis faster than workers drain it.
func (p *Planner) backpressure(ctx context.Context) error {
	if p.Inspector == nil {
		return nil
	}
	limit := p.MaxPending
	if limit <= 0 {
		limit = 64
	}
	for {
		n, err := p.Inspector.Waiting()
		if err != nil || n < limit {
			return nil // an unknown queue is empty
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}
