package pipeline_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestKeyAndModelErrorsAbortAtOnce: an answer that no retry can change (bad
// key, billing, forbidden, invalid token, unknown model) aborts the job with
// the API's message after the calls already in flight, and asynq retries
// nothing.
func TestKeyAndModelErrorsAbortAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		message string
		model   string // the job's model; unknown to the fake for the 404
	}{
		{"401", 401, "invalid api token", ""},
		{"402", 402, "Please add or update your payment method to continue", ""},
		{"403", 403, "You do not have access to this model", ""},
		{"498", 498, "blocked token", ""},
		{"404 unknown model", 0, "model 'embed-nope' not found", "embed-nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []coheretest.Option
			if tt.status != 0 {
				body := `{"id":"req-1","message":"` + tt.message + `"}`
				opts = append(opts, coheretest.WithFault(func(r *http.Request, _ []byte) (int, string, bool) {
					return tt.status, body, r.URL.Path == "/v2/embed"
				}))
			}
			h := newHarness(t, opts...)
			h.startWorkers(2)
			path, _ := writeCorpus(t, 2000, corpusText)
			spec := h.spec("fatal-"+strings.ReplaceAll(tt.name, " ", "-"), path)
			if tt.model != "" {
				spec.Model = tt.model
			}
			st := h.run(spec)
			if st.State != jobstore.StateAborted {
				t.Fatalf("status %s, want aborted (%s)", st.State, st.Reason)
			}
			if !strings.Contains(st.Reason, tt.message) {
				t.Errorf("reason %q lacks the API's message %q", st.Reason, tt.message)
			}
			// One call per handler at most: each learns of the abort
			// before its next call.
			if calls := h.fake.Stats().Calls["POST /v2/embed"]; calls < 1 || calls > 2 {
				t.Errorf("%d embed calls, want 1 or 2", calls)
			}
			if st.Written != 0 || st.Failed != 0 {
				t.Errorf("written %d failed %d, want 0 and 0", st.Written, st.Failed)
			}
		})
	}
}

// TestSettingsRejectedAborts: a 400 that both halves of the first split
// repeat with the same message is about the job's settings, not its records:
// the job aborts with the API's message instead of dead-lettering every
// record at two calls each.
func TestSettingsRejectedAborts(t *testing.T) {
	t.Parallel()
	const message = "invalid request: output_dimension is not supported for this model"
	h := newHarness(t, coheretest.WithFault(func(r *http.Request, _ []byte) (int, string, bool) {
		return 400, `{"id":"req-1","message":"` + message + `"}`, r.URL.Path == "/v2/embed"
	}))
	h.startWorkers(2)
	path, _ := writeCorpus(t, 2000, corpusText)
	st := h.run(h.spec("settings-rejected", path))
	if st.State != jobstore.StateAborted {
		t.Fatalf("status %s failed %d, want aborted (%s)", st.State, st.Failed, st.Reason)
	}
	if !strings.Contains(st.Reason, message) {
		t.Errorf("reason %q lacks the API's message", st.Reason)
	}
	if st.Failed != 0 {
		t.Errorf("%d records dead-lettered, want none", st.Failed)
	}
	// Each handler: the batch, then its two halves.
	if calls := h.fake.Stats().Calls["POST /v2/embed"]; calls > 2*3 {
		t.Errorf("%d embed calls, want at most 6", calls)
	}
}
