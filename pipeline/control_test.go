package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// waitChunks waits until at least n chunks of job are recorded done.
func (h *harness) waitChunks(job string, n int64) pipeline.Status {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := h.store.Status(context.Background(), job)
		if err != nil {
			h.t.Fatal(err)
		}
		if st.ChunksDone >= n {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s: %d chunks done after a minute, want %d", job, st.ChunksDone, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitQueueIdle waits until the queue holds no running and no pending task.
func (h *harness) waitQueueIdle() {
	h.t.Helper()
	ins := asynq.NewInspectorFromRedisClient(h.rdb)
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := ins.GetQueueInfo(queue.DefaultQueue)
		if err != nil {
			h.t.Fatal(err)
		}
		if info.Active == 0 && info.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("queue still has %d running and %d pending tasks after a minute", info.Active, info.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func embedCalls(f *coheretest.Server) int { return f.Stats().Calls["POST /v2/embed"] }

func TestStatusOfRunningJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithLatency(40*time.Millisecond, 0))
	h.startWorkers(1)
	path, _ := writeCorpus(t, 3000, corpusText)
	spec := h.spec("status-running", path)
	p := &pipeline.Planner{Store: h.store, Queue: h.enq}
	if _, err := p.Plan(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	h.waitChunks(spec.ID, 1)
	mid, err := h.store.Status(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mid.State != jobstore.StateRunning || mid.Records != 3000 || mid.Chunks != 6 {
		t.Errorf("status = state %s, %d records, %d chunks; want running, 3000, 6", mid.State, mid.Records, mid.Chunks)
	}
	// One handler, 500-record chunks, no failures: the counts are whole chunks.
	if mid.ChunksDone < 1 || mid.ChunksDone >= 6 || mid.Written != 500*mid.ChunksDone || mid.Skipped != 0 || mid.Failed != 0 {
		t.Errorf("status = %d chunks done, %d written, %d skipped, %d failed; want 500 written per chunk done, mid-job",
			mid.ChunksDone, mid.Written, mid.Skipped, mid.Failed)
	}
	if mid.Tokens <= 0 || pipeline.Billed(mid) <= 0 || mid.Calls < 6*mid.ChunksDone {
		t.Errorf("status = %d tokens, cost %v, %d calls; want the billing of %d chunks", mid.Tokens, pipeline.Billed(mid), mid.Calls, mid.ChunksDone)
	}
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 3000 {
		t.Errorf("final: %s, %d written; want done, 3000", st.State, st.Written)
	}
}

func TestCancelStopsAPICalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithLatency(30*time.Millisecond, 0))
	h.startWorkers(2)
	path, _ := writeCorpus(t, 5000, corpusText)
	spec := h.spec("cancel-mid", path)
	p := &pipeline.Planner{Store: h.store, Queue: h.enq}
	if _, err := p.Plan(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	h.waitChunks(spec.ID, 1)
	atCancel := embedCalls(h.fake)
	if err := h.store.Cancel(context.Background(), spec.ID); err != nil {
		t.Fatal(err)
	}
	// Once no chunk task is running or waiting, no call can start.
	h.waitQueueIdle()
	calls := embedCalls(h.fake)
	// Each of the two handlers may have checked the job's state just
	// before the cancel and still sent its call.
	if calls-atCancel > 2 {
		t.Errorf("embed calls grew from %d to %d after cancel, want at most one per handler (2)", atCancel, calls)
	}
	st, err := h.store.Status(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != jobstore.StateCancelled || st.Total() >= 5000 || st.Written != 500*st.ChunksDone {
		t.Errorf("status = %s, %d of 5000 accounted, %d written in %d chunks; want cancelled mid-job, whole chunks",
			st.State, st.Total(), st.Written, st.ChunksDone)
	}
	if calls >= 5000/pipeline.MaxBatch {
		t.Errorf("%d embed calls: the cancel did not stop the job early", calls)
	}
}

func TestRetryFailedReembedsOnlyDeadLetters(t *testing.T) {
	t.Parallel()
	path, texts := writeCorpus(t, 1500, corpusText)
	// Five records in two chunks fail with a 400, as if the API had
	// rejected them for a cause since fixed.
	poisonIDs := []string{"doc-00007", "doc-00100", "doc-00499", "doc-00500", "doc-01234"}
	var poison []string
	for _, id := range poisonIDs {
		poison = append(poison, texts[id])
	}
	h := newHarness(t, coheretest.WithPoison(poison...))
	h.startWorkers(2)
	spec := h.spec("retry-failed", path)
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 1495 || st.Failed != 5 {
		t.Fatalf("first run: %s, %d written, %d failed; want done, 1495, 5", st.State, st.Written, st.Failed)
	}
	calls := embedCalls(h.fake)

	h.fake.Set(coheretest.WithoutPoison())
	p := &pipeline.Planner{Store: h.store, Queue: h.enq}
	res, err := p.RetryFailed(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Chunks of 500: doc-00007, -00100, -00499 in chunk 0; -00500 in 1; -01234 in 2.
	if res.Chunks != 3 || res.Enqueued != 3 {
		t.Errorf("retry = %d chunks reopened, %d enqueued; want 3, 3", res.Chunks, res.Enqueued)
	}
	st = h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 1500 || st.Skipped != 0 || st.Failed != 0 || st.Total() != 1500 {
		t.Errorf("after retry: %s, %d written, %d skipped, %d failed; want done, 1500, 0, 0", st.State, st.Written, st.Skipped, st.Failed)
	}
	if dl, err := h.store.DeadLetters(context.Background(), spec.ID, 0); err != nil || len(dl) != 0 {
		t.Errorf("dead letters after retry = %v (%v), want none", dl, err)
	}
	// Exactly the five formerly-failed texts were embedded again, in one call.
	if got := embedCalls(h.fake) - calls; got != 3 {
		t.Errorf("retry made %d embed calls, want 3 (one per reopened chunk)", got)
	}
	for id, text := range texts {
		if n := h.fake.EmbedCount(text); n != 1 {
			t.Errorf("%s embedded %d times, want 1", id, n)
		}
	}
	checkParquet(t, h.out, spec, texts)

	// Nothing left to retry: a second retry reopens nothing.
	res, err = p.RetryFailed(context.Background(), spec.ID)
	if err != nil || res.Chunks != 0 {
		t.Errorf("second retry = %+v, %v; want no chunk reopened", res, err)
	}
	h.follow(spec.ID)
}

func TestRetryFailedRefusesARunningJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path, _ := writeCorpus(t, 10, corpusText)
	spec := h.spec("retry-running", path)
	p := &pipeline.Planner{Store: h.store, Queue: h.enq}
	if _, err := p.Plan(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	_, err := p.RetryFailed(context.Background(), spec.ID)
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("retry of a running job: %v, want ErrJobRunning", err)
	}
}
