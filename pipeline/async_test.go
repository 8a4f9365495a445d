package pipeline_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// asyncDelays keep the fake's remote phases short but long enough to be
// polled several times.
var asyncDelays = coheretest.WithAsyncDelays(200*time.Millisecond, 500*time.Millisecond)

// startAsyncWorkers starts an in-process worker that polls fast. wrap, when
// set, wraps the download handler (to simulate crashes).
func (h *harness) startAsyncWorkers(n int, wrap func(asynq.HandlerFunc) asynq.HandlerFunc) *pipeline.Worker {
	h.t.Helper()
	// A dataset upload is one large request: under -race on a loaded
	// machine it can take more than the sync calls' 5 s, and a timed-out
	// attempt is uploaded again, which the tests' exact counts would see.
	client, err := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey,
		Timeout: cmp.Or(h.timeout, 30*time.Second), Retry: cohere.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, NoRetryRateLimited: true}})
	if err != nil {
		h.t.Fatal(err)
	}
	w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: coheretest.DefaultAPIKey,
		Limits: h.limits, DatabaseURL: h.dbURL, Metrics: h.metrics})
	w.AsyncPoll = pipeline.AsyncConfig{PollMin: 50 * time.Millisecond, PollMax: 400 * time.Millisecond, Deadline: h.deadline}
	// As queue.NewServer, but scheduled polls are moved to the queue every
	// 50 ms rather than every 0.5 s.
	srv := asynq.NewServer(queue.RedisConnOpt(h.conn), asynq.Config{
		Concurrency: n, Queues: map[string]int{queue.DefaultQueue: 1}, RetryDelayFunc: queue.RetryDelay,
		ShutdownTimeout: 2 * time.Second, LogLevel: asynq.ErrorLevel, DelayedTaskCheckInterval: 50 * time.Millisecond,
	})
	mux := queue.NewMux(w)
	if wrap != nil {
		mux.Use(func(next asynq.Handler) asynq.Handler {
			if next == nil {
				return next
			}
			return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
				if t.Type() == queue.TypeAsyncDownload {
					return wrap(next.ProcessTask)(ctx, t)
				}
				return next.ProcessTask(ctx, t)
			})
		})
	}
	if err := srv.Start(mux); err != nil {
		h.t.Fatal(err)
	}
	h.servers = append(h.servers, srv)
	return w
}

