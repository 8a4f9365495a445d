package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/sinks"
)

// BenchmarkAsyncDownloadToSink measures the download phase of the async
// route (stream the Avro output parts, join by id, write each chunk to the
// Parquet sink and record it) against the sink half of the sync route
// (WriteChunk of the same rows, already in memory), in the same run.
// Metrics: async-rec/s, sync-sink-rec/s and their ratio.
func BenchmarkAsyncDownloadToSink(b *testing.B) {
	const records, chunk = 20_000, 1000
	ctx := context.Background()
	rdb, url := testenv.RedisClient(b)
	aopt, err := asynq.ParseRedisURI(url)
	if err != nil {
		b.Fatal(err)
	}
	fake := coheretest.NewServer(coheretest.WithAsyncDelays(10*time.Millisecond, 10*time.Millisecond), coheretest.WithPartRows(5000))
	defer fake.Close()
	client, err := cohere.New(cohere.Config{BaseURL: fake.URL, APIKey: coheretest.DefaultAPIKey, Timeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	enq := asynq.NewClientFromRedisClient(rdb)
	store := pipeline.NewStore(rdb)
	w := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Enqueuer: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey})
	w.AsyncPoll = pipeline.AsyncConfig{PollMin: 20 * time.Millisecond, PollMax: 100 * time.Millisecond}
	srv := asynq.NewServer(aopt, asynq.Config{Concurrency: 2, Queues: map[string]int{pipeline.DefaultQueue: 1},
		LogLevel: asynq.ErrorLevel, DelayedTaskCheckInterval: 20 * time.Millisecond})
	mux := asynq.NewServeMux()
	// Upload and polling run in the queue; the benchmark runs the download.
	mux.HandleFunc(pipeline.TypeAsyncUpload, w.HandleAsyncUpload)
	mux.HandleFunc(pipeline.TypeAsyncPoll, w.HandleAsyncPoll)
	mux.HandleFunc(pipeline.TypeAsyncDownload, func(context.Context, *asynq.Task) error { return nil })
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()

	dir := b.TempDir()
	path := filepath.Join(dir, "corpus.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for i := range records {
		fmt.Fprintf(f, "{\"id\":\"doc-%05d\",\"text\":%q}\n", i, corpusText(i))
	}
	f.Close()
	spec := pipeline.Spec{ID: "bench", Model: "embed-english-v3.0", Inputs: []string{path}, ChunkSize: chunk,
		Sink: "parquet:" + filepath.Join(dir, "out"), AsyncOptions: pipeline.AsyncOptions{Async: pipeline.AsyncEmbedJobs, KeepDatasets: true}}.WithDefaults()
	if _, err := (&pipeline.Planner{Store: store, Client: enq}).Plan(ctx, spec); err != nil {
		b.Fatal(err)
	}
	for {
		st, err := store.GroupState(ctx, spec.ID, 0)
		if err != nil {
			b.Fatal(err)
		}
		if st.Phase == pipeline.PhaseDownload {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Shutdown()
	// The sync route's rows for the same records, for its sink half.
	texts := make([]string, records)
	rows := make([]sinks.Embedding, records)
	for i := range rows {
		texts[i] = corpusText(i)
		rows[i] = sinks.Embedding{ID: fmt.Sprintf("doc-%05d", i), Float: coheretest.Embedding(spec.Model, spec.InputType, texts[i], spec.Dims()),
			Model: spec.Model, InputType: spec.InputType, Fingerprint: spec.Fingerprint(), EmbeddedAt: time.Now()}
	}
	payload, _ := json.Marshal(pipeline.AsyncPayload{Job: spec.ID, Group: 0})
	task := asynq.NewTask(pipeline.TypeAsyncDownload, payload)

	dbURL := testenv.DatabaseURL(b)
	for _, kind := range []string{"parquet", "pgvector"} {
		b.Run(kind, func(b *testing.B) {
			var asyncTime, syncTime time.Duration
			for i := range b.N {
				// A fresh sink and fresh chunk records: every record is
				// written, none found in the sink.
				out := filepath.Join(dir, fmt.Sprintf("%s-%d", kind, i))
				if err := rdb.Del(ctx, pipeline.DoneKey(spec.ID), pipeline.TotalsKey(spec.ID)).Err(); err != nil {
					b.Fatal(err)
				}
				if err := rdb.HSet(ctx, pipeline.GroupKey(spec.ID, 0), "phase", pipeline.PhaseDownload).Err(); err != nil {
					b.Fatal(err)
				}
				s := spec
				s.Sink = "parquet:" + out
				if kind == "pgvector" {
					s.Sink, s.Table = "postgres", fmt.Sprintf("async_%d", i)
				}
				sb, _ := json.Marshal(s)
				rdb.HSet(ctx, pipeline.JobKey(spec.ID), "spec", sb)
				w2 := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Enqueuer: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey, DatabaseURL: dbURL})
				syncSpec := s
				if kind == "parquet" {
					syncSpec.Sink = "parquet:" + out + "-sync"
				}
				syncSpec.Table += "_sync"
				sink, err := cli.OpenSink(ctx, syncSpec, dbURL)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := cli.OpenSink(ctx, s, dbURL); err != nil { // table created outside the timing
					b.Fatal(err)
				}

				start := time.Now()
				if err := w2.HandleAsyncDownload(ctx, task); err != nil {
					b.Fatal(err)
				}
				asyncTime += time.Since(start)
				start = time.Now()
				for lo := 0; lo < records; lo += chunk {
					if err := sink.WriteChunk(ctx, &sinks.Chunk{Job: spec.ID, Number: lo / chunk, Rows: rows[lo : lo+chunk]}); err != nil {
						b.Fatal(err)
					}
				}
				syncTime += time.Since(start)
			}
			st, err := store.Status(ctx, spec.ID)
			if err != nil || st.Written != records {
				b.Fatalf("last run wrote %d records (%v), want %d", st.Written, err, records)
			}
			asyncRate := float64(records*b.N) / asyncTime.Seconds()
			syncRate := float64(records*b.N) / syncTime.Seconds()
			b.ReportMetric(asyncRate, "async-rec/s")
			b.ReportMetric(syncRate, "sync-sink-rec/s")
			b.ReportMetric(asyncRate/syncRate, "ratio")
		})
	}
}
