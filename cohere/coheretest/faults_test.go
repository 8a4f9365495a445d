package coheretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func embedBody(texts ...string) map[string]any {
	return map[string]any{"texts": texts, "model": "embed-v4.0", "input_type": "search_document"}
}

func TestRateLimitCountsInputsForEmbed(t *testing.T) {
	t.Parallel()
	s := setup(t, WithRateLimit("embed", 10, time.Hour))
	steps := []struct {
		texts  []string
		status int
	}{
		{[]string{"a", "b", "c", "d", "e", "f"}, 200}, // 6 of 10
		{[]string{"g", "h", "i", "j", "k", "l"}, 429}, // 12 > 10: refused, not counted
		{[]string{"m", "n", "o", "p"}, 200},           // 10 of 10
		{[]string{"q"}, 429},
	}
	for i, st := range steps {
		r := call(t, s, http.MethodPost, "/v2/embed", embedBody(st.texts...))
		if r.status != st.status {
			t.Fatalf("step %d: status %d, want %d: %s", i, r.status, st.status, r.raw)
		}
		if st.status == 429 {
			wantError(t, r, 429, RateLimitMessage)
			if r.header.Get("Retry-After") != "" {
				t.Fatal("429 carries Retry-After by default")
			}
		}
	}
	st := s.Stats()
	if st.RateLimited != 2 || st.EmbeddedTexts != 10 || st.Status[429] != 2 || st.Status[200] != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if s.EmbedCount("g") != 0 {
		t.Fatal("a refused text was counted as embedded")
	}
}