func (h *harness) asyncSpec(job, model, route string, inputs ...string) pipeline.Spec {
	s := pipeline.Spec{ID: job, Model: model, Inputs: inputs, ChunkSize: 1000, Sink: "parquet:" + h.out,
		AsyncOptions: pipeline.AsyncOptions{Async: route}}
	if strings.HasPrefix(model, "embed-v4") {
		s.Dimensions, s.BatchModel = 256, model // the fake runs batches on the embed model
	}
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// plan plans a job with groups of at most groupRecords records.
func (h *harness) plan(spec pipeline.Spec, groupRecords int) {
	h.t.Helper()
	p := &pipeline.Planner{Store: h.store, Queue: h.enq, Groups: pipeline.GroupLimits{MaxRecords: groupRecords}}
	if _, err := p.Plan(context.Background(), spec); err != nil {
		h.t.Fatalf("plan: %v", err)
	}
}

func (h *harness) follow(job string) pipeline.Status {
	h.t.Helper()
	// A bound on a hung job, not a speed target: a loaded CI machine takes
	// minutes for the 50,000-record async jobs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := (&pipeline.Waiter{Store: h.store}).Wait(ctx, job)
	if err != nil {
		h.t.Fatalf("follow: %v (status %+v)", err, st)
	}
	return st
}

// waitPhase waits until every group of a job reached phase (or later).
func (h *harness) waitPhase(job, phase string) {
	h.t.Helper()
	order := []string{jobstore.PhaseUpload, jobstore.PhaseValidating, jobstore.PhaseProcessing, jobstore.PhaseDownload, jobstore.PhaseDone}
	rank := func(p string) int {
		for i, o := range order {
			if o == p {
				return i
			}
		}
		return len(order)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		gs, err := h.store.GroupStates(context.Background(), job)
		if err != nil {
			h.t.Fatal(err)
		}
		ok := len(gs) > 0
		for _, g := range gs {
			ok = ok && rank(g.Phase) >= rank(phase)
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("job %s: groups did not reach %s", job, phase)
}

func (h *harness) checkClean(st pipeline.Status, groups int, createRoute string) {
	h.t.Helper()
	if ds := h.fake.Datasets(); len(ds) != 0 {
		h.t.Errorf("%d datasets left behind: %+v", len(ds), ds)
	}
	stats := h.fake.Stats()
	if n := stats.Calls[createRoute]; n != groups {
		h.t.Errorf("%s called %d times, want %d (one remote job per dataset)", createRoute, n, groups)
	}
	if n := stats.Calls["POST /v1/datasets"]; n != groups {
		h.t.Errorf("%d datasets uploaded, want %d", n, groups)
	}
	if st.State != jobstore.StateDone || st.Failed != 0 {
		h.t.Errorf("status %s with %d failed, want done with none", st.State, st.Failed)
	}
}

func TestAsyncEndToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, model, route, create string
		opts                       []coheretest.Option
	}{
		{"embed jobs", "embed-english-light-v3.0", pipeline.AsyncEmbedJobs, "POST /v1/embed-jobs", nil},
		{"batches with repeated rows", "embed-v4.0", pipeline.AsyncBatches, "POST /v2/batches",
			[]coheretest.Option{coheretest.WithBatchDuplicates(0.1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, append([]coheretest.Option{asyncDelays, coheretest.WithPartRows(4000)}, tc.opts...)...)
			h.startAsyncWorkers(4, nil)
			path, texts := writeCorpus(t, 50_000, corpusText)
			spec := h.asyncSpec("async", tc.model, tc.route, path)
			h.plan(spec, 20_000)
			st := h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Written != 50_000 || st.Skipped != 0 || st.Failed != 0 || st.Total() != st.Records {
				t.Fatalf("status = %s written %d skipped %d failed %d of %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Records, st.Reason)
			}
			checkParquet(t, h.out, spec, texts)
			h.checkClean(st, 3, tc.create)
			stats := h.fake.Stats()
			if n := stats.Calls["POST /v2/embed"] + stats.Calls["POST /v1/embed"]; n != 0 {
				t.Errorf("%d sync embed calls, want 0", n)
			}
			if stats.EmbeddedTexts != 50_000 {
				t.Errorf("fake embedded %d texts, want 50000", stats.EmbeddedTexts)
			}
			gs, err := h.store.GroupStates(context.Background(), spec.ID)
			if err != nil || len(gs) != 3 {
				t.Fatalf("groups %+v, %v", gs, err)
			}
			for _, g := range gs {
				if g.Phase != jobstore.PhaseDone || g.RemoteID == "" {
					t.Errorf("group %d: phase %s remote %q", g.Group, g.Phase, g.RemoteID)
				}
			}

			// Run again: everything is in the sink, nothing is uploaded.
			h.fake.ResetStats()
			h.plan(spec, 20_000)
			st = h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Skipped != 50_000 || st.Written != 0 {
				t.Fatalf("re-run: %s written %d skipped %d failed %d", st.State, st.Written, st.Skipped, st.Failed)
			}
			if n := h.fake.Stats().Calls["POST /v1/datasets"]; n != 0 {
				t.Errorf("re-run uploaded %d datasets, want 0", n)
			}
		})
	}
}

// TestAsyncIntoPostgres runs the batches route into pgvector: exactly-once
// rows equal to the fake's vectors despite repeated output rows, no sync
// calls, datasets cleaned up.
func TestAsyncIntoPostgres(t *testing.T) {
	t.Parallel()
	h := newHarness(t, asyncDelays, coheretest.WithPartRows(4000), coheretest.WithBatchDuplicates(0.1))
	h.dbURL = testenv.DatabaseURL(t)
	h.startAsyncWorkers(4, nil)
	path, texts := writeCorpus(t, 20_000, corpusText)
	spec := h.asyncSpec("async-pg", "embed-v4.0", pipeline.AsyncBatches, path)
	spec.Sink, spec.Table = "postgres", "async_docs"
	if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
		t.Fatal(err)
	}
	h.plan(spec, 10_000)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 20_000 || st.Failed != 0 || st.Total() != st.Records {
		t.Fatalf("status = %s written %d failed %d of %d (%s)", st.State, st.Written, st.Failed, st.Records, st.Reason)
	}
	checkTable(t, connect(t, h.dbURL), "async_docs", spec, texts)
	h.checkClean(st, 2, "POST /v2/batches")
	if n := h.fake.Stats().Calls["POST /v2/embed"]; n != 0 {
		t.Errorf("%d sync embed calls, want 0", n)
	}
}

// TestAsyncWorkerRestarts kills the worker while the remote jobs run and
// delivers the download twice at once, one copy dying half-way.
func TestAsyncWorkerRestarts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithAsyncDelays(100*time.Millisecond, 1500*time.Millisecond), coheretest.WithPartRows(1000),
		coheretest.WithBatchDuplicates(0.05))
	path, texts := writeCorpus(t, 12_000, corpusText)
	spec := h.asyncSpec("restarts", "embed-v4.0", pipeline.AsyncBatches, path)

	h.startAsyncWorkers(2, nil)
	h.plan(spec, 5_000)
	h.waitPhase(spec.ID, jobstore.PhaseProcessing)
	h.servers[0].Shutdown()
	h.servers = nil

	var once sync.Once
	crashy := func(next asynq.HandlerFunc) asynq.HandlerFunc {
		return func(ctx context.Context, t *asynq.Task) error {
			first := false
			once.Do(func() { first = true })
			if !first {
				return next(ctx, t)
			}
			// Two deliveries at once; one is killed after a few milliseconds.
			short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = next(short, t) }()
			err := next(ctx, t)
			wg.Wait()
			return err
		}
	}
	h.startAsyncWorkers(2, crashy)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 12_000 || st.Failed != 0 || st.Total() != 12_000 {
		t.Fatalf("status = %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
	}
	checkParquet(t, h.out, spec, texts)
	h.checkClean(st, 3, "POST /v2/batches")
}

