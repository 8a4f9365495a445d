package cohere

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestCreateRetries: a create call is resent after a 429 (nothing was
// created) and never after a 5xx or a broken answer (the object may
// exist); the error still says the call may be tried again.
func TestCreateRetries(t *testing.T) {
	t.Parallel()
	const batchBody = `{"batch":{"id":"b1","name":"n","status":"BATCH_STATUS_QUEUED"}}`
	const jobBody = `{"job_id":"j1"}`
	creates := map[string]func(*Client) error{
		"batch": func(c *Client) error {
			_, err := c.CreateBatch(context.Background(), &CreateBatchRequest{Name: "n", InputDatasetID: "d", Model: "m"})
			return err
		},
		"embed job": func(c *Client) error {
			_, err := c.CreateEmbedJob(context.Background(), &CreateEmbedJobRequest{Name: "n", Model: "m", DatasetID: "d", InputType: InputSearchDocument})
			return err
		},
	}
	for name, create := range creates {
		ok := batchBody
		if name == "embed job" {
			ok = jobBody
		}
		for _, tc := range []struct {
			first     http.HandlerFunc
			wantCalls int
			wantErr   bool
			retryable bool
		}{
			{serveJSON(429, `{"message":"too many requests"}`), 2, false, false},
			{serveJSON(503, `{"message":"unavailable"}`), 1, true, true},
			{serveJSON(500, `{"message":"internal"}`), 1, true, true},
			// A broken 200 answer: created, and nothing to retry.
			{serveJSON(200, `{"batch":`), 1, true, false},
		} {
			b := setup(t, sequence(tc.first, serveJSON(200, ok)))
			err := create(b.client)
			if calls := len(b.requests()); calls != tc.wantCalls || (err != nil) != tc.wantErr {
				t.Errorf("%s: %d calls, err %v; want %d calls", name, calls, err, tc.wantCalls)
			}
			if tc.wantErr && (IsRetryable(err) != tc.retryable || !strings.Contains(err.Error(), "look it up by name")) {
				t.Errorf("%s: err %v, want retryable %v and to say to look the object up", name, err, tc.retryable)
			}
		}
	}

	// A connection never made created nothing: it is retried.
	b := setup(t, serveJSON(200, batchBody))
	b.srv.Close()
	err := creates["batch"](b.client)
	if err == nil || len(b.waits()) != DefaultMaxAttempts-1 || strings.Contains(err.Error(), "look it up") {
		t.Errorf("refused: err %v after %d waits", err, len(b.waits()))
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		t.Errorf("refused: err %v is an APIError", err)
	}
}
