package pipeline

import (
	"context"
	"errors"
	"io"
	"iter"
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

// async returns the worker's async client with every request waiting on the
// shared limiter of its endpoint, as the sync route's calls do (call.go).
func (w *Worker) async() AsyncAPI {
	if w.Limiter == nil {
		return w.Async
	}
	return pacedAsync{api: w.Async, limiter: w.Limiter}
}

// pacedAsync is an AsyncAPI whose requests each take one unit of their
// endpoint's limiter. A 429 lowers the shared rate and the request waits
// and is sent again, for as long as ctx allows; a 429 proves the request
// was not acted on, so this holds for creates too.
type pacedAsync struct {
	api     AsyncAPI
	limiter func(endpoint string) Limiter
}

var _ AsyncAPI = pacedAsync{}

func (p pacedAsync) pace(ctx context.Context, endpoint string, call func(ctx context.Context) error) error {
	lim := p.limiter(endpoint)
	for {
		grant, err := lim.Acquire(ctx, 1)
		if err != nil {
			return err
		}
		err = call(ctx)
		switch {
		case cohere.IsRateLimited(err) && !fatal(err):
			if err := grant.Throttled(ctx, retryAfter(err)); err != nil {
				return err
			}
			continue
		case err != nil && uncounted(err):
			grant.Unused(ctx)
		default:
			grant.Sent(ctx)
		}
		return err
	}
}

// paced makes the call do(ctx, arg) through pace.
func paced[A, R any](ctx context.Context, p pacedAsync, endpoint string, do func(context.Context, A) (R, error), arg A) (r R, err error) {
	err = p.pace(ctx, endpoint, func(ctx context.Context) error { r, err = do(ctx, arg); return err })
	return r, err
}

func (p pacedAsync) CreateDataset(ctx context.Context, dp cohere.DatasetCreateParams, data io.Reader, filename string) (id string, err error) {
	// The body streams once: a 429 ends the call (the reader is spent).
	lim := p.limiter(endpointDatasets)
	grant, err := lim.Acquire(ctx, 1)
	if err != nil {
		return "", err
	}
	id, err = p.api.CreateDataset(ctx, dp, data, filename)
	switch {
	case cohere.IsRateLimited(err) && !fatal(err):
		_ = grant.Throttled(ctx, retryAfter(err))
	case err != nil && uncounted(err):
		grant.Unused(ctx)
	default:
		grant.Sent(ctx)
	}
	return id, err
}

func (p pacedAsync) GetDataset(ctx context.Context, id string) (*cohere.Dataset, error) {
	return paced(ctx, p, endpointDatasets, p.api.GetDataset, id)
}

func (p pacedAsync) ListDatasets(ctx context.Context, lp cohere.ListDatasetsParams) ([]cohere.Dataset, error) {
	return paced(ctx, p, endpointDatasets, p.api.ListDatasets, lp)
}

func (p pacedAsync) FindDataset(ctx context.Context, name, typ string) (d *cohere.Dataset, err error) {
	err = p.pace(ctx, endpointDatasets, func(ctx context.Context) error { d, err = p.api.FindDataset(ctx, name, typ); return err })
	return d, err
}

func (p pacedAsync) DeleteDataset(ctx context.Context, id string) error {
	return p.pace(ctx, endpointDatasets, func(ctx context.Context) error { return p.api.DeleteDataset(ctx, id) })
}

func (p pacedAsync) CreateEmbedJob(ctx context.Context, req *cohere.CreateEmbedJobRequest) (*cohere.CreateEmbedJobResponse, error) {
	return paced(ctx, p, endpointEmbedJobs, p.api.CreateEmbedJob, req)
}

func (p pacedAsync) GetEmbedJob(ctx context.Context, id string) (*cohere.EmbedJob, error) {
	return paced(ctx, p, endpointEmbedJobs, p.api.GetEmbedJob, id)
}

func (p pacedAsync) ListEmbedJobs(ctx context.Context) (js []cohere.EmbedJob, err error) {
	err = p.pace(ctx, endpointEmbedJobs, func(ctx context.Context) error { js, err = p.api.ListEmbedJobs(ctx); return err })
	return js, err
}

func (p pacedAsync) FindEmbedJob(ctx context.Context, name string) (*cohere.EmbedJob, error) {
	return paced(ctx, p, endpointEmbedJobs, p.api.FindEmbedJob, name)
}

func (p pacedAsync) CancelEmbedJob(ctx context.Context, id string) error {
	return p.pace(ctx, endpointEmbedJobs, func(ctx context.Context) error { return p.api.CancelEmbedJob(ctx, id) })
}

func (p pacedAsync) CreateBatch(ctx context.Context, req *cohere.CreateBatchRequest) (*cohere.Batch, error) {
	return paced(ctx, p, endpointBatches, p.api.CreateBatch, req)
}

func (p pacedAsync) GetBatch(ctx context.Context, id string) (*cohere.Batch, error) {
	return paced(ctx, p, endpointBatches, p.api.GetBatch, id)
}

// AllBatches takes one unit for the listing; its later pages, rare at the
// page size the route asks for, are not paced.
func (p pacedAsync) AllBatches(ctx context.Context, lp cohere.ListBatchesParams) iter.Seq2[cohere.Batch, error] {
	return func(yield func(cohere.Batch, error) bool) {
		grant, err := p.limiter(endpointBatches).Acquire(ctx, 1)
		if err != nil {
			yield(cohere.Batch{}, err)
			return
		}
		defer grant.Sent(ctx)
		for b, err := range p.api.AllBatches(ctx, lp) {
			if !yield(b, err) {
				return
			}
		}
	}
}

func (p pacedAsync) FindBatch(ctx context.Context, name string) (*cohere.Batch, error) {
	return paced(ctx, p, endpointBatches, p.api.FindBatch, name)
}

func (p pacedAsync) CancelBatch(ctx context.Context, id string) error {
	return p.pace(ctx, endpointBatches, func(ctx context.Context) error { return p.api.CancelBatch(ctx, id) })
}

// The outputs are read from the output dataset's download URLs, which are
// not API requests: they are not paced, and a part read half-way is never
// read again from here.
func (p pacedAsync) ReadEmbedJobOutput(ctx context.Context, rawURL string, fn func(cohere.EmbedJobRow) error) error {
	return p.api.ReadEmbedJobOutput(ctx, rawURL, fn)
}

func (p pacedAsync) ReadBatchOutput(ctx context.Context, rawURL string, fn func(cohere.BatchOutputRow) error) error {
	return p.api.ReadBatchOutput(ctx, rawURL, fn)
}

func (p pacedAsync) ReadBatchChatOutput(ctx context.Context, rawURL string, fn func(cohere.BatchChatResult) error) error {
	return p.api.ReadBatchChatOutput(ctx, rawURL, fn)
}

// retryAfter is the Retry-After of an API error (0 when none).
func retryAfter(err error) time.Duration {
	var apiErr *cohere.APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}