// TestAsyncFailures covers a dataset that fails validation and remote jobs
// that fail, with each fallback.
func TestAsyncFailures(t *testing.T) {
	t.Parallel()
	const poison = 77
	failValidation := coheretest.WithFault(func(r *http.Request, _ []byte) (int, string, bool) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/v1/datasets/") {
			return 0, "", false
		}
		id := strings.TrimPrefix(r.URL.Path, "/v1/datasets/")
		return 200, fmt.Sprintf(`{"dataset":{"id":%q,"name":"x","dataset_type":"embed-input","validation_status":"failed","validation_error":"line 12: invalid json"}}`, id), true
	})
	tests := []struct {
		name, model, route, fallback string
		opts                         []coheretest.Option
		wantState                    string
		wantWritten, wantFailed      int64
		wantReason                   string
	}{
		{"validation fails", "embed-english-v3.0", pipeline.AsyncEmbedJobs, pipeline.FallbackSync,
			[]coheretest.Option{failValidation}, jobstore.StateAborted, 0, 0, "failed validation: line 12: invalid json"},
		{"embed job fails, sync fallback", "embed-english-v3.0", pipeline.AsyncEmbedJobs, pipeline.FallbackSync,
			[]coheretest.Option{coheretest.WithPoison(corpusText(poison))}, jobstore.StateDone, 2999, 1, ""},
		{"embed job fails, dead-letter fallback", "embed-english-v3.0", pipeline.AsyncEmbedJobs, pipeline.FallbackDeadLetter,
			[]coheretest.Option{coheretest.WithPoison(corpusText(poison))}, jobstore.StateAborted, 0, 0, "embed job"},
		{"batch record fails, sync fallback", "embed-v4.0", pipeline.AsyncBatches, pipeline.FallbackSync,
			[]coheretest.Option{coheretest.WithPoison(corpusText(poison))}, jobstore.StateDone, 2999, 1, ""},
		{"batch record fails, dead-letter fallback", "embed-v4.0", pipeline.AsyncBatches, pipeline.FallbackDeadLetter,
			[]coheretest.Option{coheretest.WithPoison(corpusText(poison))}, jobstore.StateDone, 2999, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, append([]coheretest.Option{coheretest.WithAsyncDelays(50*time.Millisecond, 100*time.Millisecond)}, tc.opts...)...)
			h.startAsyncWorkers(2, nil)
			path, _ := writeCorpus(t, 3000, corpusText)
			spec := h.asyncSpec("fail", tc.model, tc.route, path)
			spec.AsyncFallback = tc.fallback
			h.plan(spec, 0)
			st := h.follow(spec.ID)
			if st.State != tc.wantState {
				t.Fatalf("state %s (%s), want %s", st.State, st.Reason, tc.wantState)
			}
			if !strings.Contains(st.Reason, tc.wantReason) {
				t.Errorf("reason %q, want it to contain %q", st.Reason, tc.wantReason)
			}
			if tc.wantState == jobstore.StateDone && (st.Written != tc.wantWritten || st.Failed != tc.wantFailed || st.Total() != 3000) {
				t.Errorf("written %d failed %d total %d, want %d, %d, 3000", st.Written, st.Failed, st.Total(), tc.wantWritten, tc.wantFailed)
			}
			if tc.wantFailed > 0 {
				dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
				if err != nil || len(dead) != 1 || dead[0].ID != fmt.Sprintf("doc-%05d", poison) {
					t.Errorf("dead letters %+v, %v", dead, err)
				}
			}
			if ds := h.fake.Datasets(); len(ds) != 0 {
				t.Errorf("%d datasets left behind: %+v", len(ds), ds)
			}
		})
	}
}

