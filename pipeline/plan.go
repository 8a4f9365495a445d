package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// Planner splits a job's inputs into chunk tasks and enqueues them.
type Planner struct {
	Store     *Store
	Client    *asynq.Client
	Inspector *asynq.Inspector // for stdin backpressure; may be nil
	Queue     string           // default DefaultQueue
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
	queue := p.Queue
	if queue == "" {
		queue = DefaultQueue
	}
	resumed, err := p.Store.CreateOrResume(ctx, spec)
	if err != nil {
		return res, err
	}
	if err := p.Store.SaveExamples(ctx, spec); err != nil {
		return res, err
	}
	if err := p.Store.SetBudget(ctx, spec); err != nil {
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
		if st.State == StateDone {
			if err := p.Store.Restart(ctx, spec.ID); err != nil {
				return res, err
			}
			if err := p.Store.resetAsync(ctx, spec.ID); err != nil {
				return res, err
			}
		}
		if err := p.Store.SetState(ctx, spec.ID, StatePlanning, "", true); err != nil {
			return res, err
		}
	}
	if spec.asyncRoute(math.MaxInt64) != "" {
		return p.planAsync(ctx, spec, queue, res)
	}
	emit := func(r input.Range) error {
		chunk := res.Chunks
		res.Chunks++
		res.Lines += int64(r.Lines)
		res.Records += int64(r.Records)
		done, err := p.Store.ChunkDone(ctx, spec.ID, chunk)
		if err != nil || done {
			return err
		}
		if r.Data != nil {
			if err := p.backpressure(ctx, queue); err != nil {
				return err
			}
		}
		task, err := NewChunkTask(ChunkPayload{Job: spec.ID, Chunk: chunk, Range: r, Prewritten: p.prewritten[chunk]}, queue)
		if err != nil {
			return err
		}
		_, err = p.Client.EnqueueContext(ctx, task)
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("enqueue chunk %d: %w", chunk, err)
		}
		res.Enqueued++
		return nil
	}
	// One input at a time, so that a corrupt file (truncated gzip, broken
	// Parquet footer) costs its unreadable tail, not the whole job: the
	// records before the damage are planned, the damage is dead-lettered.
	for _, in := range spec.Inputs {
		err := input.Split(ctx, []string{in}, spec.Input, spec.ChunkSize, emit)
		if errors.Is(err, input.ErrCorrupt) && !spec.Strict {
			if err := p.Store.PlanFailure(ctx, spec.ID, sinks.Failure{File: in, Line: input.DamageLine(err), Reason: err.Error()}); err != nil {
				return res, err
			}
			res.Records++
			continue
		}
		if err != nil {
			return res, err
		}
	}
	if err := p.Store.Planned(ctx, spec.ID, res.Chunks, res.Records); err != nil {
		return res, err
	}
	if err := p.Store.SetState(ctx, spec.ID, StateRunning, "", false); err != nil {
		return res, err
	}
	return res, MaybeFinalize(ctx, p.Store, p.Client, spec.ID, queue, -1)
}

// backpressure waits while the queue holds MaxPending tasks or more, so that
// stdin input does not pile up in Redis faster than workers drain it.
func (p *Planner) backpressure(ctx context.Context, queue string) error {
	if p.Inspector == nil {
		return nil
	}
	limit := p.MaxPending
	if limit <= 0 {
		limit = 64
	}
	for {
		info, err := p.Inspector.GetQueueInfo(queue)
		if err != nil || info.Pending+info.Retry+info.Scheduled < limit {
			return nil // an unknown queue is empty
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}
