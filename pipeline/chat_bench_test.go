package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

// BenchmarkChatRateLimit runs a sync-route chat job against coheretest
// enforcing a chat limit of chatLimit requests per sliding chatWindow, with
// the worker configured with the same limit (-rate-limit chat=N/PERIOD),
// and reports throughput as a fraction of that ceiling (records ÷ wall time
// from planning to the job's end ÷ limit per second) and 429s per 100
// calls. Targets: ≥ 0.95 and ≤ 1.
func BenchmarkChatRateLimit(b *testing.B) {
	// Cohere's documented production chat limit, 500 a minute, with the
	// window scaled down to 5 s: 100 requests per 5 s, over 12 windows.
	const chatLimit, chatWindow, records = 100, 5 * time.Second, 1200
	ctx := context.Background()
	rdb, url := testenv.RedisClient(b)
	conn, err := redisconn.Parse(url)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "in.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for i := range records {
		fmt.Fprintf(f, "{\"id\":\"doc-%05d\",\"text\":%q}\n", i, corpusText(i))
	}
	f.Close()
	ceiling := float64(chatLimit) / chatWindow.Seconds()
	for i := range b.N {
		fake := coheretest.NewServer(coheretest.WithRateLimit("chat", chatLimit, chatWindow), coheretest.WithLatency(20*time.Millisecond, 10*time.Millisecond))
		client, err := cohere.New(cohere.Config{BaseURL: fake.URL, APIKey: coheretest.DefaultAPIKey, Timeout: 30 * time.Second,
			Retry: cohere.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, NoRetryRateLimited: true}})
		if err != nil {
			b.Fatal(err)
		}
		enq := queue.NewClient(rdb, queue.DefaultQueue)
		store := pipeline.NewStore(rdb)
		w := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Queue: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey,
			Limits: map[string]ratelimit.Limit{"chat": {Count: chatLimit, Per: chatWindow}}})
		srv := queue.NewServer(conn, 4, queue.DefaultQueue, 5*time.Second, slog.New(slog.DiscardHandler))
		if err := srv.Start(queue.NewMux(w)); err != nil {
			b.Fatal(err)
		}
		spec := pipeline.Spec{ID: fmt.Sprintf("chat-rate-%d-%d", time.Now().UnixNano(), i), Op: pipeline.OpChat, Inputs: []string{path},
			ChunkSize: 50, Sink: "parquet:" + b.TempDir(), ChatOptions: pipeline.ChatOptions{Prompt: "Summarise: {{.text}}", MaxTokens: 100}}.WithDefaults()
		start := time.Now()
		if _, err := (&pipeline.Planner{Store: store, Queue: enq}).Plan(ctx, spec); err != nil {
			b.Fatal(err)
		}
		st, err := (&pipeline.Waiter{Store: store}).Wait(ctx, spec.ID)
		took := time.Since(start)
		srv.Shutdown()
		fs := fake.Stats()
		fake.Close()
		if err != nil || st.State != jobstore.StateDone || st.Written != records {
			b.Fatalf("status %s written %d: %v", st.State, st.Written, err)
		}
		calls := fs.Calls["POST /v2/chat"]
		of := float64(records) / took.Seconds() / ceiling
		per100 := 100 * float64(fs.RateLimited) / float64(max(calls, 1))
		b.ReportMetric(float64(records)/took.Seconds(), "rec/s")
		b.ReportMetric(of, "of-ceiling")
		b.ReportMetric(per100, "429s/100calls")
	}
}