func TestRateLimitRequestsAndWindow(t *testing.T) {
	t.Parallel()
	s := setup(t, WithRateLimit("rerank", 2, 200*time.Millisecond), WithRetryAfter(true))
	body := map[string]any{"model": "rerank-v3.5", "query": "q", "documents": []string{"a", "b", "c"}}
	for i, want := range []int{200, 200, 429} {
		if r := call(t, s, http.MethodPost, "/v2/rerank", body); r.status != want {
			t.Fatalf("call %d: %d, want %d", i, r.status, want)
		} else if want == 429 && r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
		}
	}
	// Other groups are not limited by the rerank limit.
	if r := call(t, s, http.MethodPost, "/v2/embed", embedBody("x")); r.status != 200 {
		t.Fatalf("embed limited by rerank's limit: %d", r.status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for call(t, s, http.MethodPost, "/v2/rerank", body).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the window never slid")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPoison(t *testing.T) {
	t.Parallel()
	s := setup(t, WithPoison("bad apple"))
	r := call(t, s, http.MethodPost, "/v2/embed", embedBody("good", "bad apple", "fine"))
	wantError(t, r, 400, "invalid request: text at index 1")
	if s.EmbedCount("good") != 0 {
		t.Fatal("texts of a rejected request were counted")
	}
	if r := call(t, s, http.MethodPost, "/v2/embed", embedBody("good", "fine")); r.status != 200 {
		t.Fatalf("the halves without poison failed: %d", r.status)
	}
	r = call(t, s, http.MethodPost, "/v1/classify", map[string]any{"inputs": []string{"bad apple"}, "model": "ft-model"})
	wantError(t, r, 400, "invalid request:")
	s.Set(WithoutPoison())
	if r := call(t, s, http.MethodPost, "/v2/embed", embedBody("bad apple")); r.status != 200 {
		t.Fatalf("poison still active after WithoutPoison: %d", r.status)
	}
}

func TestMonthlyCap(t *testing.T) {
	t.Parallel()
	s := setup(t, WithMonthlyCap(2))
	for i := range 2 {
		if r := call(t, s, http.MethodPost, "/v1/check-api-key", nil); r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	r := call(t, s, http.MethodPost, "/v2/embed", embedBody("a"))
	wantError(t, r, 429, "You are using a Trial key, which is limited to 2 API calls / month.")
	if r.header.Get("Retry-After") != "" {
		t.Fatal("monthly cap carries Retry-After")
	}
	if st := s.Stats(); st.MonthlyCapped != 1 || st.RateLimited != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestErrorRateAndRuntimeSet(t *testing.T) {
	t.Parallel()
	s := setup(t, WithErrorRate(503, 1))
	wantError(t, call(t, s, http.MethodPost, "/v2/embed", embedBody("a")), 503, "service unavailable")
	s.Set(WithErrorRate(500, 1))
	wantError(t, call(t, s, http.MethodPost, "/v2/embed", embedBody("a")), 500, "internal server error")
	s.Set(WithoutFaults())
	if r := call(t, s, http.MethodPost, "/v2/embed", embedBody("a")); r.status != 200 {
		t.Fatalf("after WithoutFaults: %d", r.status)
	}
	if st := s.Stats(); st.InjectedErrors != 2 || st.EmbeddedTexts != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestErrorRateFraction(t *testing.T) {
	t.Parallel()
	s := setup(t, WithErrorRate(500, 0.5), WithSeed(7))
	fails := 0
	for range 200 {
		if call(t, s, http.MethodPost, "/v1/check-api-key", nil).status == 500 {
			fails++
		}
	}
	if fails < 60 || fails > 140 {
		t.Fatalf("%d of 200 failed at rate 0.5", fails)
	}
}

func TestFaultHook(t *testing.T) {
	t.Parallel()
	s := setup(t, WithFault(func(r *http.Request, body []byte) (int, string, bool) {
		if r.URL.Path == "/v2/embed" && bytes.Contains(body, []byte("trigger")) {
			return 402, `{"id":"x","message":"Please add or update your payment method"}`, true
		}
		return 0, "", false
	}))
	wantError(t, call(t, s, http.MethodPost, "/v2/embed", embedBody("trigger")), 402, "Please add")
	if r := call(t, s, http.MethodPost, "/v2/embed", embedBody("other")); r.status != 200 {
		t.Fatalf("hook fired on a non-matching request: %d", r.status)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	s := setup(t, WithMalformed(1))
	r := call(t, s, http.MethodPost, "/v2/embed", embedBody("a"))
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	var v any
	if err := json.Unmarshal(r.raw, &v); err == nil {
		t.Fatalf("body is valid JSON: %s", r.raw)
	}
	if st := s.Stats(); st.Malformed != 1 || st.EmbeddedTexts != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestResets(t *testing.T) {
	t.Parallel()
	s := setup(t, WithResets(1))
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/check-api-key", nil)
	req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response (%d), want a reset connection", resp.StatusCode)
	}
	if st := s.Stats(); st.Resets != 1 {
		t.Fatalf("Resets = %d, want 1", st.Resets)
	}
}

func TestHangUntilClientGivesUp(t *testing.T) {
	t.Parallel()
	s := setup(t, WithHangFunc(func(r *http.Request) bool { return r.URL.Path == "/v2/embed" }))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	raw, _ := json.Marshal(embedBody("a"))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v2/embed", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if r := call(t, s, http.MethodPost, "/v1/check-api-key", nil); r.status != 200 {
		t.Fatalf("other endpoints hang too: %d", r.status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Hangs != 1 || s.Stats().EmbeddedTexts != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHangEndsOnClose(t *testing.T) {
	t.Parallel()
	s := NewServer(WithHang(1))
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/check-api-key", nil)
		req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for s.Stats().Hangs == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if err := <-errc; err == nil {
		t.Fatal("a hanging request got a response")
	}
}

func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	const n = 5
	var arrived atomic.Int32
	release := make(chan struct{})
	s := setup(t, WithFault(func(r *http.Request, _ []byte) (int, string, bool) {
		if arrived.Add(1) == n {
			close(release)
		}
		<-release
		return 0, "", false
	}))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if r := call(t, s, http.MethodPost, "/v2/embed", embedBody(strings.Repeat("x", i+1))); r.status != 200 {
				t.Errorf("status %d", r.status)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.MaxInFlight != n || st.Calls["POST /v2/embed"] != n || st.EmbeddedTexts != n {
		t.Fatalf("stats = %+v", st)
	}
}
