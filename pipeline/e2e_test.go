package pipeline_test

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// harness runs jobs through the real queue on the real Redis, with in-process
// workers calling a coheretest server.
type harness struct {
	t        *testing.T
	fake     *coheretest.Server
	rdb      *redis.Client
	conn     redisconn.Conn
	enq      *queue.Client
	store    *pipeline.Store
	out      string
	timeout  time.Duration // client timeout of one attempt; 0: 5 s, 30 s on the async route
	dbURL    string        // for postgres sinks
	limits   map[string]ratelimit.Limit
	servers  []*asynq.Server
	metrics  *pipeline.Metrics  // given to the async workers; nil: none
	queue    pipeline.TaskQueue // the sync workers' queue; nil: enq
	deadline time.Duration      // of the async workers' remote phases; 0: the default
}

func newHarness(t *testing.T, opts ...coheretest.Option) *harness {
	t.Helper()
	rdb, url := testenv.RedisClient(t)
	conn, err := redisconn.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, fake: coheretest.NewServer(opts...), rdb: rdb, conn: conn,
		enq: queue.NewClient(rdb, queue.DefaultQueue), store: pipeline.NewStore(rdb),
		out:    t.TempDir(),
		limits: map[string]ratelimit.Limit{"embed": {Count: 1_000_000, Per: time.Minute}},
	}
	t.Cleanup(func() {
		for _, s := range h.servers {
			s.Shutdown()
		}
		h.fake.Close()
	})
	return h
}

// startWorkers starts an in-process worker with n handlers.
func (h *harness) startWorkers(n int) {
	h.t.Helper()
	client, err := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey,
		Timeout: cmp.Or(h.timeout, 5*time.Second), Retry: cohere.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, NoRetryRateLimited: true}})
	if err != nil {
		h.t.Fatal(err)
	}
	w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: cmp.Or(h.queue, pipeline.TaskQueue(h.enq)), Cohere: client,
		APIKey: coheretest.DefaultAPIKey, Limits: h.limits, DatabaseURL: h.dbURL})
	srv := queue.NewServer(h.conn, n, queue.DefaultQueue, 5*time.Second, testLogger(h.t))
	if err := srv.Start(queue.NewMux(w)); err != nil {
		h.t.Fatal(err)
	}
	h.servers = append(h.servers, srv)
}

