package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cmd/internal/jobview"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

func writeJSONL(t *testing.T, n int, text func(i int) string) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"id\":\"doc-%04d\",\"text\":%q}\n", i, text(i))
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestSubcommands plans a job on Redis with no worker running, then looks at
// it and cancels it through the subcommands.
func TestSubcommands(t *testing.T) {
	t.Parallel()
	redisURL := testenv.RedisURL(t)
	in := writeJSONL(t, 250, func(i int) string { return fmt.Sprintf("text number %d", i) })
	code, out, errs := runArgs(t, "-sim", "-redis", redisURL, "-in", in, "-job", "sub-1", "-chunk-size", "100", "-sink", "parquet:"+t.TempDir(), "-log-format", "json")
	if code != 0 || !strings.Contains(out, "job sub-1: 3 chunks (3 enqueued now)") {
		t.Fatalf("plan: exit %d, out %q, err %q", code, out, errs)
	}

	code, out, errs = runArgs(t, "status", "sub-1", "-json", "-redis", redisURL)
	var r jobview.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("status -json: exit %d, out %q, err %q", code, out, errs)
	}
	if r.Job != "sub-1" || r.State != jobstore.StateRunning || r.Records != 250 || r.Chunks != 3 || r.Total != 0 {
		t.Errorf("status = %+v; want sub-1 running, 250 records in 3 chunks, none done", r)
	}

	code, out, _ = runArgs(t, "list", "-json", "-redis", redisURL)
	var rs []jobview.Report
	if code != 0 || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 1 || rs[0].Job != "sub-1" {
		t.Errorf("list -json: exit %d, %q; want one job sub-1", code, out)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cancel", []string{"cancel", "-redis", redisURL, "sub-1"}, 0, "job sub-1 cancelled"},
		{"status after cancel", []string{"status", "-redis", redisURL, "sub-1"}, 0, "job sub-1 (embed, embed-v4.0): cancelled"},
		{"old flag", []string{"-redis", redisURL, "-status", "sub-1"}, 0, "reason:   cancelled by user"},
		{"list", []string{"list", "-redis", redisURL}, 0, "sub-1"},
		{"dead letters", []string{"dead-letters", "-redis", redisURL, "sub-1"}, 0, ""},
		{"unknown job", []string{"status", "-redis", redisURL, "nope"}, 1, ""},
		{"missing job id", []string{"cancel", "-redis", redisURL}, 1, ""},
		{"retry of a job without failures", []string{"retry-failed", "-redis", redisURL, "sub-1"}, 0, "0 failed records in 0 chunks"},
	}
	for _, tc := range tests {
		code, out, errs := runArgs(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, out %q, err %q; want exit %d with %q", tc.name, code, out, errs, tc.code, tc.want)
		}
	}
}

func TestJobFileWithOverride(t *testing.T) {
	t.Parallel()
	redisURL := testenv.RedisURL(t)
	dir := t.TempDir()
	in := writeJSONL(t, 250, func(i int) string { return fmt.Sprintf("text number %d", i) })
	file := filepath.Join(dir, "job.yaml")
	body := fmt.Sprintf("in: [%s]\njob: from-file\nchunk-size: 100\nsink: parquet:out\nsim: true\nredis: %s\nlog-format: json\n", in, redisURL)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArgs(t, "-f", file, "-chunk-size", "50")
	if code != 0 || !strings.Contains(out, "job from-file: 5 chunks (5 enqueued now)") {
		t.Fatalf("exit %d, out %q, err %q; want 250 records in chunks of 50 (the flag) under the file's job id", code, out, errs)
	}
}
