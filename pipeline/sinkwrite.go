package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

// DefaultSinkRetryBudget is how long a transient sink error is retried
// inside the handler before the job aborts.
const DefaultSinkRetryBudget = 3 * time.Minute

// writeChunk writes a chunk whose results are already paid for. An error the
// sink declares transient (sinks.Kind.Transient: a refused or reset
// connection, a server shutting down, a full disk) is retried here, the
// results held in memory, with backoff up to the budget: a task retry would
// pay for every call of the chunk again. Past the budget the job aborts,
// keeping what was written.
func (w *Worker) writeChunk(ctx context.Context, spec Spec, sink Sink, c *sinks.Chunk) error {
	k, _ := sinks.Lookup(spec.Sink)
	budget := w.SinkRetryBudget
	if budget <= 0 {
		budget = DefaultSinkRetryBudget
	}
	deadline := time.Now().Add(budget)
	delay := 250 * time.Millisecond
	for {
		err := sink.WriteChunk(ctx, c)
		if err == nil || k.Transient == nil || !k.Transient(err) || ctx.Err() != nil {
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return w.abort(ctx, spec.ID, fmt.Sprintf("sink still failing after %s of retries: %v", budget, err))
		}
		w.log().Warn("sink write failed; retrying with the results held", "job", spec.ID, "chunk", c.Number, "in", delay, "err", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 15*time.Second)
	}
}
