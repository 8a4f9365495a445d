package pipeline

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cobatch/cobatch/cohere"
)

// Limiter endpoints of the async route: each counts requests, as the API
// does (ratelimit.Defaults gives their documented limits).
const (
	endpointDatasets  = "datasets"
	endpointEmbedJobs = "embed-jobs"
	endpointBatches   = "batches"
)

// Every request the async route makes of the API goes through paced (or,
// for an upload, createDataset): it takes one unit of its endpoint's shared
// limiter, as the sync route's calls do (call.go). A 429 lowers the shared
// rate and the request waits and is sent again, for as long as ctx allows;
// a 429 proves the request was not acted on, so this holds for creates too.
// The output parts are read from download URLs, which are not API requests:
// they are not paced.

// paced makes the request do(ctx, arg) to endpoint through its limiter.
func paced[A, R any](ctx context.Context, d *Deps, endpoint string, do func(context.Context, A) (R, error), arg A) (r R, err error) {
	for {
		var throttled bool
		throttled, err = d.paceOnce(ctx, endpoint, func(ctx context.Context) error { r, err = do(ctx, arg); return err })
		if !throttled {
			return r, err
		}
	}
}

// noResult adapts a request that answers nothing for paced.
func noResult[A any](do func(context.Context, A) error) func(context.Context, A) (struct{}, error) {
	return func(ctx context.Context, a A) (struct{}, error) { return struct{}{}, do(ctx, a) }
}

// paceOnce sends one request through endpoint's limiter; throttled reports
// a 429 that has been waited out, for the caller to send it again.
func (d *Deps) paceOnce(ctx context.Context, endpoint string, call func(ctx context.Context) error) (throttled bool, err error) {
	if d.Limiter == nil {
		return false, call(ctx)
	}
	grant, err := d.Limiter(endpoint).Acquire(ctx, 1)
	if err != nil {
		return false, err
	}
	err = call(ctx)
	switch {
	case cohere.IsRateLimited(err) && !fatal(err):
		if werr := grant.Throttled(ctx, retryAfter(err)); werr != nil {
			return false, werr
		}
		return true, err
	case err != nil && uncounted(err):
		grant.Unused(ctx)
	default:
		grant.Sent(ctx)
	}
	return false, err
}

// createDataset uploads a dataset through the datasets limiter. The body
// streams once: a 429 ends the call (the reader is spent).
func (w *Worker) createDataset(ctx context.Context, dp cohere.DatasetCreateParams, data io.Reader, filename string) (id string, err error) {
	var callErr error
	_, err = w.paceOnce(ctx, endpointDatasets, func(ctx context.Context) error {
		id, callErr = w.Async.CreateDataset(ctx, dp, data, filename)
		return callErr
	})
	// The API's answer (a 429 included) rather than an error waiting out
	// the 429: the caller looks the dataset up by name either way.
	if callErr != nil {
		return id, callErr
	}
	return id, err
}

// retryAfter is the Retry-After of an API error (0 when none).
func retryAfter(err error) time.Duration {
	var apiErr *cohere.APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}
