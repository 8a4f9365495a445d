package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/sinks"
)

// This file is the outcome policy: what a handler's error means for the job
// and for the task. Every handler returns through settle; every API error
// that ends a job is recognised by fatal; every abort goes through abort.

// ErrNoRetry marks an error a retry of its task cannot mend: the job has
// been aborted with it, or the task cannot run at all. The queue
// (pipeline/queue) does not retry a task whose handler returns it.
var ErrNoRetry = errors.New("not retried")

// Attempt is which delivery of its task a handler runs. The queue that runs
// the handlers (pipeline/queue) hands it over with WithAttempt, so that
// settle can tell the last retries; a handler called without one never
// gives up on its own.
type Attempt struct {
	Retried  int // earlier deliveries that failed
	MaxRetry int // retries the task is allowed
}

type attemptKey struct{}

// WithAttempt returns ctx carrying the delivery's attempt, for settle.
func WithAttempt(ctx context.Context, a Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// errStopped means the job was aborted or cancelled while a chunk ran: the
// chunk stops without recording anything, so that a resumed job redoes it.
var errStopped = errors.New("job stopped")

// fatal reports whether an API error means that no call of this job can
// succeed until a human acts: a bad, blocked or unpaid key (401, 402, 498),
// a key without access (403), the monthly cap, or a model the API does not
// know (404 naming the model). Retrying any of them only costs time.
func fatal(err error) bool {
	if cohere.IsFatal(err) {
		return true
	}
	apiErr, ok := errors.AsType[*cohere.APIError](err)
	if !ok {
		return false
	}
	switch apiErr.StatusCode {
	case http.StatusForbidden:
		return true
	case http.StatusNotFound:
		return strings.Contains(strings.ToLower(apiErr.Message), "model")
	}
	return false
}

// rejected returns the API's verdict when err says the request itself is
// invalid (400, 422): retrying cannot help, the input is at fault.
func rejected(err error) (*cohere.APIError, bool) {
	var apiErr *cohere.APIError
	if errors.As(err, &apiErr) && (apiErr.StatusCode == 400 || apiErr.StatusCode == 422) {
		return apiErr, true
	}
	return nil, false
}

// abort stops the job with reason (recorded as its last error too) and
// returns errStopped for the caller to unwind with.
func (d *Deps) abort(ctx context.Context, job, reason string) error {
	ctx = context.WithoutCancel(ctx)
	d.Store.RecordError(ctx, job, reason)
	if err := d.Store.Abort(ctx, job, reason); err != nil {
		return err
	}
	return errStopped
}

// strictAbort aborts a -strict job on its first bad record.
func (d *Deps) strictAbort(ctx context.Context, job string, cause error) error {
	return d.abort(ctx, job, "-strict: "+cause.Error())
}

// settle turns a handler's error into the task's outcome, the one switch
// from an error to what the queue does with the task:
//   - nil, or the job stopped: the task is done;
//   - a fatal API error: the job aborts with the API's message, no retry;
//   - a sink that is not the job's (sinks.ErrOtherTarget): the job aborts
//     with both names, nothing written;
//   - anything else: the queue retries the task, except on its last
//     retries (Attempt), where the job aborts with the error rather than
//     letting the queue archive the task silently (the sink or the API
//     stayed unreachable), and the error is not retried (ErrNoRetry).
func (w *Worker) settle(ctx context.Context, job string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errStopped):
		w.log().Info("task stopped: job is no longer running", "job", job)
		w.jobEnded(job)
		return nil
	case fatal(err), errors.Is(err, sinks.ErrOtherTarget):
		if aerr := w.abort(ctx, job, err.Error()); !errors.Is(aerr, errStopped) {
			return errors.Join(err, aerr)
		}
		w.jobEnded(job)
		return nil
	}
	a, inTask := ctx.Value(attemptKey{}).(Attempt)
	if inTask && a.Retried >= a.MaxRetry-1 {
		reason := fmt.Sprintf("gave up after %d attempts: %v", a.Retried+1, err)
		if aerr := w.abort(ctx, job, reason); !errors.Is(aerr, errStopped) {
			return errors.Join(err, aerr)
		}
		return fmt.Errorf("%s: %w", reason, ErrNoRetry)
	}
	return err
}

// splitRejected sends items [0, n) through send; a batch the API rejects as
// invalid (400/422) is split in halves until the offending items are
// isolated, each given the API's verdict through fail. When both halves of
// the first split repeat the whole batch's verdict word for word, the
// records are not at fault but the job's settings (a model, a dimension or a
// truncation the API refuses): the job aborts with the API's message instead
// of dead-lettering every record at two calls each.
func (d *Deps) splitRejected(ctx context.Context, job string, n int, send func(lo, hi int) error, fail func(i int, verdict *cohere.APIError)) error {
	try := func(lo, hi int) (*cohere.APIError, error) {
		err := send(lo, hi)
		if apiErr, ok := rejected(err); ok {
			return apiErr, nil
		}
		return nil, err
	}
	verdict, err := try(0, n)
	if err != nil || verdict == nil {
		return err
	}
	if n == 1 {
		fail(0, verdict)
		return nil
	}
	mid := n / 2
	left, err := try(0, mid)
	if err != nil {
		return err
	}
	right, err := try(mid, n)
	if err != nil {
		return err
	}
	if mid >= 2 && left != nil && right != nil && sameVerdict(left, verdict) && sameVerdict(right, verdict) {
		return d.abort(ctx, job, fmt.Sprintf("the API rejects the job's settings (%d): %s", verdict.StatusCode, verdict.Message))
	}
	if left != nil {
		if err := isolate(try, fail, 0, mid, left); err != nil {
			return err
		}
	}
	if right != nil {
		return isolate(try, fail, mid, n, right)
	}
	return nil
}

// isolate halves the rejected range [lo, hi) until each rejected item stands
// alone.
func isolate(try func(lo, hi int) (*cohere.APIError, error), fail func(int, *cohere.APIError), lo, hi int, verdict *cohere.APIError) error {
	if hi-lo == 1 {
		fail(lo, verdict)
		return nil
	}
	mid := (lo + hi) / 2
	for _, r := range [][2]int{{lo, mid}, {mid, hi}} {
		v, err := try(r[0], r[1])
		if err != nil {
			return err
		}
		if v != nil {
			if err := isolate(try, fail, r[0], r[1], v); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameVerdict(a, b *cohere.APIError) bool {
	return a.StatusCode == b.StatusCode && a.Message == b.Message
}

// rejectedReason is the dead letter of an item the API rejected.
func rejectedReason(v *cohere.APIError) string {
	return fmt.Sprintf("rejected by the API (%d): %s", v.StatusCode, v.Message)
}
