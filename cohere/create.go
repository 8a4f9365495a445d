package cohere

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
)

// Creating a dataset, an embed job or a batch is not idempotent: when the
// answer to a create call is lost (a 5xx, a timeout, a reset connection),
// the server may have created the object all the same, and a second call
// would create, and bill, a second one. So the client retries a create
// call only when the error proves the server did not act on it: a rate
// limit (429) or a connection that was never made. Any other failure is
// returned at once; the caller gives each object a name of its own and
// looks it up (FindDataset, FindEmbedJob, FindBatch) before creating it
// again.

// create is call for a create endpoint: see above for its retries.
func (c *Client) create(ctx context.Context, method, path string, in, out any) error {
	r := &request{method: method, path: path, out: out}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("cohere: %s: encode request: %w", r.op(), err)
	}
	r.body = b
	return c.retry(ctx, r.op(), func(ctx context.Context) error { return createError(c.attempt(ctx, r)) })
}

// createError makes a create attempt's error final unless it proves that
// nothing was created. IsRetryable still says what it said: a caller may
// retry after looking the object up.
func createError(err error) error {
	if err == nil || IsRateLimited(err) || notSent(err) {
		return err
	}
	if _, final := errors.AsType[*finalError](err); final {
		return err
	}
	return &finalError{err: err, note: "not resent: the server may have created it; look it up by name"}
}

// notSent reports whether the connection for the request was never made.
func notSent(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// FindDataset returns the earliest dataset named name that has not failed
// validation, or nil when there is none. typ, when not empty, limits the
// search to that dataset type. It reads every page of GET /v1/datasets.
func (c *Client) FindDataset(ctx context.Context, name, typ string) (*Dataset, error) {
	const pageSize = 1000
	var found []Dataset
	seen := map[string]bool{}
	for offset := 0; ; offset += pageSize {
		page, err := c.ListDatasets(ctx, ListDatasetsParams{DatasetType: typ, Limit: pageSize, Offset: offset})
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, d := range page {
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			fresh++
			if d.Name == name && d.ValidationStatus != DatasetFailed {
				found = append(found, d)
			}
		}
		// A server that ignores offset repeats its page: stop there too.
		if len(page) < pageSize || fresh == 0 {
			break
		}
	}
	return earliest(found, func(d Dataset) Timestamp { return d.CreatedAt }), nil
}

// FindEmbedJob returns the earliest embed job named name that has neither
// failed nor been cancelled, or nil when there is none.
func (c *Client) FindEmbedJob(ctx context.Context, name string) (*EmbedJob, error) {
	jobs, err := c.ListEmbedJobs(ctx)
	if err != nil {
		return nil, err
	}
	var found []EmbedJob
	for _, j := range jobs {
		if j.Name == name && j.Status != EmbedJobFailed && j.Status != EmbedJobCancelled &&
			j.Status != EmbedJobCancelling {
			found = append(found, j)
		}
	}
	return earliest(found, func(j EmbedJob) Timestamp { return j.CreatedAt }), nil
}

// FindBatch returns the earliest batch named name that has neither failed
// nor been cancelled, or nil when there is none. It reads every page of
// GET /v2/batches.
func (c *Client) FindBatch(ctx context.Context, name string) (*Batch, error) {
	var found []Batch
	for b, err := range c.AllBatches(ctx, ListBatchesParams{PageSize: 1000}) {
		if err != nil {
			return nil, err
		}
		switch b.Status {
		case BatchStatusFailed, BatchStatusCanceled, BatchStatusCanceling:
			continue
		}
		if b.Name == name {
			found = append(found, b)
		}
	}
	return earliest(found, func(b Batch) Timestamp { return b.CreatedAt }), nil
}

// earliest picks the first created of xs (the first listed on a tie), so
// that every caller adopts the same object when a lost answer left two.
func earliest[T any](xs []T, created func(T) Timestamp) *T {
	if len(xs) == 0 {
		return nil
	}
	i := 0
	for j := range xs {
		if created(xs[j]).Before(created(xs[i]).Time) {
			i = j
		}
	}
	x := xs[i]
	return &x
}
