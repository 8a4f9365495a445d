package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

func pgSpec(h *harness, job, table string, inputs ...string) pipeline.Spec {
	s := pipeline.Spec{ID: job, Model: "embed-v4.0", Dimensions: 256, Inputs: inputs, ChunkSize: 500,
		Sink: "postgres", Table: table}.WithDefaults()
	if err := s.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// checkTable verifies the table record by record against the fake's vectors.
func checkTable(t *testing.T, conn *pgx.Conn, table string, spec pipeline.Spec, texts map[string]string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), "select id, embedding from "+table)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var id string
		var v pgvector.Vector
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		seen[id]++
		want := coheretest.Embedding(spec.Model, spec.InputType, texts[id], spec.Dims())
		got := v.Slice()
		if len(got) != len(want) {
			t.Fatalf("%s: %d dims", id, len(got))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: dim %d = %v, want %v", id, i, got[i], want[i])
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := range texts {
		if seen[id] != 1 {
			t.Errorf("%s stored %d times", id, seen[id])
		}
	}
	if len(seen) != len(texts) {
		t.Errorf("table holds %d ids, want %d", len(seen), len(texts))
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestPostgresIncremental embeds 10,000 records into a new table, checks every
// row and a nearest-neighbour query; re-runs the job (nothing paid); then
// changes 100 texts and re-runs (exactly those 100 paid).
func TestPostgresIncremental(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.dbURL = testenv.DatabaseURL(t)
	h.startWorkers(4)
	path, texts := writeCorpus(t, 10_000, corpusText)
	spec := pgSpec(h, "pg", "docs", path)
	spec.Index = &pipeline.Index{Method: "hnsw", Distance: "cosine"}
	if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
		t.Fatal(err)
	}
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 10_000 || st.Total() != 10_000 {
		t.Fatalf("status %s written %d total %d (%s)", st.State, st.Written, st.Total(), st.Reason)
	}
	conn := connect(t, h.dbURL)
	checkTable(t, conn, "docs", spec, texts)

	var indexes int
	if err := conn.QueryRow(context.Background(),
		`select count(*) from pg_indexes where schemaname = current_schema() and tablename = 'docs' and indexdef like '%hnsw%vector_cosine_ops%'`).Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	if indexes != 1 {
		t.Errorf("%d hnsw cosine indexes on docs, want 1", indexes)
	}
	q := coheretest.Embedding(spec.Model, spec.InputType, texts["doc-04321"], spec.Dims())
	var nearest string
	if err := conn.QueryRow(context.Background(), `select id from docs order by embedding <=> $1 limit 5`,
		pgvector.NewVector(q)).Scan(&nearest); err != nil {
		t.Fatal(err)
	}
	if nearest != "doc-04321" {
		t.Errorf("nearest to doc-04321's vector is %s", nearest)
	}

	h.fake.ResetStats()
	st = h.run(spec)
	if st.Skipped != 10_000 || st.Written != 0 || h.fake.Stats().EmbeddedTexts != 0 {
		t.Fatalf("unchanged re-run: written %d skipped %d, fake embedded %d", st.Written, st.Skipped, h.fake.Stats().EmbeddedTexts)
	}

	// Change 100 texts: exactly those are paid for and rewritten.
	changed := map[string]string{}
	for i := range 100 {
		id := fmt.Sprintf("doc-%05d", i*97)
		changed[id] = texts[id] + " (revised)"
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		id := fmt.Sprintf("doc-%05d", i)
		if c, ok := changed[id]; ok {
			texts[id] = c
		}
		fmt.Fprintf(f, "{\"id\":%q,\"text\":%q}\n", id, texts[id])
	}
	f.Close()
	h.fake.ResetStats()
	st = h.run(spec)
	if st.Written != 100 || st.Skipped != 9_900 || st.Failed != 0 {
		t.Fatalf("re-run after 100 changes: written %d skipped %d failed %d", st.Written, st.Skipped, st.Failed)
	}
	stats := h.fake.Stats()
	if stats.EmbeddedTexts != 100 {
		t.Errorf("fake embedded %d texts, want 100", stats.EmbeddedTexts)
	}
	for _, text := range changed {
		if n := h.fake.EmbedCount(text); n != 1 {
			t.Errorf("changed text embedded %d times", n)
		}
	}
	checkTable(t, conn, "docs", spec, texts)
}

// TestDuplicateDeliveryConcurrent runs the same chunk task twice at once, as
// asynq may after a crash: one row per record, the chunk counted once.
func TestDuplicateDeliveryConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithLatency(20*time.Millisecond, 0))
	h.dbURL = testenv.DatabaseURL(t)
	path, texts := writeCorpus(t, 400, corpusText)
	spec := pgSpec(h, "dup", "dup_docs", path)
	ctx := context.Background()
	if _, err := pipeline.CreateOrResume(ctx, h.store, spec); err != nil {
		t.Fatal(err)
	}
	var ranges []input.Range
	if err := input.Split(ctx, spec.Inputs, spec.Input, 1000, func(r input.Range) error { ranges = append(ranges, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Planned(ctx, spec.ID, len(ranges), 400); err != nil {
		t.Fatal(err)
	}
	client, _ := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey})
	task := pipeline.ChunkPayload{Job: spec.ID, Chunk: 0, Range: ranges[0]}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		// Two workers (processes), each with its own sink connection pool.
		w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: "k", Limits: h.limits, DatabaseURL: h.dbURL})
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.HandleChunk(ctx, task)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := h.store.Status(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 400 || st.ChunksDone != 1 {
		t.Fatalf("written %d chunks done %d, want 400 and 1", st.Written, st.ChunksDone)
	}
	checkTable(t, connect(t, h.dbURL), "dup_docs", spec, texts)
}

