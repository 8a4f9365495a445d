package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
)

// Embedder calls Cohere's embed endpoint (cohere.Client satisfies it).
type Embedder interface {
	Embed(ctx context.Context, req *cohere.EmbedRequest) (*cohere.EmbedResponse, error)
}

// Limiter paces calls to one endpoint across every worker sharing an API key
// (ratelimit.Limiter satisfies it). Each grant is reported back: sent,
// unused or throttled. Current is the limit in force (configured or
// learned), which sizes embed calls (callSize).
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

// Worker holds what the task handlers share. Its handlers are the same in
// cmd/worker and in enqueue's embedded mode.
type Worker struct {
	Store    *Store
	Embedder Embedder
	// Limiter returns the shared limiter for an endpoint ("embed", ...).
	Limiter  func(endpoint string) Limiter
	OpenSink SinkOpener
	Enqueuer *asynq.Client // for the finalize task
	Queue    string        // default DefaultQueue
	Log      *slog.Logger
	Metrics  *Metrics // may be nil
	// Async and AsyncPoll serve the async route (Embed Jobs, Batches);
	// Async may be nil for workers that only run the sync route.
	Async     AsyncAPI
	AsyncPoll AsyncConfig

	// Classifier and Reranker serve classify and rerank jobs; when nil, the
	// Embedder serves them if it can (cohere.Client does).
	Classifier Classifier
	Reranker   Reranker
	// Chatter serves chat jobs; when nil, the Embedder serves them if it
	// can (cohere.Client does).
	Chatter Chatter

	examples sync.Map // job id → []cohere.ClassifyExample, loaded once per job

	// SinkIdle closes a job's sink unused for this long (default
	// DefaultSinkIdle).
	SinkIdle time.Duration
	// SinkRetryBudget bounds how long a transient sink error is retried
	// inside a handler (default DefaultSinkRetryBudget).
	SinkRetryBudget time.Duration

	limits sync.Map // model → passage.Limit, read once (corpus.go)

	mu    sync.Mutex
	specs map[string]Spec
	sinks jobSinks
}

// Register adds the worker's handlers to mux.
func (w *Worker) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeEmbedChunk, w.HandleEmbedChunk)
	mux.HandleFunc(TypeFinalize, w.HandleFinalize)
	mux.HandleFunc(TypeAsyncUpload, w.HandleAsyncUpload)
	mux.HandleFunc(TypeAsyncPoll, w.HandleAsyncPoll)
	mux.HandleFunc(TypeAsyncDownload, w.HandleAsyncDownload)
}

func (w *Worker) queue() string {
	if w.Queue == "" {
		return DefaultQueue
	}
	return w.Queue
}

func (w *Worker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}

// stopped reports whether the job has been aborted or cancelled.
func (w *Worker) stopped(ctx context.Context, job string) bool {
	return w.Store.Stopped(ctx, job)
}

// HandleFinalize closes a job whose chunks are all done.
func (w *Worker) HandleFinalize(ctx context.Context, t *asynq.Task) error {
	var p FinalizePayload
	if err := decodePayload(t, &p); err != nil {
		return err
	}
	st, err := w.Store.Status(ctx, p.Job)
	if err != nil {
		return err
	}
	if st.Ended() {
		return nil
	}
	if !st.Planned || st.ChunksDone < st.Chunks {
		return fmt.Errorf("finalize %s: %d of %d chunks done", p.Job, st.ChunksDone, st.Chunks)
	}
	_, sink, release, err := w.job(ctx, p.Job)
	if err != nil {
		return w.settle(ctx, p.Job, err)
	}
	defer release()
	st.FinishedAt = time.Now().UTC()
	sum := st.Summary()
	if err := w.prune(ctx, st.Spec, sink, &sum); err != nil {
		return w.settle(ctx, p.Job, err)
	}
	if err := sink.Finish(ctx, sum); err != nil {
		return w.settle(ctx, p.Job, fmt.Errorf("finish sink: %w", err))
	}
	w.log().Info("job done", "job", p.Job, "written", st.Written, "skipped", st.Skipped, "failed", st.Failed)
	if err := w.Store.SetState(ctx, p.Job, StateDone, "", false); err != nil {
		return err
	}
	w.jobEnded(p.Job)
	return nil
}

// maybeFinalize enqueues the finalize task once every chunk is done.
func (w *Worker) maybeFinalize(ctx context.Context, job string, done int64) error {
	return MaybeFinalize(ctx, w.Store, w.Enqueuer, job, w.queue(), done)
}

// MaybeFinalize enqueues a job's finalize task if planning has finished and
// done chunks (or, when done < 0, the stored count) cover every chunk.
func MaybeFinalize(ctx context.Context, st *Store, c *asynq.Client, job, queue string, done int64) error {
	s, err := st.Status(ctx, job)
	if err != nil {
		return err
	}
	if done < 0 {
		done = s.ChunksDone
	}
	if !s.Planned || done < s.Chunks || s.Ended() {
		return nil
	}
	_, err = c.EnqueueContext(ctx, NewFinalizeTask(job, queue))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}
