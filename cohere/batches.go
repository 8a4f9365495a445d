package cohere

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Batch statuses. Others the API adds pass through as strings.
const (
	BatchStatusUnspecified = "BATCH_STATUS_UNSPECIFIED"
	BatchStatusQueued      = "BATCH_STATUS_QUEUED"
	BatchStatusInProgress  = "BATCH_STATUS_IN_PROGRESS"
	BatchStatusCanceling   = "BATCH_STATUS_CANCELING"
	BatchStatusCompleted   = "BATCH_STATUS_COMPLETED"
	BatchStatusFailed      = "BATCH_STATUS_FAILED"
	BatchStatusCanceled    = "BATCH_STATUS_CANCELED"
)

// CreateBatchRequest is the body of POST /v2/batches. The input dataset is
// of type batch-embed-v2-input or batch-chat-v2-input (see
// BatchChatWriter), lines {"custom_id", "body"}.
type CreateBatchRequest struct {
	Name           string `json:"name"`
	InputDatasetID string `json:"input_dataset_id"`
	Model          string `json:"model"`
}

// Batch is a batch job. The API sends its int64 counters as strings; Int64
// takes both forms.
type Batch struct {
	ID                   string    `json:"id"`
	Name                 string    `json:"name"`
	CreatorID            string    `json:"creator_id"`
	OrgID                string    `json:"org_id"`
	Status               string    `json:"status"`
	CreatedAt            Timestamp `json:"created_at"`
	UpdatedAt            Timestamp `json:"updated_at"`
	InputDatasetID       string    `json:"input_dataset_id"`
	OutputDatasetID      string    `json:"output_dataset_id"`
	InputTokens          Int64     `json:"input_tokens"`
	OutputTokens         Int64     `json:"output_tokens"`
	Model                string    `json:"model"`
	NumRecords           Int64     `json:"num_records"`
	NumSuccessfulRecords Int64     `json:"num_successful_records"`
	NumFailedRecords     Int64     `json:"num_failed_records"`
	StatusReason         string    `json:"status_reason"`
}

// ListBatchesParams pages GET /v2/batches. Zero values are not sent.
type ListBatchesParams struct {
	// PageSize: the API returns at most 50 when unset, 1000 at most.
	PageSize  int
	PageToken string
	// OrderBy is "created_at" or "updated_at".
	OrderBy string
}

// ListBatchesResponse is one page; NextPageToken is empty on the last.
type ListBatchesResponse struct {
	Batches       []Batch `json:"batches"`
	NextPageToken string  `json:"next_page_token"`
}

// CreateBatch calls POST /v2/batches. It is retried only on errors that
// prove no batch was created (see create.go): after any other error, find
// the batch by name (FindBatch) before creating it again.
func (c *Client) CreateBatch(ctx context.Context, req *CreateBatchRequest) (*Batch, error) {
	if req == nil {
		return nil, fmt.Errorf("cohere: create batch: nil request")
	}
	var resp struct {
		Batch Batch `json:"batch"`
	}
	if err := c.create(ctx, http.MethodPost, "/v2/batches", req, &resp); err != nil {
		return nil, err
	}
	return &resp.Batch, nil
}

// GetBatch calls GET /v2/batches/{id}.
func (c *Client) GetBatch(ctx context.Context, id string) (*Batch, error) {
	var resp struct {
		Batch Batch `json:"batch"`
	}
	if err := c.call(ctx, http.MethodGet, "/v2/batches/"+pathEscape(id), nil, nil, &resp); err != nil {
		return nil, err
	}
	return &resp.Batch, nil
}

// ListBatches calls GET /v2/batches for one page.
func (c *Client) ListBatches(ctx context.Context, p ListBatchesParams) (*ListBatchesResponse, error) {
	q := url.Values{}
	if p.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(p.PageSize))
	}
	if p.PageToken != "" {
		q.Set("page_token", p.PageToken)
	}
	if p.OrderBy != "" {
		q.Set("order_by", p.OrderBy)
	}
	resp := new(ListBatchesResponse)
	if err := c.call(ctx, http.MethodGet, "/v2/batches", q, nil, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// AllBatches walks every page from p.PageToken on. It stops at the first
// error, which it yields.
func (c *Client) AllBatches(ctx context.Context, p ListBatchesParams) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for {
			page, err := c.ListBatches(ctx, p)
			if err != nil {
				yield(Batch{}, err)
				return
			}
			for _, b := range page.Batches {
				if !yield(b, nil) {
					return
				}
			}
			// A repeated token would loop forever.
			if page.NextPageToken == "" || page.NextPageToken == p.PageToken {
				return
			}
			p.PageToken = page.NextPageToken
		}
	}
}

// CancelBatch calls POST /v2/batches/{id}:cancel.
func (c *Client) CancelBatch(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/v2/batches/"+pathEscape(id)+":cancel", nil, nil, nil)
}