// TestPostgresConnectionsDropped terminates the sink's database connections
// again and again while the job runs (what a PostgreSQL restart does to
// them): chunks retry, and the job completes with nothing lost.
func TestPostgresConnectionsDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithLatency(10*time.Millisecond, 5*time.Millisecond))
	base := testenv.DatabaseURL(t)
	app := "cobatch-drop-" + testenv.Schema(base)
	h.dbURL = base + "&application_name=" + app
	h.startWorkers(4)
	path, texts := writeCorpus(t, 6000, corpusText)
	spec := pgSpec(h, "drop", "dropped", path)
	spec.ChunkSize = 200
	if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, base)
	stop := make(chan struct{})
	killed := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Eight rounds, a second apart: enough to hit writes in flight,
		// few enough that a loaded machine still makes progress between.
		for range 8 {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			var n int
			if err := admin.QueryRow(context.Background(),
				`select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = $1`, app).Scan(&n); err == nil {
				killed += n
			}
		}
	}()
	st := func() pipeline.Status {
		defer wg.Wait()
		defer close(stop)
		return h.run(spec)
	}()
	if st.State != jobstore.StateDone || st.Written != 6000 || st.Failed != 0 {
		t.Fatalf("status %s written %d failed %d (%s)", st.State, st.Written, st.Failed, st.Reason)
	}
	if killed == 0 {
		t.Fatal("no connection was terminated: the test proved nothing")
	}
	checkTable(t, connect(t, h.dbURL), "dropped", spec, texts)
	if strings.Contains(st.Reason, "gave up") {
		t.Errorf("reason %q", st.Reason)
	}
}

// TestDimensionMismatchRefused: a table of another dimension stops the job
// before anything is enqueued or paid for.
func TestDimensionMismatchRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.dbURL = testenv.DatabaseURL(t)
	conn := connect(t, h.dbURL)
	if _, err := conn.Exec(context.Background(), `create table small (id text primary key, embedding vector(3))`); err != nil {
		t.Fatal(err)
	}
	path, _ := writeCorpus(t, 10, corpusText)
	spec := pgSpec(h, "mismatch", "small", path)
	_, err := cli.OpenSink(context.Background(), spec, h.dbURL)
	if err == nil || !strings.Contains(err.Error(), "3") || !strings.Contains(err.Error(), "256") {
		t.Fatalf("open sink: %v, want a dimension mismatch naming 3 and 256", err)
	}
	if n := h.fake.Stats().Calls["POST /v2/embed"]; n != 0 {
		t.Errorf("%d embed calls", n)
	}
}
