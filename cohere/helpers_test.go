package cohere

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKey    = "test-key-0123456789abcdef"
	testPrefix = "/prefix"
)

// recorded is one request the test server received.
type recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// bundle is what setup gives a test: a server mounted under a non-empty
// base path (so that absolute-path bugs fail), a client pointed at it whose
// retry waits are recorded instead of slept, and what the server saw.
type bundle struct {
	srv    *httptest.Server
	client *Client

	mu     sync.Mutex
	reqs   []recorded
	sleeps []time.Duration
}

func (b *bundle) requests() []recorded {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]recorded(nil), b.reqs...)
}

func (b *bundle) waits() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.sleeps...)
}

// setup serves h under testPrefix; requests outside it get 418 so that a
// client ignoring the prefix fails loudly.
func setup(t *testing.T, h http.HandlerFunc, tweak ...func(*Config)) *bundle {
	t.Helper()
	b := &bundle{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		b.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, testPrefix+"/") {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, testPrefix)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h(w, r)
	}))
	t.Cleanup(b.srv.Close)
	cfg := Config{
		BaseURL: b.srv.URL + testPrefix,
		APIKey:  testKey,
		Timeout: 5 * time.Second,
		Retry: RetryPolicy{
			Jitter: func(ceiling time.Duration) time.Duration { return ceiling },
			Sleep: func(ctx context.Context, d time.Duration) error {
				b.mu.Lock()
				b.sleeps = append(b.sleeps, d)
				b.mu.Unlock()
				return ctx.Err()
			},
		},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.client = c
	return b
}

// serveJSON answers every request with status and body.
func serveJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// sequence answers the n-th request with handlers[n], repeating the last.
func sequence(handlers ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(n, len(handlers)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonFields decodes a JSON object for field-by-field comparison.
func jsonFields(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}
