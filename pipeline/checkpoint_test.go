package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// dying counts calls; call number dieAt is answered (and paid for) but its
// answer is lost as the worker dies: the handler's context is cancelled.
type dying struct {
	calls atomic.Int64
	dieAt int64
	die   context.CancelFunc
}

// dies counts a call that came back and reports whether it is the lost one.
func (d *dying) dies() bool {
	if d.calls.Add(1) != d.dieAt {
		return false
	}
	d.die()
	return true
}

// dyingEmbedder passes embed calls through until its dying call.
type dyingEmbedder struct {
	pipeline.Embedder
	*dying
}

func (d dyingEmbedder) Embed(ctx context.Context, req *cohere.EmbedRequest) (*cohere.EmbedResponse, error) {
	resp, err := d.Embedder.Embed(ctx, req)
	if d.dies() {
		return nil, context.Canceled
	}
	return resp, err
}

// dyingClassifier is dyingEmbedder for classify calls.
type dyingClassifier struct {
	pipeline.Classifier
	*dying
}

func (d dyingClassifier) Classify(ctx context.Context, req *cohere.ClassifyRequest) (*cohere.ClassifyResponse, error) {
	resp, err := d.Classifier.Classify(ctx, req)
	if d.dies() {
		return nil, context.Canceled
	}
	return resp, err
}

// crashWorkers returns a client of the harness's fake and newWorker, which
// builds a worker calling it, closed when the test ends: one to crash
// mid-chunk, another to take the chunk's next delivery.
func crashWorkers(t *testing.T, h *harness) (*cohere.Client, func() *pipeline.Worker) {
	t.Helper()
	client, err := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	return client, func() *pipeline.Worker {
		w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: "k", Limits: h.limits})
		t.Cleanup(func() { w.Close() })
		return w
	}
}

