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
	"github.com/cobatch/cobatch/sinks"
)

// Embedder calls Cohere's embed endpoint (cohere.Client satisfies it).
type Embedder interface {
	Embed(ctx context.Context, req *cohere.EmbedRequest) (*cohere.EmbedResponse, error)
}

// Limiter paces calls to one endpoint across every worker sharing an API key
// (ratelimit.Limiter satisfies it).
type Limiter interface {
	Wait(ctx context.Context, n int) (time.Duration, error)
	Throttled(ctx context.Context, retryAfter time.Duration) error
	Succeeded(ctx context.Context)
}

// Sink stores a job's results (sinks/parquet and sinks/pgvector satisfy it).
type Sink interface {
	Existing(ctx context.Context, job string, chunk int, keys []sinks.Key) (map[string]bool, error)
	WriteChunk(ctx context.Context, c *sinks.Chunk) error
	Finish(ctx context.Context, s sinks.Summary) error
}

// SinkOpener returns the sink a job writes to; workers cache what it returns.
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

	examples sync.Map // job id → []cohere.ClassifyExample, loaded once per job

	mu    sync.Mutex
	specs map[string]Spec
	sinks map[string]Sink
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

// job returns the spec and sink of a job, loading each once per process.
func (w *Worker) job(ctx context.Context, id string) (Spec, Sink, error) {
	w.mu.Lock()
	spec, ok := w.specs[id]
	sink := w.sinks[id]
	w.mu.Unlock()
	if !ok {
		var err error
		if spec, err = w.Store.Spec(ctx, id); err != nil {
			return Spec{}, nil, err
		}
	}
	if sink == nil {
		var err error
		if sink, err = w.OpenSink(ctx, spec); err != nil {
			return spec, nil, fmt.Errorf("open sink %s: %w", spec.Sink, err)
		}
	}
	w.mu.Lock()
	if w.specs == nil {
		w.specs, w.sinks = map[string]Spec{}, map[string]Sink{}
	}
	w.specs[id], w.sinks[id] = spec, sink
	w.mu.Unlock()
	return spec, sink, nil
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
	_, sink, err := w.job(ctx, p.Job)
	if err != nil {
		return w.settle(ctx, p.Job, err)
	}
	st.FinishedAt = time.Now().UTC()
	if err := sink.Finish(ctx, st.Summary()); err != nil {
		return w.settle(ctx, p.Job, fmt.Errorf("finish sink: %w", err))
	}
	w.log().Info("job done", "job", p.Job, "written", st.Written, "skipped", st.Skipped, "failed", st.Failed)
	return w.Store.SetState(ctx, p.Job, StateDone, "", false)
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
