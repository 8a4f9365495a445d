package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildSim compiles the command into a temp dir.
func buildSim(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cohere-sim")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func post(t *testing.T, url, key string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m) //nolint:errcheck // checked through m
	return resp.StatusCode, m
}

func TestSimBinary(t *testing.T) {
	t.Parallel()
	bin := buildSim(t)
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-api-key", "sim-key",
		"-embed-limit", "4/1h", "-poison", "bad text", "-validate-delay", "0s", "-process-delay", "0s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck // already exited when the test passes
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listen line: %v", err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "cohere-sim listening on "))
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("listen line %q", line)
	}

	embed := func(texts ...string) map[string]any {
		return map[string]any{"texts": texts, "model": "embed-v4.0", "input_type": "search_document"}
	}
	steps := []struct {
		name   string
		key    string
		body   any
		status int
	}{
		{"wrong key", "test-key", embed("a"), 401},
		{"two inputs", "sim-key", embed("a", "b"), 200},
		{"poison, counted as one input", "sim-key", embed("bad text"), 400},
		{"over the input limit", "sim-key", embed("c", "d"), 429},
		{"last input of the window", "sim-key", embed("c"), 200},
	}
	for _, st := range steps {
		if status, body := post(t, base+"/v2/embed", st.key, st.body); status != st.status {
			t.Fatalf("%s: status %d, want %d (%v)", st.name, status, st.status, body)
		}
	}

	resp, err := http.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Calls         map[string]int `json:"calls"`
		RateLimited   int            `json:"rate_limited"`
		EmbeddedTexts int            `json:"embedded_texts"`
		Status        map[string]int `json:"status"`
	}
	json.NewDecoder(resp.Body).Decode(&stats) //nolint:errcheck // checked below
	resp.Body.Close()
	if stats.Calls["POST /v2/embed"] != 5 || stats.RateLimited != 1 || stats.EmbeddedTexts != 3 || stats.Status["401"] != 1 {
		t.Fatalf("stats = %+v", stats)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, io.Discard, &out); err == nil {
		t.Fatal("-h returned nil, want flag.ErrHelp")
	}
	for _, f := range []string{"-addr", "-api-key", "-embed-limit", "-rate-limit", "-retry-after", "-latency", "-jitter",
		"-error-rate", "-error-status", "-reset-rate", "-hang-rate", "-malformed-rate", "-poison", "-monthly-cap",
		"-validate-delay", "-process-delay", "-part-rows", "-batch-dup-rate", "-seed", "-classifier"} {
		if !strings.Contains(out.String(), "  "+f+" ") && !strings.Contains(out.String(), "  "+f+"\n") {
			t.Errorf("-h does not document %s", f)
		}
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		n    int
		w    time.Duration
		ok   bool
	}{
		{"per minute", "2000/1m", 2000, time.Minute, true},
		{"per second", "5/1s", 5, time.Second, true},
		{"no slash", "2000", 0, 0, false},
		{"zero", "0/1m", 0, 0, false},
		{"bad window", "10/soon", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, w, err := parseLimit(tt.in)
			if (err == nil) != tt.ok || n != tt.n || w != tt.w {
				t.Fatalf("parseLimit(%q) = %d, %v, %v", tt.in, n, w, err)
			}
		})
	}
}

// TestClassifierFlag: -classifier reads MODEL=FILE, and a bad line is an
// error naming the file and line.
func TestClassifierFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.jsonl"), filepath.Join(dir, "bad.jsonl")
	os.WriteFile(good, []byte("{\"text\":\"a\",\"label\":\"x\"}\n\n{\"text\":\"b\",\"label\":\"y\"}\n"), 0o644)
	os.WriteFile(bad, []byte("{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\"}\n"), 0o644)
	if ex, err := readExamples(good); err != nil || len(ex) != 2 || ex[1].Label != "y" {
		t.Fatalf("good file: %v %v", ex, err)
	}
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"-classifier", "ft=" + bad}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("bad file: %v", err)
	}
	if err := run(t.Context(), []string{"-classifier", "no-file"}, io.Discard, &stderr); err == nil || !strings.Contains(err.Error(), "want MODEL=FILE") {
		t.Fatalf("no file: %v", err)
	}
}
