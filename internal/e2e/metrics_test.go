package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
)

// TestEmbeddedServesMetrics: enqueue without Redis serves its workers'
// /metrics on -http while the job runs.
func TestEmbeddedServesMetrics(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	fake := coheretest.NewServer(coheretest.WithLatency(300*time.Millisecond, 0))
	defer fake.Close()
	corpus, _ := writeCorpus(t, 1000)
	addr := freeAddr(t)
	env := []string{"REDIS_URL=", "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	p := start(t, env, enqueue, "-in", corpus, "-sink", "parquet:"+t.TempDir(), "-job", "embedded-metrics",
		"-dimensions", "256", "-concurrency", "1", "-rate-limit", "embed=1000000/1m", "-http", addr)
	want := []string{
		`cobatch_api_calls_total{cobatch_job="embedded-metrics",endpoint="embed",status="200"}`,
		`cobatch_api_request_duration_seconds_bucket{cobatch_job="embedded-metrics",endpoint="embed",status="200",le=`,
		`cobatch_limiter_limit{cobatch_job="embedded-metrics",endpoint="embed"} 1e+06`,
		`cobatch_build_info{goversion=`,
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := get(t, "http://"+addr+"/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics of the embedded run lacks %s:\n%s", missing, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

// TestEnqueueHTTPNeedsEmbeddedMode: with Redis, the workers serve the
// metrics, so enqueue -http is a usage error.
func TestEnqueueHTTPNeedsEmbeddedMode(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	corpus, _ := writeCorpus(t, 10)
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+t.TempDir(), "-http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "REDIS_URL="+testenv.RedisURL(t), "COHERE_API_KEY="+coheretest.DefaultAPIKey)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != exitUsage || !strings.Contains(string(out), "-http serves the embedded workers' /metrics") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestWorkerDropsFinishedJobSeries: -metrics-grace bounds how long a
// finished job's series stay on /metrics; the build's stay.
func TestWorkerDropsFinishedJobSeries(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer()
	defer fake.Close()
	env := []string{"REDIS_URL=" + testenv.RedisURL(t), "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	addr := freeAddr(t)
	start(t, env, worker, "-concurrency", "2", "-http", addr, "-rate-limit", "embed=1000000/1m", "-metrics-grace", "3s")
	corpus, _ := writeCorpus(t, 200)
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+t.TempDir(), "-job", "grace", "-dimensions", "256", "-wait")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	series := `cobatch_records_total{cobatch_job="grace",outcome="written"} 200`
	if _, body := get(t, "http://"+addr+"/metrics"); !strings.Contains(body, series) {
		t.Fatalf("/metrics lacks %s right after the job", series)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, "http://"+addr+"/metrics")
		if !strings.Contains(body, `cobatch_job="grace"`) {
			if !strings.Contains(body, "cobatch_build_info{") {
				t.Error("cobatch_build_info went with the job's series")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the finished job's series stayed past -metrics-grace")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
