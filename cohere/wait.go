package cohere

import (
	"context"
	"fmt"
	"time"
)

// WaitDataset polls GetDataset every interval until validation ends. It
// returns the dataset once validated (or skipped), and an error that
// carries the API's validation error if validation failed.
func (c *Client) WaitDataset(ctx context.Context, id string, interval time.Duration) (*Dataset, error) {
	for {
		d, err := c.GetDataset(ctx, id)
		if err != nil {
			return nil, err
		}
		switch d.ValidationStatus {
		case DatasetValidated, DatasetSkipped:
			return d, nil
		case DatasetFailed:
			return d, fmt.Errorf("cohere: dataset %s: validation failed: %s", id, d.ValidationError)
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return d, fmt.Errorf("cohere: dataset %s: still %s: %w", id, d.ValidationStatus, err)
		}
	}
}

// WaitEmbedJob polls GetEmbedJob every interval until the job ends. It
// returns the job once complete, and an error if it failed or was
// cancelled.
func (c *Client) WaitEmbedJob(ctx context.Context, id string, interval time.Duration) (*EmbedJob, error) {
	for {
		j, err := c.GetEmbedJob(ctx, id)
		if err != nil {
			return nil, err
		}
		switch j.Status {
		case EmbedJobComplete:
			return j, nil
		case EmbedJobFailed, EmbedJobCancelled:
			return j, fmt.Errorf("cohere: embed job %s: %s", id, j.Status)
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return j, fmt.Errorf("cohere: embed job %s: still %s: %w", id, j.Status, err)
		}
	}
}
