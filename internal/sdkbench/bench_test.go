package sdkbench

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/cohere-ai/cohere-go/v2"
	sdkclient "github.com/cohere-ai/cohere-go/v2/client"
	"github.com/cohere-ai/cohere-go/v2/option"
	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

// The simulator settings: 2,000 embed inputs per sliding 2 s window
// (Cohere's 2,000 a minute, window scaled), 20 ± 20 ms latency, 2 % of calls
// answered 500 and 1 % of connections reset.
const (
	records = 20000
	model   = "embed-v4.0"
	dims    = 256
	limit   = 2000
	window  = 2 * time.Second
)

func simulator() *coheretest.Server {
	return coheretest.NewServer(coheretest.WithRateLimit("embed", limit, window),
		coheretest.WithLatency(0, 40*time.Millisecond),
		coheretest.WithErrorRate(500, 0.02), coheretest.WithResets(0.01))
}

type corpus struct {
	ids, texts []string
	path       string // JSONL with id and text
}

// loadCorpus reads the first n verses of the repository's KJV example.
func loadCorpus(b *testing.B, n int) corpus {
	b.Helper()
	f, err := os.Open("../../examples/kjv/bible.jsonl.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var c corpus
	c.path = filepath.Join(b.TempDir(), "corpus.jsonl")
	out, err := os.Create(c.path)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	sc := bufio.NewScanner(zr)
	for sc.Scan() && len(c.ids) < n {
		var rec struct{ ID, Text string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			b.Fatal(err)
		}
		c.ids, c.texts = append(c.ids, rec.ID), append(c.texts, rec.Text)
		line, _ := json.Marshal(map[string]string{"id": rec.ID, "text": rec.Text})
		out.Write(append(line, '\n'))
	}
	if len(c.ids) != n {
		b.Fatalf("corpus has %d records, want %d", len(c.ids), n)
	}
	return c
}

// sdkLoop embeds the corpus with the official SDK, 96 texts a call, one call
// at a time, as a user would write it first. On an error it either stops
// (retry false) or sleeps a second and tries the same batch again. It
// returns the records embedded, the errors seen and the wall time.
func sdkLoop(b *testing.B, url string, c corpus, retry bool) (int, int, time.Duration) {
	co := sdkclient.NewClient(option.WithBaseURL(url), option.WithToken(coheretest.DefaultAPIKey))
	ctx := context.Background()
	d := dims
	done, errs := 0, 0
	began := time.Now()
	for i := 0; i < len(c.texts); {
		texts := c.texts[i:min(i+96, len(c.texts))]
		resp, err := co.V2.Embed(ctx, &sdk.V2EmbedRequest{Texts: texts, Model: model,
			InputType: sdk.EmbedInputTypeSearchDocument, EmbeddingTypes: []sdk.EmbeddingType{sdk.EmbeddingTypeFloat}, OutputDimension: &d})
		if err != nil {
			errs++
			if !retry {
				break
			}
			time.Sleep(time.Second)
			continue
		}
		if len(resp.Embeddings.Float) != len(texts) {
			b.Fatalf("SDK: %d embeddings for %d texts", len(resp.Embeddings.Float), len(texts))
		}
		done += len(texts)
		i += len(texts)
	}
	return done, errs, time.Since(began)
}

// cobatchJob runs the corpus as one cobatch job in this process: 8 handlers
// (as 2 worker processes of 4) sharing the limit through Redis, into a
// Parquet sink. It returns the records written and the wall time from
// planning to the job's end.
func cobatchJob(b *testing.B, url string, c corpus) (int64, time.Duration) {
	ctx := context.Background()
	rdb, redisURL := testenv.RedisClient(b)
	aopt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		b.Fatal(err)
	}
	client, err := cohere.New(cohere.Config{BaseURL: url, APIKey: coheretest.DefaultAPIKey,
		Retry: cohere.RetryPolicy{NoRetryRateLimited: true}})
	if err != nil {
		b.Fatal(err)
	}
	enq := queue.NewClient(rdb, queue.DefaultQueue)
	store := pipeline.NewStore(rdb)
	w := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Queue: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey,
		Limits: map[string]ratelimit.Limit{"embed": {Count: limit, Per: window}}})
	srv := asynq.NewServer(aopt, asynq.Config{Concurrency: 8, Queues: map[string]int{queue.DefaultQueue: 1},
		LogLevel: asynq.ErrorLevel, TaskCheckInterval: 20 * time.Millisecond})
	if err := srv.Start(queue.NewMux(w)); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	spec := pipeline.Spec{ID: "sdkbench", Model: model, Dimensions: dims, Inputs: []string{c.path}, ChunkSize: 500,
		Sink: "parquet:" + filepath.Join(b.TempDir(), "out")}.WithDefaults()
	began := time.Now()
	if _, err := (&pipeline.Planner{Store: store, Queue: enq}).Plan(ctx, spec); err != nil {
		b.Fatal(err)
	}
	for {
		st, err := store.Status(ctx, spec.ID)
		if err != nil {
			b.Fatal(err)
		}
		if st.Ended() {
			if st.Written != int64(len(c.ids)) || st.Failed != 0 {
				b.Fatalf("cobatch: %d written, %d failed of %d", st.Written, st.Failed, len(c.ids))
			}
			return st.Written, time.Since(began)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkSideBySide: the official SDK in a sequential loop that stops at
// its first error, the same loop sleeping 1 s and retrying on errors, and a
// cobatch job, each against a fresh simulator with the same settings.
// Target: cobatch ≥ 2× the retrying loop's records/s.
func BenchmarkSideBySide(b *testing.B) {
	c := loadCorpus(b, records)
	for range b.N {
		sim := simulator()
		stopDone, stopErrs, stopWall := sdkLoop(b, sim.URL, c, false)
		sim.Close()
		sim = simulator()
		retryDone, retryErrs, retryWall := sdkLoop(b, sim.URL, c, true)
		sim.Close()
		sim = simulator()
		written, wall := cobatchJob(b, sim.URL, c)
		st := sim.Stats()
		sim.Close()
		retryRate := float64(retryDone) / retryWall.Seconds()
		ours := float64(written) / wall.Seconds()
		x := ours / retryRate
		b.ReportMetric(ours, "cobatch-rec/s")
		b.ReportMetric(retryRate, "sdk-retry-rec/s")
		b.ReportMetric(x, "x-sdk-retry")
		b.ReportMetric(float64(stopDone)/float64(records), "sdk-stop-fraction")
		var rows []string
		rows = append(rows,
			fmt.Sprintf("| SDK loop, stops at first error | %d of %d (%.0f %%) | %.1f s | %.0f | %d | |", stopDone, records, 100*float64(stopDone)/records, stopWall.Seconds(), float64(stopDone)/stopWall.Seconds(), stopErrs),
			fmt.Sprintf("| SDK loop, sleeps 1 s and retries (baseline) | %d of %d | %.1f s | %.0f | %d | |", retryDone, records, retryWall.Seconds(), retryRate, retryErrs),
			fmt.Sprintf("| cobatch job (8 handlers, `-rate-limit embed=%d/%s`), into Parquet | %d of %d | %.1f s | %.0f | %d 429s, %d 5xx, %d resets | %.2f× the retrying loop |", limit, window, written, records, wall.Seconds(), ours, st.RateLimited, st.Status[500], st.Resets, x))
		fmt.Fprintf(os.Stderr, "\n| run | records | wall | records/s | errors | ratio |\n|---|---|---|---|---|---|\n%s\n", strings.Join(rows, "\n"))
	}
}
