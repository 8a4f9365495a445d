package cohere

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Dataset types the pipeline uses. Others pass through as strings.
const (
	DatasetEmbedInput        = "embed-input"
	DatasetEmbedResult       = "embed-result"
	DatasetBatchEmbedV2Input = "batch-embed-v2-input"
)

// Dataset validation statuses.
const (
	DatasetUnknown    = "unknown"
	DatasetQueued     = "queued"
	DatasetProcessing = "processing"
	DatasetFailed     = "failed"
	DatasetValidated  = "validated"
	DatasetSkipped    = "skipped"
)

// Dataset is an uploaded (or job-produced) dataset.
type Dataset struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	CreatedAt          Timestamp     `json:"created_at"`
	UpdatedAt          Timestamp     `json:"updated_at"`
	DatasetType        string        `json:"dataset_type"`
	ValidationStatus   string        `json:"validation_status"`
	ValidationError    string        `json:"validation_error"`
	Schema             string        `json:"schema"`
	RequiredFields     []string      `json:"required_fields"`
	PreserveFields     []string      `json:"preserve_fields"`
	DatasetParts       []DatasetPart `json:"dataset_parts"`
	ValidationWarnings []string      `json:"validation_warnings"`
	ParseInfo          *ParseInfo    `json:"parse_info,omitempty"`
	// Metrics is kept raw: its shape depends on the dataset type.
	Metrics json.RawMessage `json:"metrics,omitempty"`
}

// DatasetPart is one file of a dataset. URL is pre-signed and may point to
// another host than the API; [Client.ReadDatasetPart] reads it.
type DatasetPart struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	Index       Int64    `json:"index"`
	SizeBytes   Int64    `json:"size_bytes"`
	NumRows     Int64    `json:"num_rows"`
	OriginalURL string   `json:"original_url"`
	Samples     []string `json:"samples"`
}

// ParseInfo says how a text or CSV upload was split.
type ParseInfo struct {
	Separator string `json:"separator"`
	Delimiter string `json:"delimiter"`
}

// DatasetCreateParams are the query parameters of POST /v1/datasets.
type DatasetCreateParams struct {
	// Name and Type are required; Type is e.g. "embed-input".
	Name string
	Type string
	// KeepFields must exist in every row; OptionalFields may be missing.
	KeepFields         []string
	OptionalFields     []string
	KeepOriginalFile   bool
	SkipMalformedInput bool
	TextSeparator      string
	CSVDelimiter       string
	// EvalData, if set, is sent as the "eval_data" part under EvalFilename.
	EvalData     io.Reader
	EvalFilename string
}

// ListDatasetsParams filters GET /v1/datasets. Zero values are not sent.
type ListDatasetsParams struct {
	DatasetType      string
	Before, After    time.Time
	Limit, Offset    int
	ValidationStatus string
}

