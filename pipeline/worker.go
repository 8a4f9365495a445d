package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
)

// Embedder calls Cohere's embed endpoint (cohere.Client satisfies it).
type Embedder interface {
	Embed(ctx context.Context, req *cohere.EmbedRequest) (*cohere.EmbedResponse, error)
}

// Limiter paces calls to one endpoint across every worker sharing an API key
// (ratelimit.Limiter satisfies it). Each grant is reported back: sent,
// unused or throttled. AcquireUpTo grants what room the window has, down to
// least, for a call that can be cut to it (embed: checkpointedCalls). Current
// is the limit in force (configured or learned), which sizes embed calls
// (callSize).
type Limiter interface {
	Acquire(ctx context.Context, n int) (*ratelimit.Grant, error)
	AcquireUpTo(ctx context.Context, n, least int) (*ratelimit.Grant, error)
	Current() ratelimit.Limit
}

// Sink stores a job's results: the sink of a job's -sink scheme
// (sinks.Register).
type Sink = sinks.Sink

// SinkOpener returns the sink a job writes to; a worker holds what it returns
// while the job runs, and closes it when the job ends.
type SinkOpener func(ctx context.Context, spec Spec) (Sink, error)

// Worker runs the tasks of jobs: the chunk's lifecycle (chunk.go), the
// async route and finalize. Its handlers are the same in cmd/worker and in
// enqueue's embedded mode; pipeline/queue runs them.
type Worker struct {
	Deps
	OpenSink SinkOpener
	Queue    TaskQueue // for the tasks a handler hands work on to
	// Async and AsyncPoll serve the async route (Embed Jobs, Batches);
	// Async may be nil for workers that only run the sync route.
	Async     AsyncAPI
	AsyncPoll AsyncConfig

	// SinkIdle closes a job's sink unused for this long (default
	// DefaultSinkIdle).
	SinkIdle time.Duration
	// SinkRetryBudget bounds how long a transient sink error is retried
	// inside a handler (default DefaultSinkRetryBudget).
	SinkRetryBudget time.Duration

	mu    sync.Mutex
	specs map[string]Spec
	sinks jobSinks
}

func (d *Deps) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

// stopped reports whether the job has been aborted or cancelled.
func (d *Deps) stopped(ctx context.Context, job string) bool {
	return d.Store.Stopped(ctx, job)
}

// withJob runs fn with the job's spec and its shared sink, released when fn
// returns; a job whose spec or sink cannot be had settles the handler.
func (w *Worker) withJob(ctx context.Context, job string, fn func(Spec, Sink) error) error {
	spec, sink, release, err := w.job(ctx, job)
	if err != nil {
		return w.settle(ctx, job, err)
	}
	defer release()
	return fn(spec, sink)
}

// HandleFinalize closes a job whose chunks are all done.
func (w *Worker) HandleFinalize(ctx context.Context, job string) error {
	st, err := w.Store.Status(ctx, job)
	if err != nil {
		return err
	}
	if st.Ended() {
		return nil
	}
	if !st.Planned || st.ChunksDone < st.Chunks {
		return fmt.Errorf("finalize %s: %d of %d chunks done", job, st.ChunksDone, st.Chunks)
	}
	return w.withJob(ctx, job, func(_ Spec, sink Sink) error {
		st.FinishedAt = time.Now().UTC()
		sum := Summary(st)
		if err := w.prune(ctx, st.Spec, sink, &sum); err != nil {
			return w.settle(ctx, job, err)
		}
		if err := sink.Finish(ctx, sum); err != nil {
			return w.settle(ctx, job, fmt.Errorf("finish sink: %w", err))
		}
		w.log().Info("job done", "job", job, "written", st.Written, "skipped", st.Skipped, "failed", st.Failed)
		if err := w.Store.SetState(ctx, job, jobstore.StateDone, "", false); err != nil {
			return err
		}
		w.jobEnded(job)
		return nil
	})
}

// finalizeIfDone enqueues a job's finalize task if planning has finished and
// every chunk is done. A chunk's own completion tells it in the same step
// (Store.CompleteChunk); the planner and the async route ask here.
func finalizeIfDone(ctx context.Context, st *Store, q TaskQueue, job string) error {
	s, err := st.Status(ctx, job)
	if err != nil {
		return err
	}
	if !s.Planned || s.ChunksDone < s.Chunks || s.Ended() {
		return nil
	}
	return q.EnqueueFinalize(ctx, job)
}
