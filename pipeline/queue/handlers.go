package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/pipeline"
)

// NewMux returns a mux that runs w's handlers, each through handle.
func NewMux(w *pipeline.Worker) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(TypeChunk, handle(w.HandleChunk))
	mux.Handle(TypeFinalize, handle(func(ctx context.Context, p finalizePayload) error {
		return w.HandleFinalize(ctx, p.Job)
	}))
	mux.Handle(TypeAsyncUpload, handle(w.HandleAsyncUpload))
	mux.Handle(TypeAsyncPoll, handle(w.HandleAsyncPoll))
	mux.Handle(TypeAsyncDownload, handle(w.HandleAsyncDownload))
	return mux
}

// HandleTicks adds to mux the handler of the schedules' ticks
// (StartScheduler), plan, run through handle.
func HandleTicks(mux *asynq.ServeMux, plan func(context.Context, Tick) error) {
	mux.Handle(TypeScheduledJob, handle(plan))
}

// handle is what every handler shares: its task's payload decoded (a
// payload that cannot be is not retried), the delivery's attempt handed
// over (pipeline.WithAttempt), and pipeline.ErrNoRetry translated.
func handle[P any](fn func(context.Context, P) error) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p P
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
		}
		retried, _ := asynq.GetRetryCount(ctx)
		if maxRetry, ok := asynq.GetMaxRetry(ctx); ok {
			ctx = pipeline.WithAttempt(ctx, pipeline.Attempt{Retried: retried, MaxRetry: maxRetry})
		}
		err := fn(ctx, p)
		if errors.Is(err, pipeline.ErrNoRetry) {
			return noRetry{err}
		}
		return err
	})
}

// noRetry is an error asynq does not retry, with the handler's message.
type noRetry struct{ error }

func (e noRetry) Unwrap() []error { return []error{e.error, asynq.SkipRetry} }