// oneChunkTask plans spec's input (records records) as one chunk by hand
// and returns its task's payload, for handlers called directly.
func oneChunkTask(t *testing.T, h *harness, spec pipeline.Spec, records int) pipeline.ChunkPayload {
	t.Helper()
	ctx := context.Background()
	if _, err := pipeline.CreateOrResume(ctx, h.store, spec); err != nil {
		t.Fatal(err)
	}
	var r input.Range
	if err := input.Split(ctx, spec.Inputs, spec.Input, records, func(got input.Range) error { r = got; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Planned(ctx, spec.ID, 1, int64(records)); err != nil {
		t.Fatal(err)
	}
	return pipeline.ChunkPayload{Job: spec.ID, Chunk: 0, Range: r}
}

// TestCrashMidChunkRepaysOnlyTheCallInFlight: a handler killed during the
// fifth of its chunk's ten calls leaves four calls' vectors checkpointed; the
// chunk's next delivery pays for the other six calls' texts only, and a
// record whose text changed in between is embedded anew, never given the
// vector of its old text.
func TestCrashMidChunkRepaysOnlyTheCallInFlight(t *testing.T) {
	t.Parallel()
	const records, died = 960, 5 // ten calls of 96; the fifth is in flight
	h := newHarness(t)
	path, texts := writeCorpus(t, records, corpusText)
	spec := h.spec("ckpt-crash", path)
	spec.ChunkSize = records
	ctx := context.Background()
	task := oneChunkTask(t, h, spec, records)
	client, newWorker := crashWorkers(t, h)

	crashing := newWorker()
	dctx, die := context.WithCancel(ctx)
	crashing.Embedder = dyingEmbedder{client, &dying{dieAt: died, die: die}}
	if err := crashing.HandleChunk(dctx, task); err == nil {
		t.Fatal("the dying delivery reported success")
	}
	if n := h.fake.Stats().EmbeddedTexts; n != died*pipeline.MaxBatch {
		t.Fatalf("the dying delivery paid %d texts, want %d", n, died*pipeline.MaxBatch)
	}

	if n := h.rdb.HLen(ctx, keyspace.Calls(spec.ID, 0)).Val(); n != (died-1)*pipeline.MaxBatch {
		t.Fatalf("%d vectors checkpointed, want the %d of the calls that returned", n, (died-1)*pipeline.MaxBatch)
	}
	// Record 10 (answered by the first call) changes its text, same length,
	// so the chunk's byte range still holds it.
	old := texts["doc-00010"]
	texts["doc-00010"] = strings.ToUpper(old)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, texts["doc-00010"], 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := newWorker().HandleChunk(ctx, task); err != nil {
		t.Fatal(err)
	}
	st, err := h.store.Status(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != records || st.Failed != 0 || st.ChunksDone != 1 {
		t.Fatalf("written %d failed %d chunks %d, want %d, 0, 1", st.Written, st.Failed, st.ChunksDone, records)
	}
	// The lost call's 96 texts and the changed record are paid twice,
	// nothing else.
	if n, want := h.fake.Stats().EmbeddedTexts, records+pipeline.MaxBatch+1; n != want {
		t.Errorf("fake embedded %d texts, want %d: %d paid twice, want %d", n, want, n-records, pipeline.MaxBatch+1)
	}
	checkParquet(t, h.out, spec, texts)
	if n, err := h.rdb.Exists(ctx, keyspace.Calls(spec.ID, 0)).Result(); err != nil || n != 0 {
		t.Errorf("the chunk's checkpoint is still in Redis after the chunk was written (%d, %v)", n, err)
	}
}

// TestClassifyCrashMidChunkRepaysOnlyTheCallInFlight: the same for a
// classify job (five calls, the third in flight), whose checkpointed
// verdicts hold no input text.
func TestClassifyCrashMidChunkRepaysOnlyTheCallInFlight(t *testing.T) {
	t.Parallel()
	const records, died = 480, 3
	h := newHarness(t)
	h.limits = rateLimits()
	path, texts := writeCorpus(t, records, corpusText)
	ex, err := pipeline.ReadExamples(writeExamples(t, classifyExamples))
	if err != nil {
		t.Fatal(err)
	}
	spec := pipeline.Spec{ID: "ckpt-classify", Op: pipeline.OpClassify, OpOptions: pipeline.OpOptions{Examples: ex},
		Inputs: []string{path}, ChunkSize: records, Sink: "parquet:" + h.out}.WithDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	task := oneChunkTask(t, h, spec, records)
	if err := h.store.SaveExamples(ctx, spec.ID, spec.Examples); err != nil {
		t.Fatal(err)
	}
	client, newWorker := crashWorkers(t, h)
	crashing := newWorker()
	dctx, die := context.WithCancel(ctx)
	crashing.Classifier = dyingClassifier{client, &dying{dieAt: died, die: die}}
	if err := crashing.HandleChunk(dctx, task); err == nil {
		t.Fatal("the dying delivery reported success")
	}
	saved := h.rdb.HVals(ctx, keyspace.Calls(spec.ID, 0)).Val()
	if len(saved) != (died-1)*pipeline.MaxBatch {
		t.Fatalf("%d verdicts checkpointed, want the %d of the calls that returned", len(saved), (died-1)*pipeline.MaxBatch)
	}
	for _, v := range saved {
		for _, text := range texts {
			if strings.Contains(v, text) {
				t.Fatalf("a checkpointed verdict holds an input text: %s", v)
			}
		}
	}
	if err := newWorker().HandleChunk(ctx, task); err != nil {
		t.Fatal(err)
	}
	if st, err := h.store.Status(ctx, spec.ID); err != nil || st.Written != records || st.ChunksDone != 1 {
		t.Fatalf("written %d chunks %d (%v), want %d, 1", st.Written, st.ChunksDone, err, records)
	}
	if n, want := h.fake.Stats().BilledClassifications, records+pipeline.MaxBatch; n != want {
		t.Errorf("fake classified %d inputs, want %d: only the lost call's %d paid twice", n, want, pipeline.MaxBatch)
	}
	all := make([]string, 0, records)
	for i := range records {
		all = append(all, texts[fmt.Sprintf("doc-%05d", i)])
	}
	want := fakeVerdicts(t, h.fake, "", ex, all)
	got := readClassifications(t, h, spec)
	if len(got) != records {
		t.Fatalf("sink holds %d classifications, want %d", len(got), records)
	}
	for id, text := range texts {
		if got[id].Label != want[text].Prediction {
			t.Errorf("%s: label %q, want %q", id, got[id].Label, want[text].Prediction)
		}
	}
}

// TestClassifyEmbedCrashMidChunkRepaysOnlyTheCallInFlight: the embed route
// of a classify job checkpoints its records' calls as an embed job does
// (embedItems): the examples' call, then five calls of 96 records, the
// third lost as the worker dies; the next delivery pays the lost call's and
// the unmade calls' records only, the centroids coming from the job store.
func TestClassifyEmbedCrashMidChunkRepaysOnlyTheCallInFlight(t *testing.T) {
	t.Parallel()
	const records, died = 480, 4 // the examples' call, then record calls 1 to 3
	h := newHarness(t)
	path, texts := writeCorpus(t, records, corpusText)
	ex, err := pipeline.ReadExamples(writeExamples(t, classifyExamples))
	if err != nil {
		t.Fatal(err)
	}
	spec := pipeline.Spec{ID: "ckpt-classify-embed", Op: pipeline.OpClassify, OpOptions: pipeline.OpOptions{Examples: ex},
		ClassifyOptions: pipeline.ClassifyOptions{Via: pipeline.ViaEmbed},
		Inputs:          []string{path}, ChunkSize: records, Sink: "parquet:" + h.out}.WithDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	task := oneChunkTask(t, h, spec, records)
	if err := h.store.SaveExamples(ctx, spec.ID, spec.Examples); err != nil {
		t.Fatal(err)
	}
	client, err := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	newWorker := func() *pipeline.Worker {
		w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: "k", Limits: h.limits})
		t.Cleanup(func() { w.Close() })
		return w
	}
	crashing := newWorker()
	dctx, die := context.WithCancel(ctx)
	crashing.Embedder = dyingEmbedder{client, &dying{dieAt: died, die: die}}
	if err := crashing.HandleChunk(dctx, task); err == nil {
		t.Fatal("the dying delivery reported success")
	}
	if n := h.rdb.HLen(ctx, keyspace.Calls(spec.ID, 0)).Val(); n != (died-2)*pipeline.MaxBatch {
		t.Fatalf("%d vectors checkpointed, want the %d of the record calls that returned", n, (died-2)*pipeline.MaxBatch)
	}
	if err := newWorker().HandleChunk(ctx, task); err != nil {
		t.Fatal(err)
	}
	if st, err := h.store.Status(ctx, spec.ID); err != nil || st.Written != records || st.ChunksDone != 1 {
		t.Fatalf("written %d chunks %d (%v), want %d, 1", st.Written, st.ChunksDone, err, records)
	}
	if n, want := h.fake.Stats().EmbeddedTexts, len(ex)+records+pipeline.MaxBatch; n != want {
		t.Errorf("fake embedded %d texts, want %d: the examples once, only the lost call's %d records twice", n, want, pipeline.MaxBatch)
	}
	got := readClassifications(t, h, spec)
	if len(got) != records {
		t.Fatalf("sink holds %d classifications, want %d", len(got), records)
	}
	for id := range texts {
		if c := got[id]; c.Route != pipeline.ViaEmbed || !slices.Contains(spec.Labels, c.Label) {
			t.Errorf("%s: route %q label %q, want embed and one of %v", id, c.Route, c.Label, spec.Labels)
		}
	}
}
