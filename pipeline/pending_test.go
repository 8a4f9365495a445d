package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// TestCrashAfterSinkWriteCountsWritten: the next delivery of a chunk whose
// rows reached the sink before a crash counts them written, not skipped,
// and pays nothing again.
func TestCrashAfterSinkWriteCountsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path, texts := writeCorpus(t, 300, corpusText)
	spec := h.spec("lostack", path)
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
	newWorker := func(wrap func(pipeline.Sink) pipeline.Sink) *pipeline.Worker {
		w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: "k", Limits: h.limits})
		open := w.OpenSink
		w.OpenSink = func(ctx context.Context, s pipeline.Spec) (pipeline.Sink, error) {
			sink, err := open(ctx, s)
			return wrap(sink), err
		}
		return w
	}
	crashing := newWorker(func(s pipeline.Sink) pipeline.Sink { return lostAckOnce{Sink: s, fired: new(atomic.Bool)} })
	if err := crashing.HandleChunk(ctx, task); err == nil {
		t.Fatal("the crashing delivery reported success")
	}
	healthy := newWorker(func(s pipeline.Sink) pipeline.Sink { return s })
	if err := healthy.HandleChunk(ctx, task); err != nil {
		t.Fatal(err)
	}
	st, err := h.store.Status(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 300 || st.Skipped != 0 || st.ChunksDone != 1 {
		t.Fatalf("written %d skipped %d chunks %d, want 300, 0, 1", st.Written, st.Skipped, st.ChunksDone)
	}
	if n := h.fake.Stats().EmbeddedTexts; n != 300 {
		t.Errorf("fake embedded %d texts, want 300: the second delivery paid again", n)
	}
	checkParquet(t, h.out, spec, texts)
}

// lostAckOnce fails its first sink write after making it: what a worker
// dying between the sink write and recording the chunk looks like to the
// job. Under the scheme "lostack-parquet" it is the Parquet sink, failing
// once per job.
type lostAckOnce struct {
	pipeline.Sink
	fired *atomic.Bool
}

var lostAckFired sync.Map // job → *atomic.Bool

func init() {
	sinks.Register(sinks.Kind{Scheme: "lostack-parquet", Open: func(ctx context.Context, t sinks.Target) (sinks.Sink, error) {
		s, err := sinks.Open(ctx, "parquet:"+t.Location, t)
		if err != nil {
			return nil, err
		}
		fired, _ := lostAckFired.LoadOrStore(t.Job, new(atomic.Bool))
		return lostAckOnce{Sink: s, fired: fired.(*atomic.Bool)}, nil
	}})
}

func (s lostAckOnce) WriteChunk(ctx context.Context, c *sinks.Chunk) error {
	if err := s.Sink.WriteChunk(ctx, c); err != nil || !s.fired.CompareAndSwap(false, true) {
		return err
	}
	return errors.New("worker died after the sink write")
}

// TestAsyncCrashAfterSinkWriteCountsWritten: on the async route too, rows a
// download wrote before dying count as written when the next delivery of
// the download finds them in the sink, not as skipped.
func TestAsyncCrashAfterSinkWriteCountsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path, texts := writeCorpus(t, 2000, corpusText)
	spec := h.asyncSpec("lostack-async", "embed-english-v3.0", pipeline.AsyncEmbedJobs, path)
	spec.Sink = "lostack-parquet:" + h.out
	h.startAsyncWorkers(2, nil)
	h.plan(spec, 2000)
	st := h.follow(spec.ID)
	if fired, ok := lostAckFired.Load(spec.ID); !ok || !fired.(*atomic.Bool).Load() {
		t.Fatal("no sink write was lost: the test proves nothing")
	}
	if st.State != jobstore.StateDone || st.Written != 2000 || st.Skipped != 0 || st.Failed != 0 {
		t.Fatalf("status %s written %d skipped %d failed %d (%s), want 2000 written", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
	}
	checkParquet(t, h.out, spec, texts)
}