func (h *harness) spec(job string, inputs ...string) pipeline.Spec {
	s := pipeline.Spec{ID: job, Model: "embed-v4.0", Dimensions: 256, Inputs: inputs, ChunkSize: 500,
		Sink: "parquet:" + h.out}.WithDefaults()
	if err := s.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// run plans a job and waits for it to end.
func (h *harness) run(spec pipeline.Spec) pipeline.Status {
	h.t.Helper()
	// A bound on a hung job, not a speed target: a loaded CI machine takes
	// minutes for the 50,000-record async jobs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := &pipeline.Planner{Store: h.store, Queue: h.enq}
	if _, err := p.Plan(ctx, spec); err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	st, err := (&pipeline.Waiter{Store: h.store}).Wait(ctx, spec.ID)
	if err != nil {
		h.t.Fatalf("follow: %v (status %+v)", err, st)
	}
	return st
}

// writeCorpus writes n JSONL records with distinct texts and returns the path
// and the texts by id.
func writeCorpus(t *testing.T, n int, text func(i int) string) (string, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corpus.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	texts := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("doc-%05d", i)
		texts[id] = text(i)
		fmt.Fprintf(w, "{\"id\":%q,\"text\":%q}\n", id, texts[id])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path, texts
}

func corpusText(i int) string {
	return fmt.Sprintf("record %d about %s and %s", i, words[i%len(words)], words[(i*7+3)%len(words)])
}

var words = []string{"rivers", "mountains", "salmon", "databases", "vectors", "queues", "bread", "granite", "orchids", "comets"}

// checkParquet verifies the job's Parquet output record by record: each id
// exactly once, each vector the fake's for its text.
func checkParquet(t *testing.T, out string, spec pipeline.Spec, texts map[string]string) {
	t.Helper()
	seen := map[string]int{}
	err := parquet.ReadJob(out, spec.ID, func(e sinks.Embedding) error {
		seen[e.ID]++
		want := coheretest.Embedding(spec.Model, spec.InputType, texts[e.ID], spec.Dims())
		if len(e.Float) != len(want) {
			return fmt.Errorf("%s: %d dims, want %d", e.ID, len(e.Float), len(want))
		}
		for i := range want {
			if e.Float[i] != want[i] {
				return fmt.Errorf("%s: dim %d = %v, want %v", e.ID, i, e.Float[i], want[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range texts {
		if seen[id] != 1 {
			t.Errorf("%s appears %d times, want 1", id, seen[id])
		}
	}
	if len(seen) != len(texts) {
		t.Errorf("output has %d ids, want %d", len(seen), len(texts))
	}
}

// testLogger shows warnings on stderr: t.Log would panic when a worker logs
// after its test ended.
func testLogger(*testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestEmbedJobEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(4)
	path, texts := writeCorpus(t, 10_000, corpusText)
	spec := h.spec("e2e", path)
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 10_000 || st.Skipped != 0 || st.Failed != 0 {
		t.Fatalf("status = %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
	}
	checkParquet(t, h.out, spec, texts)
	stats := h.fake.Stats()
	if stats.EmbeddedTexts != 10_000 {
		t.Errorf("fake embedded %d texts, want 10000 (each paid once)", stats.EmbeddedTexts)
	}

	// The same job again: everything is in the sink unchanged, so nothing
	// is paid for and every record is skipped.
	h.fake.ResetStats()
	st = h.run(spec)
	if st.State != jobstore.StateDone || st.Skipped != 10_000 || st.Written != 0 {
		t.Fatalf("re-run: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
	}
	if n := h.fake.Stats().EmbeddedTexts; n != 0 {
		t.Errorf("re-run embedded %d texts, want 0", n)
	}
	checkParquet(t, h.out, spec, texts)
}

func TestPoisonRecordIsolated(t *testing.T) {
	t.Parallel()
	poison := corpusText(150)
	h := newHarness(t, coheretest.WithPoison(poison))
	h.startWorkers(2)
	path, texts := writeCorpus(t, 300, corpusText)
	spec := h.spec("poison", path)
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 299 || st.Failed != 1 {
		t.Fatalf("status %s written %d failed %d", st.State, st.Written, st.Failed)
	}
	dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "doc-00150" || dead[0].Line != 151 || dead[0].Reason == "" {
		t.Fatalf("dead letters = %+v, want doc-00150 at line 151", dead)
	}
	delete(texts, "doc-00150")
	checkParquet(t, h.out, spec, texts)
	if n := h.fake.EmbedCount(corpusText(0)); n != 1 {
		t.Errorf("a good text was embedded %d times, want 1", n)
	}
}

func TestMonthlyCapAborts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithMonthlyCap(3))
	h.startWorkers(2)
	path, _ := writeCorpus(t, 2000, corpusText)
	st := h.run(h.spec("cap", path))
	if st.State != jobstore.StateAborted {
		t.Fatalf("status %s, want aborted", st.State)
	}
	if st.Reason == "" {
		t.Error("aborted without a reason")
	}
	// 3 calls succeed; then each of the 2 handlers makes at most one more.
	stats := h.fake.Stats()
	if calls := stats.Calls["POST /v2/embed"]; calls < 4 || calls > 3+2 {
		t.Errorf("%d embed calls, want 4 or 5: the cap, then at most one more per handler", calls)
	}
	if stats.MonthlyCapped < 1 {
		t.Error("the fake never answered with the monthly cap")
	}
}

func TestBadInputDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(1)
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	body := "{\"id\":\"a\",\"text\":\"fine\"}\n" +
		"{not json\n" +
		"{\"id\":\"b\",\"text\":\"\"}\n" +
		"{\"id\":\"c\"}\n" +
		"{\"id\":\"a\",\"text\":\"dup id\"}\n" +
		"{\"id\":\"d\",\"text\":\"also fine\"}\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := h.spec("bad", path)
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 2 || st.Failed != 4 || st.Total() != 6 {
		t.Fatalf("status %s written %d failed %d total %d", st.State, st.Written, st.Failed, st.Total())
	}
	dead, _ := h.store.DeadLetters(context.Background(), spec.ID, 0)
	lines := map[int64]bool{}
	for _, d := range dead {
		lines[d.Line] = true
		if d.File != path || d.Reason == "" {
			t.Errorf("dead letter %+v lacks file or reason", d)
		}
	}
	for _, l := range []int64{2, 3, 4, 5} {
		if !lines[l] {
			t.Errorf("line %d not dead-lettered: %+v", l, dead)
		}
	}
}
