package cohere

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	t.Parallel()
	statuses := func(body string, values ...string) http.HandlerFunc {
		var n atomic.Int32
		return func(w http.ResponseWriter, r *http.Request) {
			i := min(int(n.Add(1))-1, len(values)-1)
			serveJSON(200, fmt.Sprintf(body, values[i]))(w, r)
		}
	}
	const ds = `{"dataset":{"id":"d","validation_status":%q,"validation_error":"bad row 3"}}`
	const job = `{"job_id":"j","status":%q}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wait    func(c *Client) (string, error)
		want    string
		wantErr string
		polls   int
	}{
		{"dataset validated", statuses(ds, "queued", "processing", "validated"), func(c *Client) (string, error) {
			d, err := c.WaitDataset(t.Context(), "d", time.Millisecond)
			return d.ValidationStatus, err
		}, "validated", "", 3},
		{"dataset failed", statuses(ds, "processing", "failed"), func(c *Client) (string, error) {
			d, err := c.WaitDataset(t.Context(), "d", time.Millisecond)
			return d.ValidationStatus, err
		}, "failed", "validation failed: bad row 3", 2},
		{"job complete", statuses(job, "processing", "complete"), func(c *Client) (string, error) {
			j, err := c.WaitEmbedJob(t.Context(), "j", time.Millisecond)
			return j.Status, err
		}, "complete", "", 2},
		{"job cancelled", statuses(job, "cancelling", "cancelled"), func(c *Client) (string, error) {
			j, err := c.WaitEmbedJob(t.Context(), "j", time.Millisecond)
			return j.Status, err
		}, "cancelled", "embed job j: cancelled", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.handler)
			got, err := tt.wait(b.client)
			if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %q, %v; want %q, %q", got, err, tt.want, tt.wantErr)
			}
			if n := len(b.requests()); n != tt.polls {
				t.Errorf("polls = %d, want %d", n, tt.polls)
			}
		})
	}
	t.Run("context ends the wait", func(t *testing.T) {
		t.Parallel()
		b := setup(t, statuses(job, "processing"))
		// Long enough for the first poll to come back on a loaded machine;
		// the next poll is an hour away, so the deadline ends the wait.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := b.client.WaitEmbedJob(ctx, "j", time.Hour)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still processing") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestAllBatchesPages(t *testing.T) {
	t.Parallel()
	b := setup(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page_token") {
		case "":
			serveJSON(200, `{"batches":[{"id":"1","input_tokens":"10"},{"id":"2"}],"next_page_token":"p2"}`)(w, r)
		case "p2":
			serveJSON(200, `{"batches":[{"id":"3","num_records":"7"}]}`)(w, r)
		}
	})
	var ids []string
	var tokens, records int64
	for batch, err := range b.client.AllBatches(t.Context(), ListBatchesParams{PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, batch.ID)
		tokens += int64(batch.InputTokens)
		records += int64(batch.NumRecords)
	}
	if strings.Join(ids, ",") != "1,2,3" || tokens != 10 || records != 7 {
		t.Errorf("ids %v tokens %d records %d", ids, tokens, records)
	}
	reqs := b.requests()
	if len(reqs) != 2 || reqs[0].Query != "page_size=2" || reqs[1].Query != "page_size=2&page_token=p2" {
		t.Errorf("queries: %+v", reqs)
	}
}