// CreateDataset uploads data as the multipart part "data" named filename
// (its extension, .jsonl or .csv, tells the API the format) and returns
// the new dataset's id. The body is streamed, never held in memory, so it
// may be as large as the API accepts (1.5 GB).
//
// Retries: only errors that prove no dataset was created (a 429, a
// connection never made; see create.go) are retried; after any other,
// find the dataset by name (FindDataset) before uploading it again. A
// retry after data was read needs data (and EvalData) to implement
// io.Seeker, to seek back to where they started; otherwise the error is
// returned and the caller re-opens the file. Config.Timeout applies as an
// inactivity timeout, not to the whole upload.
func (c *Client) CreateDataset(ctx context.Context, p DatasetCreateParams, data io.Reader, filename string) (string, error) {
	const op = "POST /v1/datasets"
	switch {
	case p.Name == "":
		return "", fmt.Errorf("cohere: %s: Name is required", op)
	case p.Type == "":
		return "", fmt.Errorf("cohere: %s: Type is required", op)
	case data == nil:
		return "", fmt.Errorf("cohere: %s: data is nil", op)
	case filename == "":
		return "", fmt.Errorf("cohere: %s: filename is required", op)
	case p.EvalData != nil && p.EvalFilename == "":
		return "", fmt.Errorf("cohere: %s: EvalFilename is required with EvalData", op)
	}
	up := &upload{parts: []*uploadPart{{field: "data", filename: filename, r: data}}}
	if p.EvalData != nil {
		up.parts = append(up.parts, &uploadPart{field: "eval_data", filename: p.EvalFilename, r: p.EvalData})
	}
	if err := up.mark(); err != nil {
		return "", fmt.Errorf("cohere: %s: %w", op, err)
	}
	q := datasetQuery(p)
	var resp struct {
		ID string `json:"id"`
	}
	first := true
	err := c.retry(ctx, op, func(ctx context.Context) error {
		if !first {
			if err := up.rewind(); err != nil {
				return err
			}
		}
		first = false
		err := createError(c.uploadAttempt(ctx, c.endpoint("/v1/datasets", q), up, &resp))
		if err != nil && !up.resendable() {
			return &finalError{err: err, note: "not resent: the data was partly read and is not an io.Seeker"}
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

func datasetQuery(p DatasetCreateParams) url.Values {
	q := url.Values{}
	q.Set("name", p.Name)
	q.Set("type", p.Type)
	for _, f := range p.KeepFields {
		q.Add("keep_fields", f)
	}
	for _, f := range p.OptionalFields {
		q.Add("optional_fields", f)
	}
	if p.KeepOriginalFile {
		q.Set("keep_original_file", "true")
	}
	if p.SkipMalformedInput {
		q.Set("skip_malformed_input", "true")
	}
	if p.TextSeparator != "" {
		q.Set("text_separator", p.TextSeparator)
	}
	if p.CSVDelimiter != "" {
		q.Set("csv_delimiter", p.CSVDelimiter)
	}
	return q
}

// GetDataset calls GET /v1/datasets/{id}.
func (c *Client) GetDataset(ctx context.Context, id string) (*Dataset, error) {
	var resp struct {
		Dataset Dataset `json:"dataset"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/datasets/"+pathEscape(id), nil, nil, &resp); err != nil {
		return nil, err
	}
	return &resp.Dataset, nil
}

// ListDatasets calls GET /v1/datasets.
func (c *Client) ListDatasets(ctx context.Context, p ListDatasetsParams) ([]Dataset, error) {
	q := url.Values{}
	if p.DatasetType != "" {
		q.Set("datasetType", p.DatasetType)
	}
	if !p.Before.IsZero() {
		q.Set("before", p.Before.UTC().Format(time.RFC3339Nano))
	}
	if !p.After.IsZero() {
		q.Set("after", p.After.UTC().Format(time.RFC3339Nano))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(p.Offset))
	}
	if p.ValidationStatus != "" {
		q.Set("validationStatus", p.ValidationStatus)
	}
	var resp struct {
		Datasets []Dataset `json:"datasets"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/datasets", q, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Datasets, nil
}

// DeleteDataset calls DELETE /v1/datasets/{id}.
func (c *Client) DeleteDataset(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/datasets/"+pathEscape(id), nil, nil, nil)
}

// DatasetUsage calls GET /v1/datasets/usage and returns the organisation's
// dataset storage use in bytes.
func (c *Client) DatasetUsage(ctx context.Context) (int64, error) {
	var resp struct {
		OrganizationUsage Int64 `json:"organization_usage"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/datasets/usage", nil, nil, &resp); err != nil {
		return 0, err
	}
	return int64(resp.OrganizationUsage), nil
}

// finalError stops the retry loop without changing what the error says to
// IsRetryable: the caller may still retry with a fresh reader.
type finalError struct {
	err  error
	note string
}

func (e *finalError) Error() string {
	if e.note == "" {
		return e.err.Error()
	}
	return e.err.Error() + " (" + e.note + ")"
}
func (e *finalError) Unwrap() error { return e.err }
