package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// DefaultOutage is how long Wait keeps polling through a Redis that does
// not answer (restarted, failing over) before it gives up.
const DefaultOutage = 2 * time.Minute

// Waiter polls a job's status until the job ends.
type Waiter struct {
	Store *Store
	// Outage is how long Redis may be unreachable before Wait fails
	// (default DefaultOutage).
	Outage time.Duration
	Log    *slog.Logger // says when the status stops answering
	// Seen, when set, is given each status read, the job's last one
	// included: how a command shows the job's progress.
	Seen func(Status)
}

// Wait polls the job until it ends or ctx is done, and returns its last status.
func (w *Waiter) Wait(ctx context.Context, id string) (Status, error) {
	for {
		st, err := w.status(ctx, id)
		if err != nil {
			return st, err
		}
		if w.Seen != nil {
			w.Seen(st)
		}
		if st.Ended() {
			return st, nil
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return st, err
		}
	}
}

// status reads the job's status, riding out a Redis outage of up to
// w.Outage: the job goes on in the workers meanwhile, and an `enqueue -wait`
// that exits 3 on a restart would make a scheduler rerun a job that is fine.
func (w *Waiter) status(ctx context.Context, id string) (Status, error) {
	outage := w.Outage
	if outage <= 0 {
		outage = DefaultOutage
	}
	var since time.Time
	for {
		st, err := w.Store.Status(ctx, id)
		if err == nil || errors.Is(err, jobstore.ErrNoJob) || ctx.Err() != nil {
			return st, err
		}
		if since.IsZero() {
			since = time.Now()
			if w.Log != nil {
				w.Log.Warn("job status unavailable; retrying", "job", id, "err", err)
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
