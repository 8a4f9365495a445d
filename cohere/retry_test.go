package cohere

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const monthlyCapMessage = "You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		status                        int
		message                       string
		attempts                      int
		retryable, rateLimited, fatal bool
	}{
		{"400 bad request", 400, "invalid request: total number of texts must be at most 96 - received 104", 1, false, false, false},
		{"401 unauthorized", 401, "invalid api token", 1, false, false, true},
		{"402 payment required", 402, "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue", 1, false, false, true},
		{"403 forbidden", 403, "forbidden", 1, false, false, false},
		{"404 not found", 404, "model 'xyz' not found, make sure the correct model ID was used and that you have access to the model.", 1, false, false, false},
		{"422 unprocessable", 422, "invalid request", 1, false, false, false},
		{"498 invalid token", 498, "blocked token", 1, false, false, true},
		{"499 cancelled", 499, "request cancelled", 1, false, false, false},
		{"500 server error", 500, "internal error", 4, true, false, false},
		{"501 not implemented", 501, "not implemented", 1, false, false, false},
		{"502 bad gateway", 502, "bad gateway", 4, true, false, false},
		{"503 unavailable", 503, "unavailable", 4, true, false, false},
		{"504 gateway timeout", 504, "timeout", 4, true, false, false},
		{"429 per minute", 429, "You are past the per minute request limit, please wait and try again later.", 4, true, true, false},
		{"429 trial per minute", 429, "You are using a Trial key, which is limited to 40 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'.", 4, true, true, false},
		{"429 trial tokens per minute", 429, "trial token rate limit exceeded, limit is 100000 tokens per minute", 4, true, true, false},
		{"429 monthly cap", 429, monthlyCapMessage, 1, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, serveJSON(tt.status, `{"id":"req-1","message":`+quote(tt.message)+`}`))
			_, err := b.client.Tokenize(context.Background(), &TokenizeRequest{Text: "x", Model: "command"})
			if err == nil {
				t.Fatal("no error")
			}
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("errors.As found no *APIError in %v", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Message != tt.message || apiErr.ID != "req-1" {
				t.Errorf("APIError = %+v", apiErr)
			}
			if got := len(b.requests()); got != tt.attempts {
				t.Errorf("attempts = %d, want %d", got, tt.attempts)
			}
			if got := len(b.waits()); got != tt.attempts-1 {
				t.Errorf("waits = %d, want %d (none after the last attempt)", got, tt.attempts-1)
			}
			if IsRetryable(err) != tt.retryable || IsRateLimited(err) != tt.rateLimited || IsFatal(err) != tt.fatal {
				t.Errorf("IsRetryable=%v IsRateLimited=%v IsFatal=%v, want %v %v %v",
					IsRetryable(err), IsRateLimited(err), IsFatal(err), tt.retryable, tt.rateLimited, tt.fatal)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error contains the API key: %v", err)
			}
		})
	}
}

