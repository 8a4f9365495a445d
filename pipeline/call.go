package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

// callAPI makes one API call through do, waiting first on the endpoint's
// shared limiter for cost units (texts for embed, requests elsewhere), unless
// ctx carries a grant prepaid for it (prepay). do returns the stats the call
// billed (jobstore.StatTokens, jobstore.StatSearchUnits, ...).
//
// A 429 is never a failure: it lowers the shared rate, and the call waits
// and tries again, inside the handler, for as long as the task's context
// allows. A fatal error (outcome.go) aborts the job at once (errStopped). A
// transient error is waited out a few times before it is returned for the
// queue to retry the chunk. Anything else is returned as is, a 400/422
// included, for the caller to isolate the offending record.
func (d *Deps) callAPI(ctx context.Context, job, endpoint string, cost int, do func(ctx context.Context) (map[string]int64, error)) error {
	lim := d.Limiter(endpoint)
	transient := 0
	for {
		grant := prepaid(ctx, endpoint, cost)
		if err := d.mayCall(ctx, job); err != nil {
			if grant != nil {
				grant.Unused(ctx)
			}
			return err
		}
		if grant == nil {
			var err error
			if grant, err = lim.Acquire(ctx, cost); err != nil {
				return err
			}
		}
		d.Metrics.limiterWait(job, endpoint, grant.Waited)
		if grant.Waited > 0 && d.stopped(ctx, job) {
			// Aborted or cancelled while this call waited its turn.
			grant.Unused(ctx)
			return errStopped
		}
		start := time.Now()
		stats, err := do(ctx)
		if uncounted(err) {
			grant.Unused(ctx)
		} else if !cohere.IsRateLimited(err) {
			grant.Sent(ctx)
		}
		if stats == nil || err != nil {
			stats = map[string]int64{}
		}
		stats[jobstore.StatCalls] = 1
		if cohere.IsRateLimited(err) && !fatal(err) {
			stats[jobstore.StatThrottled] = 1
		}
		_ = d.Store.AddStats(ctx, job, stats)
		d.Metrics.observeCall(job, endpoint, lim, err, stats, time.Since(start))
		if err != nil && ctx.Err() == nil && (fatal(err) || !cohere.IsRateLimited(err)) {
			d.Store.RecordError(ctx, job, endpoint+": "+err.Error())
		}
		switch {
		case err == nil:
			return nil
		case fatal(err):
			if cohere.IsRateLimited(err) {
				grant.Unused(ctx) // refused, not counted: a monthly cap's 429
			}
			return d.abort(ctx, job, err.Error())
		case cohere.IsRateLimited(err):
			var apiErr *cohere.APIError
			var retryAfter time.Duration
			if errors.As(err, &apiErr) {
				retryAfter = apiErr.RetryAfter
			}
			if err := grant.Throttled(ctx, retryAfter); err != nil {
				return err
			}
		case transient < handlerRetries && (cohere.IsRetryable(err) || garbled(ctx, err)):
			// The client has already retried briefly. Retrying here keeps
			// the chunk's earlier calls from being paid for again, which a
			// task retry would do. The grant is back with the limiter, so
			// other calls use the budget meanwhile; the jitter keeps calls
			// that failed together from coming back together.
			transient++
			if err := sleep(ctx, rand.N(time.Duration(transient)*time.Second)); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// Call makes one API call of an operation's Process through do, as
// callAPI does for the operations built in: paced by the endpoint's shared
// limiter, 429s waited out, the stats do returns added to the job's, a
// fatal error aborting the job. Process returns the error Call returns,
// unless it is a rejected request (a *cohere.APIError with status 400 or
// 422), which it may dead-letter instead.
func (d *Deps) Call(ctx context.Context, job, endpoint string, cost int, do func(ctx context.Context) (map[string]int64, error)) error {
	return d.callAPI(ctx, job, endpoint, cost, do)
}

// callFor makes the call do(ctx, req) through callAPI and returns its
// response; stats reads off a response what the call billed and counts
// (jobstore.StatTokens, jobstore.StatEmbedded, ...).
func callFor[Req, Resp any](ctx context.Context, d *Deps, job, endpoint string, cost int,
	do func(context.Context, Req) (Resp, error), req Req, stats func(Resp) map[string]int64) (Resp, error) {
	var resp Resp
	err := d.callAPI(ctx, job, endpoint, cost, func(ctx context.Context) (map[string]int64, error) {
		r, err := do(ctx, req)
		if err != nil {
			return nil, err
		}
		resp = r
		return stats(r), nil
	})
	return resp, err
}

// uncounted reports a call the API did not count against the rate limit:
// it failed in the server (5xx) or on the way (a reset, a stalled attempt).
// Its grant goes back to the limiter. A garbled answer or a call the caller
// gave up on may have been counted, so it keeps its grant.
func uncounted(err error) bool {
	var apiErr *cohere.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 500
	}
	return cohere.IsRetryable(err)
}

// garbled reports an answer that could not be understood (a truncated or
// malformed body): not an API error, not the caller giving up. The client
// does not retry it, since the call may have been billed, but the chunk
// still needs the answer.
func garbled(ctx context.Context, err error) bool {
	var apiErr *cohere.APIError
	return err != nil && ctx.Err() == nil && !errors.As(err, &apiErr) && !errors.Is(err, errStopped)
}

// prepayment is a grant taken before the call it pays for (checkpointedCalls
// cuts an embed call to the units the window has room for); the first
// callAPI to its endpoint of its size takes it, and any later attempt
// acquires its own.
type prepayment struct {
	endpoint string
	grant    *ratelimit.Grant
	taken    atomic.Bool
}

type prepaidKey struct{}

func prepay(ctx context.Context, endpoint string, g *ratelimit.Grant) context.Context {
	return context.WithValue(ctx, prepaidKey{}, &prepayment{endpoint: endpoint, grant: g})
}

// prepaid returns the grant prepaid for a call to endpoint of cost units,
// once.
func prepaid(ctx context.Context, endpoint string, cost int) *ratelimit.Grant {
	p, _ := ctx.Value(prepaidKey{}).(*prepayment)
	if p == nil || p.endpoint != endpoint || p.grant.Units() != cost || !p.taken.CompareAndSwap(false, true) {
		return nil
	}
	return p.grant
}

// embedStats is what an embed or classify call billed and did: its input
// tokens, and the texts it embedded, which move the progress bar before
// their chunk is recorded.
func embedStats(tokens float64, texts int) map[string]int64 {
	return map[string]int64{jobstore.StatTokens: int64(tokens), jobstore.StatEmbedded: int64(texts)}
}
