package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestPreflightRefusesBeforeAnyCall: a model that does not exist, does not
// serve the operation's endpoint, or does not take -dimensions stops
// enqueue with exit 1 and the reason, before any chunk or paid call.
func TestPreflightRefusesBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"dimensions on v3", []string{"-model", "embed-english-v3.0", "-dimensions", "256"}, "-dimensions 256: model embed-english-v3.0 has a fixed dimension"},
		{"unknown model", []string{"-model", "embed-nope-v9"}, "-model embed-nope-v9: not found"},
		{"wrong endpoint", []string{"-model", "rerank-v3.5"}, "-model rerank-v3.5: does not serve the embed endpoint"},
		{"chat route on an embed model", []string{"-op", "classify", "-via", "chat", "-labels", "a,b", "-model", "embed-v4.0"}, "does not serve the chat endpoint"},
		{"batches on a chat model Batches does not serve", []string{"-op", "chat", "-prompt", "{{.text}}", "-async", "batches", "-model", "command-a-vision-07-2025"},
			"-async batches: model command-a-vision-07-2025 is not served by Cohere Batches"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeAPI(t)
			in := writeJSONL(t, 20, func(i int) string { return fmt.Sprint("text ", i) })
			args := append([]string{"-in", in, "-sink", "parquet:" + t.TempDir(), "-log-format", "json"}, tc.args...)
			code, out, errs := runArgs(t, args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, err %q (out %q); want 1 and %q", code, errs, out, tc.want)
			}
			for call, n := range fake.Stats().Calls {
				if !strings.HasPrefix(call, "GET /v1/models/") {
					t.Errorf("%d calls to %s before the refusal", n, call)
				}
			}
		})
	}
}

// TestPreflightPassesFineTunedModel: a fine-tuned classify model is not
// listed by /v1/models; the job runs with a warning that says so.
func TestPreflightPassesFineTunedModel(t *testing.T) {
	fake := fakeAPI(t)
	in := writeJSONL(t, 30, func(i int) string { return fmt.Sprint("please wire me money ", i) })
	code, out, errs := runArgs(t, "-op", "classify", "-model", "my-spam-ft", "-in", in, "-sink", "parquet:"+t.TempDir(), "-log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d, out %q, err %q", code, out, errs)
	}
	if !strings.Contains(out, "route: classify (-model my-spam-ft is not a base embed or chat model") {
		t.Errorf("out %q: want the route and its reason", out)
	}
	if !strings.Contains(out, `model check: model "my-spam-ft" is not listed by /v1/models`) {
		t.Errorf("out %q: want the pass-through note", out)
	}
	if n := fake.Stats().Calls["POST /v1/classify"]; n != 1 {
		t.Errorf("%d classify calls, want 1", n)
	}
}
