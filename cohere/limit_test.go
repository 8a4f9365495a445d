package cohere

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// TestResponseAnnouncingHugeLengthAllocatesNothingOfIt: a server announcing
// a 700 MB body costs the client a few kilobytes, not 700 MB, and the call
// fails with an error naming the limit. Not parallel: it measures the
// process's allocations.
func TestResponseAnnouncingHugeLengthAllocatesNothingOfIt(t *testing.T) {
	b := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "700000000")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"id":"x","embeddings":{"float":[[1]]},"texts":["a"]}`)
	}, func(c *Config) { c.Retry.MaxAttempts = 1 })
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := b.client.Embed(context.Background(), &EmbedRequest{Model: "embed-v4.0", InputType: InputSearchDocument, Texts: []string{"a"}})
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("the call allocated %d MB", grown>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "700000000 bytes") || !strings.Contains(err.Error(), "67108864") {
		t.Errorf("err = %v, want one naming the announced length and the limit", err)
	}
}

// TestResponseBodyLimit: a body without a length that runs past
// MaxResponseBytes is cut there, and the call fails without a retry.
func TestResponseBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"id":"x","embeddings":{"float":[[`)
		for range 300000 {
			_, _ = io.WriteString(w, "0.125,")
		}
		_, _ = io.WriteString(w, `1]]},"texts":["a"]}`)
	}, func(c *Config) { c.MaxResponseBytes = 1 << 20 })
	_, err := b.client.Embed(context.Background(), &EmbedRequest{Model: "embed-v4.0", InputType: InputSearchDocument, Texts: []string{"a"}})
	if err == nil || !strings.Contains(err.Error(), "response body exceeds 1048576 bytes") {
		t.Errorf("err = %v, want the limit named", err)
	}
	if n := len(b.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (an oversized body is not retried)", n)
	}
	if _, err := New(Config{APIKey: "k", MaxResponseBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxResponseBytes") {
		t.Errorf("New with a negative MaxResponseBytes: %v", err)
	}
}
