package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// Example runs a whole embed job the way `enqueue` does in embedded mode: an
// in-process Redis, in-process workers, a Parquet sink, and here the
// simulator standing in for the API.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cobatch-example")
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "docs.jsonl")
	os.WriteFile(in, []byte(`{"id":"a","text":"the quick brown fox"}
{"id":"b","text":"jumps over the lazy dog"}
{"id":"c","text":""}
`), 0o644)

	mr, _ := miniredis.Run()
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	sim := coheretest.NewServer()
	defer sim.Close()
	client, _ := cohere.New(cohere.Config{BaseURL: sim.URL, APIKey: coheretest.DefaultAPIKey})

	enq := queue.NewClient(rdb, queue.DefaultQueue)
	w := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Queue: enq, Cohere: client, APIKey: coheretest.DefaultAPIKey,
		Log: slog.New(slog.DiscardHandler)})
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: mr.Addr()}, asynq.Config{
		Concurrency: 2, Queues: map[string]int{queue.DefaultQueue: 1}, LogLevel: asynq.FatalLevel,
	})
	srv.Start(queue.NewMux(w))
	defer srv.Shutdown()

	spec := pipeline.Spec{ID: "example", Inputs: []string{in}, Dimensions: 256, Sink: "parquet:" + dir}.WithDefaults()
	if err := spec.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	store := pipeline.NewStore(rdb)
	planner := &pipeline.Planner{Store: store, Queue: enq}
	if _, err := planner.Plan(ctx, spec); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, _ := (&pipeline.Waiter{Store: store}).Wait(ctx, spec.ID)
	fmt.Printf("%s: %d written, %d skipped, %d failed\n", st.State, st.Written, st.Skipped, st.Failed)
	dead, _ := store.DeadLetters(ctx, spec.ID, 0)
	fmt.Printf("line %d: %s\n", dead[0].Line, strings.TrimPrefix(dead[0].Reason, dir+"/"))
	// Output:
	// done: 2 written, 0 skipped, 1 failed
	// line 3: docs.jsonl:3: field "text": empty text
}