func TestAsyncAutoBelowThresholdStaysSync(t *testing.T) {
	t.Parallel()
	h := newHarness(t, asyncDelays)
	h.startAsyncWorkers(2, nil)
	path, texts := writeCorpus(t, 2000, corpusText)
	spec := h.asyncSpec("auto", "embed-v4.0", pipeline.AsyncAuto, path)
	h.plan(spec, 0)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 2000 {
		t.Fatalf("status = %s written %d (%s)", st.State, st.Written, st.Reason)
	}
	checkParquet(t, h.out, spec, texts)
	stats := h.fake.Stats()
	if n := stats.Calls["POST /v1/datasets"]; n != 0 {
		t.Errorf("%d datasets uploaded, want 0", n)
	}
	if stats.Calls["POST /v2/embed"] == 0 {
		t.Error("no sync embed calls")
	}
	if gs, _ := h.store.GroupStates(context.Background(), spec.ID); len(gs) != 0 {
		t.Errorf("sync job has %d async groups", len(gs))
	}
}

// TestAsyncCancel cancels a job while its embed jobs run: the remote jobs
// are cancelled and the datasets deleted.
func TestAsyncCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithAsyncDelays(50*time.Millisecond, 5*time.Second))
	w := h.startAsyncWorkers(2, nil)
	path, _ := writeCorpus(t, 3000, corpusText)
	spec := h.asyncSpec("cancel", "embed-english-v3.0", pipeline.AsyncEmbedJobs, path)
	h.plan(spec, 1000)
	h.waitPhase(spec.ID, jobstore.PhaseProcessing)
	ctx := context.Background()
	if err := h.store.SetState(ctx, spec.ID, jobstore.StateCancelled, "cancelled by user", false); err != nil {
		t.Fatal(err)
	}
	refs, err := pipeline.CancelRemote(ctx, h.store, w.Async, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	jobs := 0
	for _, r := range refs {
		if r.Kind == "embed-job" {
			jobs++
			j, err := w.Async.GetEmbedJob(ctx, r.ID)
			if err != nil || (j.Status != cohere.EmbedJobCancelling && j.Status != cohere.EmbedJobCancelled) {
				t.Errorf("embed job %s: %+v, %v", r.ID, j, err)
			}
		}
	}
	if jobs != 3 {
		t.Errorf("cancelled %d embed jobs, want 3", jobs)
	}
	if ds := h.fake.Datasets(); len(ds) != 0 {
		t.Errorf("%d datasets left behind", len(ds))
	}
}
