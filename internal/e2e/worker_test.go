package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWorkerHTTPAndGracefulStop checks /healthz and /metrics after a job, and
// that SIGTERM stops the worker cleanly with exit 0.
func TestWorkerHTTPAndGracefulStop(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer()
	defer fake.Close()
	redisURL := testenv.RedisURL(t)
	env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	addr := freeAddr(t)
	w := start(t, env, worker, "-concurrency", "2", "-http", addr, "-rate-limit", "embed=1000000/1m")
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	corpus, _ := writeCorpus(t, 500)
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+t.TempDir(), "-job", "http", "-dimensions", "256", "-wait")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`cobatch_records_total{cobatch_job="http",outcome="written"} 500`,
		`cobatch_api_calls_total{cobatch_job="http",endpoint="embed",status="200"} 6`,
		`cobatch_sink_write_seconds_count{cobatch_job="http"} 1`,
		`cobatch_api_request_duration_seconds_count{cobatch_job="http",endpoint="embed",status="200"} 6`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exit after SIGTERM: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("worker did not stop within 40s of SIGTERM")
	}
	w.mu.Lock()
	logs := w.out.String()
	w.mu.Unlock()
	if !strings.Contains(logs, "shutting down") {
		t.Errorf("no shutdown log:\n%s", logs)
	}
}

// TestWorkerUI: with -ui, asynq's web UI answers at /ui and its API lists the
// queue of a running job; /metrics reports that queue's depth.
func TestWorkerUI(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer(coheretest.WithLatency(200*time.Millisecond, 0))
	defer fake.Close()
	redisURL := testenv.RedisURL(t)
	env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	addr := freeAddr(t)
	start(t, env, worker, "-concurrency", "1", "-http", addr, "-ui", "-rate-limit", "embed=1000000/1m")
	corpus, _ := writeCorpus(t, 2000)
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+t.TempDir(), "-job", "ui", "-dimensions", "256", "-chunk-size", "100", "-wait=false")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	if code, body := get(t, "http://"+addr+"/ui/"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("/ui/: %d %.200q", code, body)
	}
	code, body := get(t, "http://"+addr+"/ui/api/queues")
	if code != 200 || !strings.Contains(body, `"queue":"cobatch"`) {
		t.Fatalf("/ui/api/queues: %d %.300s", code, body)
	}
	// The same queue's depth is on /metrics while the job runs.
	if _, m := get(t, "http://"+addr+"/metrics"); !strings.Contains(m, `cobatch_queue_tasks{queue="cobatch",state="pending"}`) {
		t.Errorf("/metrics lacks the queue depth")
	}
	// Read-only unless -ui-write: pausing the queue is refused.
	if code := post(t, "http://"+addr+"/ui/api/queues/cobatch:pause"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST :pause without -ui-write: %d, want 405", code)
	}
	writable := freeAddr(t)
	start(t, env, worker, "-concurrency", "1", "-http", writable, "-ui", "-ui-write", "-rate-limit", "embed=1000000/1m")
	get(t, "http://"+writable+"/healthz")
	for _, action := range []string{"pause", "resume"} {
		if code := post(t, "http://"+writable+"/ui/api/queues/cobatch:"+action); code/100 != 2 {
			t.Errorf("POST :%s with -ui-write: %d, want 2xx", action, code)
		}
	}
}

func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWorkerListensOnLoopbackByDefault: /metrics, /healthz and the UI are
// not exposed beyond the machine unless -http says so.
func TestWorkerListensOnLoopbackByDefault(t *testing.T) {
	t.Parallel()
	_, worker := binaries(t)
	out, _ := exec.Command(worker, "-h").CombinedOutput()
	if !strings.Contains(string(out), `(default "127.0.0.1:9090")`) {
		t.Errorf("worker -h does not show the loopback default:\n%s", out)
	}
}
