package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/keyspace"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/sinks"
)

// BenchmarkAsyncDownloadToSink measures the download phase of the async
// route (stream the Avro output parts, join by id, write each chunk to the
// sink and record it) against the sink half of the sync route (WriteChunk
// of the same rows, already in memory), in the same run, for an embed job
// (Embed Jobs) and a chat job (Batches). Metrics: async-rec/s,
// sync-sink-rec/s and their ratio.
func BenchmarkAsyncDownloadToSink(b *testing.B) {
	b.Run("embed", func(b *testing.B) { benchDownload(b, embedDownload) })
	b.Run("chat", func(b *testing.B) { benchDownload(b, chatDownload) })
}

// embedDownload is an embed job on Embed Jobs and the sync route's rows of
// a chunk of it.
func embedDownload(path, out string) (pipeline.Spec, func(lo, hi int) *sinks.Chunk) {
	spec := pipeline.Spec{ID: "bench", Model: "embed-english-v3.0", Inputs: []string{path}, ChunkSize: benchChunk,
		Sink: "parquet:" + out, AsyncOptions: pipeline.AsyncOptions{Async: pipeline.AsyncEmbedJobs, KeepDatasets: true}}.WithDefaults()
	rows := make([]sinks.Embedding, benchRecords)
	for i := range rows {
		rows[i] = sinks.Embedding{ID: fmt.Sprintf("doc-%05d", i), Float: coheretest.Embedding(spec.Model, spec.InputType, corpusText(i), spec.Dims()),
			Model: spec.Model, InputType: spec.InputType, Fingerprint: spec.Fingerprint(), EmbeddedAt: time.Now()}
	}
	return spec, func(lo, hi int) *sinks.Chunk {
		return &sinks.Chunk{Job: spec.ID, Number: lo / benchChunk, Rows: rows[lo:hi]}
	}
}

// chatDownload is a chat job on Batches and the sync route's rows of a
// chunk of it.
func chatDownload(path, out string) (pipeline.Spec, func(lo, hi int) *sinks.Chunk) {
	spec := pipeline.Spec{ID: "bench-chat", Op: pipeline.OpChat, Inputs: []string{path}, ChunkSize: benchChunk,
		Sink: "parquet:" + out, AsyncOptions: pipeline.AsyncOptions{Async: pipeline.AsyncBatches, KeepDatasets: true},
		ChatOptions: pipeline.ChatOptions{Prompt: "Summarise: {{.text}}", MaxTokens: 200}}.WithDefaults()
	rows := make([]sinks.ChatResult, benchRecords)
	for i := range rows {
		prompt := "Summarise: " + corpusText(i)
		out := coheretest.ChatText(spec.Model, 0, []coheretest.Turn{{Role: "user", Text: prompt}})
		rows[i] = sinks.ChatResult{ID: fmt.Sprintf("doc-%05d", i), Output: out, FinishReason: "COMPLETE", InputTokens: len(prompt) / 4,
			OutputTokens: len(out) / 4, Model: spec.Model, Fingerprint: spec.Fingerprint(), GeneratedAt: time.Now()}
	}
	return spec, func(lo, hi int) *sinks.Chunk {
		return &sinks.Chunk{Job: spec.ID, Number: lo / benchChunk, Chats: rows[lo:hi]}
	}
}

const benchRecords, benchChunk = 20_000, 1000

func benchDownload(b *testing.B, job func(path, out string) (pipeline.Spec, func(lo, hi int) *sinks.Chunk)) {
	const records, chunk = benchRecords, benchChunk
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
	enq := queue.NewClient(rdb, queue.DefaultQueue)
	store := pipeline.NewStore(rdb)
	w := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Queue: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey})
	w.AsyncPoll = pipeline.AsyncConfig{PollMin: 20 * time.Millisecond, PollMax: 100 * time.Millisecond}
	srv := asynq.NewServer(aopt, asynq.Config{Concurrency: 2, Queues: map[string]int{queue.DefaultQueue: 1},
		LogLevel: asynq.ErrorLevel, DelayedTaskCheckInterval: 20 * time.Millisecond})
	mux := queue.NewMux(w)
	// Upload and polling run in the queue; the benchmark runs the download.
	mux.Use(func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if t.Type() == queue.TypeAsyncDownload {
				return nil
			}
			return next.ProcessTask(ctx, t)
		})
	})
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
	spec, syncRows := job(path, filepath.Join(dir, "out"))
	if _, err := (&pipeline.Planner{Store: store, Queue: enq}).Plan(ctx, spec); err != nil {
		b.Fatal(err)
	}
	for {
		st, err := store.GroupState(ctx, spec.ID, 0)
		if err != nil {
			b.Fatal(err)
		}
		if st.Phase == jobstore.PhaseDownload {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Shutdown()
	task := pipeline.AsyncPayload{Job: spec.ID, Group: 0}

	dbURL := testenv.DatabaseURL(b)
	for _, kind := range []string{"parquet", "pgvector"} {
		b.Run(kind, func(b *testing.B) {
			var asyncTime, syncTime time.Duration
			for i := range b.N {
				// A fresh sink and fresh chunk records: every record is
				// written, none found in the sink.
				out := filepath.Join(dir, fmt.Sprintf("%s-%d", kind, i))
				if err := rdb.Del(ctx, keyspace.Done(spec.ID), keyspace.Totals(spec.ID)).Err(); err != nil {
					b.Fatal(err)
				}
				if err := rdb.HSet(ctx, keyspace.Group(spec.ID, 0), "phase", jobstore.PhaseDownload).Err(); err != nil {
					b.Fatal(err)
				}
				s := spec
				s.Sink = "parquet:" + out
				if kind == "pgvector" {
					s.Sink, s.Table = "postgres", fmt.Sprintf("%s_%d", strings.ReplaceAll(spec.ID, "-", "_"), i)
				}
				sb, _ := json.Marshal(s)
				rdb.HSet(ctx, keyspace.Job(spec.ID), "spec", sb)
				w2 := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Queue: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey, DatabaseURL: dbURL})
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
					if err := sink.WriteChunk(ctx, syncRows(lo, lo+chunk)); err != nil {
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
