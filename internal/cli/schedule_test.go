package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/queue"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, cron, file, stamp, err string
	}{
		{in: "0 2 * * *=/etc/cobatch/nightly.yaml", cron: "0 2 * * *", file: "/etc/cobatch/nightly.yaml", stamp: "20060102"},
		{in: "@hourly=job.yaml", cron: "@hourly", file: "job.yaml", stamp: "20060102T15"},
		{in: "*/15 * * * *=job.yaml", cron: "*/15 * * * *", file: "job.yaml", stamp: "20060102T1504"},
		{in: "@every 2s=job.yaml", cron: "@every 2s", file: "job.yaml", stamp: "20060102T150405"},
		{in: "0 2 * * *", err: "want 'CRON=JOBSPEC_FILE'"},
		{in: "61 2 * * *=job.yaml", err: "61"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSchedule(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || s.Cron != tc.cron || s.File != tc.file || s.stamp != tc.stamp {
				t.Errorf("= %+v, %v; want %s, %s, %s", s, err, tc.cron, tc.file, tc.stamp)
			}
		})
	}
}

// TestTwoSchedulersOneJobPerTick runs two workers with the same schedule:
// only the one holding the lock enqueues, so each tick plans one job; when
// it stops, the other takes over.
func TestTwoSchedulersOneJobPerTick(t *testing.T) {
	t.Parallel()
	rdb, url := testenv.RedisClient(t)
	conn, err := redisconn.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var corpus strings.Builder
	for i := range 10 {
		fmt.Fprintf(&corpus, "{\"id\":\"d%d\",\"text\":\"text %d\"}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(corpus.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "nightly.yaml")
	if err := os.WriteFile(file, []byte("job: nightly\nin: in.jsonl\nsink: parquet:out\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := ParseSchedule("@every 2s=" + file)
	if err != nil {
		t.Fatal(err)
	}
	const q = "sched"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store := pipeline.NewStore(rdb)
	var ticks atomic.Int64
	worker := func() context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		srv := queue.NewServer(conn, 2, q, time.Second, log)
		mux := asynq.NewServeMux()
		plan := PlanScheduled(store, queue.NewClient(rdb, q), Env{}, log)
		queue.HandleTicks(mux, func(ctx context.Context, t queue.Tick) error {
			ticks.Add(1)
			return plan(ctx, t)
		})
		// The planned jobs' chunks are not the point here.
		mux.HandleFunc("cobatch:embed:", func(context.Context, *asynq.Task) error { return nil })
		if err := srv.Start(mux); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = RunScheduler(ctx, SchedulerConfig{Redis: rdb, Conn: conn, Schedules: []Schedule{sc}, Queue: q, LockTTL: 1500 * time.Millisecond, Log: log})
		}()
		stop := func() { cancel(); <-done; srv.Shutdown() }
		t.Cleanup(stop)
		return func() { cancel(); <-done }
	}
	stopA := worker()
	worker()

	jobs := func() []string {
		ids, err := store.Jobs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	waitJobs := func(n int) []string {
		deadline := time.Now().Add(15 * time.Second)
		for len(jobs()) < n && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		return jobs()
	}
	ids := waitJobs(2)
	if len(ids) < 2 || int64(len(ids)) != ticks.Load() {
		t.Fatalf("%d ticks planned %d jobs %v; want one job per tick", ticks.Load(), len(ids), ids)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "nightly-") || len(id) != len("nightly-20060102T150405") {
			t.Errorf("job id %q: want nightly- and the tick's time", id)
		}
	}
	// Whichever worker held the lock, the schedule goes on without A.
	stopA()
	ids = waitJobs(len(ids) + 2)
	if int64(len(ids)) != ticks.Load() {
		t.Errorf("%d ticks planned %d jobs; want one job per tick", ticks.Load(), len(ids))
	}
}
