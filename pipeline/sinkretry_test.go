package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// diskFull fails its first n writes as a full disk does.
type diskFull struct {
	pipeline.Sink
	n *atomic.Int64
}

func (s diskFull) WriteChunk(ctx context.Context, c *sinks.Chunk) error {
	if s.n.Add(-1) >= 0 {
		return fmt.Errorf("write part: %w", syscall.ENOSPC)
	}
	return s.Sink.WriteChunk(ctx, c)
}

// sinkFailingChunk runs one 300-record chunk through a worker whose sink
// fails its first `fails` writes with a transient error.
func sinkFailingChunk(t *testing.T, job string, fails int64, budget time.Duration) (*harness, pipeline.Spec, map[string]string, error) {
	h := newHarness(t)
	path, texts := writeCorpus(t, 300, corpusText)
	spec := h.spec(job, path)
	ctx := context.Background()
	if _, err := pipeline.CreateOrResume(ctx, h.store, spec); err != nil {
		t.Fatal(err)
	}
	var r input.Range
	if err := input.Split(ctx, spec.Inputs, spec.Input, 1000, func(got input.Range) error { r = got; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Planned(ctx, spec.ID, 1, 300); err != nil {
		t.Fatal(err)
	}
	task := pipeline.ChunkPayload{Job: spec.ID, Chunk: 0, Range: r}
	client, err := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: "k", Limits: h.limits})
	w.SinkRetryBudget = budget
	var n atomic.Int64
	n.Store(fails)
	open := w.OpenSink
	w.OpenSink = func(ctx context.Context, s pipeline.Spec) (pipeline.Sink, error) {
		sink, err := open(ctx, s)
		return diskFull{sink, &n}, err
	}
	t.Cleanup(func() { w.Close() })
	return h, spec, texts, w.HandleChunk(ctx, task)
}

// TestTransientSinkErrorRetriedInHandler: a sink that fails transiently is
// retried inside the handler with the paid results held in memory; the API
// is not called again for them.
func TestTransientSinkErrorRetriedInHandler(t *testing.T) {
	t.Parallel()
	h, spec, texts, err := sinkFailingChunk(t, "sink-transient", 3, time.Minute)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	st, err := h.store.Status(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 300 || st.ChunksDone != 1 {
		t.Fatalf("written %d chunks %d, want 300 and 1", st.Written, st.ChunksDone)
	}
	if n := h.fake.Stats().EmbeddedTexts; n != 300 {
		t.Errorf("fake embedded %d texts, want 300: the sink's failures paid again", n)
	}
	checkParquet(t, h.out, spec, texts)
}

// TestSinkPastBudgetAborts: a sink still failing when the budget is spent
// aborts the job (exit 3) without a task retry that would pay again.
func TestSinkPastBudgetAborts(t *testing.T) {
	t.Parallel()
	h, spec, _, err := sinkFailingChunk(t, "sink-budget", 1<<30, 2*time.Second)
	if err != nil {
		t.Fatalf("handler returned %v, want nil (the job is aborted, the task done)", err)
	}
	st, err := h.store.Status(context.Background(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != jobstore.StateAborted || !strings.Contains(st.Reason, "no space left") {
		t.Fatalf("state %s reason %q, want aborted naming the sink's error", st.State, st.Reason)
	}
	if n := h.fake.Stats().EmbeddedTexts; n != 300 {
		t.Errorf("fake embedded %d texts, want 300", n)
	}
}
