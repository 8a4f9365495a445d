package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
)

// BenchmarkRateLimitedWorkers runs one job through four worker processes that
// share a limit of 1,920 inputs per 10 s, against a fake enforcing the same
// limit (sliding window), and reports throughput as a fraction of that
// ceiling and the 429s per 100 calls.
func BenchmarkRateLimitedWorkers(b *testing.B) {
	const (
		limit   = 1920
		window  = 10 * time.Second
		records = 5760 // three windows' worth
	)
	for range b.N {
		enqueue, worker := binaries(b)
		fake := coheretest.NewServer(coheretest.WithRateLimit("embed", limit, window),
			coheretest.WithLatency(20*time.Millisecond, 10*time.Millisecond))
		redisURL := testenv.RedisURL(b)
		env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
		rate := fmt.Sprintf("embed=%d/%s", limit, window)
		for range 4 {
			start(b, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", rate)
		}
		corpus, _ := writeCorpus(b, records)
		out := b.TempDir()
		began := time.Now()
		var stdout bytes.Buffer
		cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+out, "-job", "rl", "-dimensions", "256", "-chunk-size", "192", "-wait")
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
		if err := cmd.Run(); err != nil {
			b.Fatalf("enqueue: %v\n%s", err, stdout.String())
		}
		wall := time.Since(began)
		stats := fake.Stats()
		fake.Close()
		calls := stats.Calls["POST /v2/embed"]
		ceiling := float64(limit) / window.Seconds()
		b.ReportMetric(float64(records)/wall.Seconds()/ceiling, "of-ceiling")
		b.ReportMetric(100*float64(stats.RateLimited)/float64(max(calls, 1)), "429s/100calls")
		b.ReportMetric(float64(records)/wall.Seconds(), "records/s")
	}
}

// BenchmarkEnqueuePlan1GB plans a 1 GB JSONL file into chunk tasks on the real
// Redis with the enqueue binary and reports its peak RSS (target: < 100 MB)
// and the planning rate.
func BenchmarkEnqueuePlan1GB(b *testing.B) {
	enqueue, _ := binaries(b)
	path := filepath.Join(b.TempDir(), "big.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 36) // ~1 KB records
	var size int64
	for i := 0; size < 1<<30; i++ {
		n, _ := fmt.Fprintf(w, "{\"id\":\"r%d\",\"text\":\"%d %s\"}\n", i, i, filler)
		size += int64(n)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for range b.N {
		redisURL := testenv.RedisURL(b)
		began := time.Now()
		cmd := exec.Command(enqueue, "-in", path, "-sink", "parquet:"+b.TempDir(), "-job", "big", "-wait=false")
		cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL, "COHERE_API_KEY=unused", "DATABASE_URL=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("enqueue: %v\n%s", err, out)
		}
		wall := time.Since(began)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(size)/wall.Seconds()/1e6, "input-MB/s")
	}
}
