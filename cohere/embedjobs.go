package cohere

import (
	"context"
	"fmt"
	"net/http"
)

// Embed job statuses. Others the API adds pass through as strings.
const (
	EmbedJobProcessing = "processing"
	EmbedJobComplete   = "complete"
	EmbedJobCancelling = "cancelling"
	EmbedJobCancelled  = "cancelled"
	EmbedJobFailed     = "failed"
)

// CreateEmbedJobRequest is the body of POST /v1/embed-jobs. The dataset
// must be of type embed-input and validated; the docs list v3 models only.
type CreateEmbedJobRequest struct {
	Model          string          `json:"model"`
	DatasetID      string          `json:"dataset_id"`
	InputType      string          `json:"input_type,omitempty"`
	Name           string          `json:"name,omitempty"`
	EmbeddingTypes []EmbeddingType `json:"embedding_types,omitempty"`
	// Truncate is "START" or "END" (the API's default).
	Truncate string `json:"truncate,omitempty"`
}

// CreateEmbedJobResponse carries the new job's id.
type CreateEmbedJobResponse struct {
	JobID string `json:"job_id"`
	Meta  Meta   `json:"meta"`
}

// EmbedJob is an asynchronous embed job. When Status is complete, its
// output is the dataset OutputDatasetID, whose parts [Client.ReadEmbedJobOutput]
// reads.
type EmbedJob struct {
	JobID           string    `json:"job_id"`
	Name            string    `json:"name"`
	Status          string    `json:"status"`
	CreatedAt       Timestamp `json:"created_at"`
	InputDatasetID  string    `json:"input_dataset_id"`
	OutputDatasetID string    `json:"output_dataset_id"`
	Model           string    `json:"model"`
	Truncate        string    `json:"truncate"`
	Meta            Meta      `json:"meta"`
}

// CreateEmbedJob calls POST /v1/embed-jobs. It is retried only on errors
// that prove no job was created (see create.go): after any other error,
// find the job by name (FindEmbedJob) before creating it again.
func (c *Client) CreateEmbedJob(ctx context.Context, req *CreateEmbedJobRequest) (*CreateEmbedJobResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("cohere: create embed job: nil request")
	}
	resp := new(CreateEmbedJobResponse)
	if err := c.create(ctx, http.MethodPost, "/v1/embed-jobs", req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// GetEmbedJob calls GET /v1/embed-jobs/{id}.
func (c *Client) GetEmbedJob(ctx context.Context, id string) (*EmbedJob, error) {
	resp := new(EmbedJob)
	if err := c.call(ctx, http.MethodGet, "/v1/embed-jobs/"+pathEscape(id), nil, nil, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// ListEmbedJobs calls GET /v1/embed-jobs.
func (c *Client) ListEmbedJobs(ctx context.Context) ([]EmbedJob, error) {
	var resp struct {
		EmbedJobs []EmbedJob `json:"embed_jobs"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/embed-jobs", nil, nil, &resp); err != nil {
		return nil, err
	}
	return resp.EmbedJobs, nil
}

// CancelEmbedJob calls POST /v1/embed-jobs/{id}/cancel.
func (c *Client) CancelEmbedJob(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/v1/embed-jobs/"+pathEscape(id)+"/cancel", nil, nil, nil)
}
