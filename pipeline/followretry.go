package pipeline

import (
	"context"
	"errors"
	"time"
)

// DefaultOutage is how long Follow keeps polling through a Redis that does
// not answer (restarted, failing over) before it gives up.
const DefaultOutage = 2 * time.Minute

// status reads the job's status, riding out a Redis outage of up to
// f.Outage: the job goes on in the workers meanwhile, and an `enqueue -wait`
// that exits 3 on a restart would make a scheduler rerun a job that is fine.
func (f *Follower) status(ctx context.Context, id string) (Status, error) {
	outage := f.Outage
	if outage <= 0 {
		outage = DefaultOutage
	}
	var since time.Time
	for {
		st, err := f.Store.Status(ctx, id)
		if err == nil || errors.Is(err, ErrNoJob) || ctx.Err() != nil {
			return st, err
		}
		if since.IsZero() {
			since = time.Now()
			if f.Log != nil {
				f.Log.Warn("job status unavailable; retrying", "job", id, "err", err)
			}
		}
		if time.Since(since) > outage {
			return st, err
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return st, err
		}
	}
}