// TestRetryAfterCappedOnAPIError: a caller that makes its own waits (the
// workers' shared limiter) reads APIError.RetryAfter; it is capped like the
// client's own waits, so no server can pause every worker for hours.
func TestRetryAfterCappedOnAPIError(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"3600", "999999999", "1e9"} {
		b := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", v)
			w.WriteHeader(429)
			_, _ = io.WriteString(w, `{"message":"You are past the per minute request limit, please wait and try again later."}`)
		}, func(c *Config) { c.Retry.NoRetryRateLimited = true })
		_, err := b.client.Tokenize(context.Background(), &TokenizeRequest{Text: "x", Model: "command"})
		apiErr, ok := errors.AsType[*APIError](err)
		if !ok {
			t.Fatalf("Retry-After %s: no *APIError in %v", v, err)
		}
		if apiErr.RetryAfter != 60*time.Second {
			t.Errorf("Retry-After %s: APIError.RetryAfter = %s, want 60s", v, apiErr.RetryAfter)
		}
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func TestRetry(t *testing.T) {
	t.Parallel()
	ok := serveJSON(200, `{"text":"tokenize me! :D"}`)
	unavailable := serveJSON(503, `{"id":"a","message":"unavailable"}`)
	withRetryAfter := func(v string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", v)
			serveJSON(429, `{"id":"b","message":"slow down"}`)(w, r)
		}
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantErr   bool
		wantCalls int
		wantWaits []time.Duration
	}{
		{"503 then 200 succeeds on the second attempt", sequence(unavailable, ok), false, 2, []time.Duration{500 * time.Millisecond}},
		{"backoff doubles and is capped by MaxDelay", unavailable, true, 4, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},
		{"Retry-After seconds honoured", sequence(withRetryAfter("7"), ok), false, 2, []time.Duration{7 * time.Second}},
		{"Retry-After capped by MaxRetryAfter", sequence(withRetryAfter("3600"), ok), false, 2, []time.Duration{60 * time.Second}},
		{"Retry-After HTTP date honoured", sequence(withRetryAfter(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC).Format(http.TimeFormat)), ok), false, 2, []time.Duration{30 * time.Second}},
		{"Retry-After unparseable falls back to backoff", sequence(withRetryAfter("soon"), ok), false, 2, []time.Duration{500 * time.Millisecond}},
		{"400 never retried", serveJSON(400, `{"id":"c","message":"invalid request"}`), true, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.handler)
			b.client.now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
			resp, err := b.client.Detokenize(context.Background(), &DetokenizeRequest{Tokens: []int{1}, Model: "command"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && resp.Text != "tokenize me! :D" {
				t.Errorf("text = %q", resp.Text)
			}
			if got := len(b.requests()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if got := b.waits(); !equalDurations(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			for _, r := range b.requests() {
				if string(r.Body) != `{"tokens":[1],"model":"command"}` {
					t.Errorf("attempt body = %s", r.Body)
				}
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryCancelledContextReturnsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, serveJSON(503, `{"message":"unavailable"}`), func(c *Config) {
		c.Retry.Sleep = nil // the real, context-aware sleep
		c.Retry.Jitter = nil
		c.Retry.BaseDelay = time.Hour
		c.Retry.MaxDelay = time.Hour
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := b.client.CheckAPIKey(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, ok := errors.AsType[*APIError](err); !ok {
		t.Errorf("the last APIError is lost: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %s, want right after cancel", elapsed)
	}
	if IsRetryable(err) {
		t.Error("a cancelled call reported retryable")
	}

	// Already cancelled: no request at all.
	b2 := setup(t, serveJSON(200, `{}`))
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := b2.client.CheckAPIKey(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(b2.requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestRetryStopsBeforeCallerDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, serveJSON(503, `{"message":"unavailable"}`), func(c *Config) {
		c.Retry.BaseDelay = time.Minute
		c.Retry.MaxDelay = time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := b.client.CheckAPIKey(ctx)
	if apiErr, ok := errors.AsType[*APIError](err); !ok || apiErr.StatusCode != 503 {
		t.Fatalf("err = %v, want the 503", err)
	}
	if n, w := len(b.requests()), len(b.waits()); n != 1 || w != 0 {
		t.Errorf("requests = %d, waits = %d; want 1 and 0", n, w)
	}
}

func TestNoRetryRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, serveJSON(429, `{"message":"You are past the per minute request limit, please wait and try again later."}`),
		func(c *Config) { c.Retry.NoRetryRateLimited = true })
	_, err := b.client.CheckAPIKey(context.Background())
	if !IsRateLimited(err) || !IsRetryable(err) {
		t.Fatalf("err = %v: want rate limited and retryable", err)
	}
	if n := len(b.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestRetryNetworkErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	b := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// Drop the connection without an answer.
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		serveJSON(200, `{"valid":true,"organization_id":"org","owner_id":"me"}`)(w, r)
	})
	resp, err := b.client.CheckAPIKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Valid || resp.OrganizationID != "org" || calls.Load() != 2 {
		t.Errorf("resp = %+v after %d calls", resp, calls.Load())
	}

	// Nothing listens: every attempt fails, the error is retryable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var sleeps atomic.Int32
	c, err := New(Config{BaseURL: "http://" + addr + "/p", APIKey: testKey, Retry: RetryPolicy{MaxAttempts: 3,
		Sleep: func(context.Context, time.Duration) error { sleeps.Add(1); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CheckAPIKey(context.Background())
	if err == nil || !IsRetryable(err) || sleeps.Load() != 2 {
		t.Errorf("err = %v (retryable %v), sleeps %d; want a retryable error after 2 waits", err, IsRetryable(err), sleeps.Load())
	}
	if !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("error does not say how many attempts: %v", err)
	}
}

func TestRetryAttemptTimeout(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	b := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		serveJSON(200, `{"organization_usage":"12"}`)(w, r)
	}, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	usage, err := b.client.DatasetUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if usage != 12 || calls.Load() != 2 {
		t.Errorf("usage = %d after %d calls, want 12 after 2", usage, calls.Load())
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, MaxRetryAfter: 5 * time.Second,
		Jitter: func(c time.Duration) time.Duration { return c }}.WithDefaults()
	tests := []struct {
		name       string
		next       int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"second attempt", 2, 0, 100 * time.Millisecond},
		{"third attempt", 3, 0, 200 * time.Millisecond},
		{"fifth attempt", 5, 0, 800 * time.Millisecond},
		{"capped", 9, 0, time.Second},
		{"retry after wins", 2, 3 * time.Second, 3 * time.Second},
		{"retry after capped", 2, time.Hour, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := p.delay(tt.next, tt.retryAfter); got != tt.want {
			t.Errorf("%s: delay = %s, want %s", tt.name, got, tt.want)
		}
	}
	// Full jitter stays below the ceiling.
	p.Jitter = fullJitter
	for range 1000 {
		if d := p.delay(3, 0); d < 0 || d >= 200*time.Millisecond {
			t.Fatalf("jittered delay %s outside [0, 200ms)", d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"-3", 0},
		{"Tue, 01 Jan 2030 00:01:00 GMT", time.Minute},
		{"Mon, 31 Dec 2029 23:00:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
