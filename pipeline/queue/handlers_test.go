package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestHandleTranslates: a payload that does not decode is not retried and
// never reaches the handler; an error marked pipeline.ErrNoRetry reaches
// asynq as SkipRetry with its own message; any other error is retried.
func TestHandleTranslates(t *testing.T) {
	t.Parallel()
	var got []pipeline.AsyncPayload
	boom := errors.New("boom")
	var ret error
	h := handle(func(_ context.Context, p pipeline.AsyncPayload) error {
		got = append(got, p)
		return ret
	})
	ctx := context.Background()

	err := h.ProcessTask(ctx, asynq.NewTask(TypeAsyncPoll, []byte("{not json")))
	if !errors.Is(err, asynq.SkipRetry) || len(got) != 0 {
		t.Fatalf("bad payload: err %v, handler ran %d times; want SkipRetry and no run", err, len(got))
	}

	b, _ := json.Marshal(pipeline.AsyncPayload{Job: "j", Group: 2, Token: "t"})
	ret = fmt.Errorf("gave up: %w", pipeline.ErrNoRetry)
	err = h.ProcessTask(ctx, asynq.NewTask(TypeAsyncPoll, b))
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, pipeline.ErrNoRetry) || err.Error() != ret.Error() {
		t.Fatalf("ErrNoRetry: err %q; want SkipRetry with the message %q", err, ret)
	}
	if want := (pipeline.AsyncPayload{Job: "j", Group: 2, Token: "t"}); len(got) != 1 || got[0] != want {
		t.Fatalf("handler got %+v, want %+v", got, want)
	}

	ret = boom
	if err := h.ProcessTask(ctx, asynq.NewTask(TypeAsyncPoll, b)); err != boom {
		t.Fatalf("plain error: %v, want it as is", err)
	}
}

// TestLastRetryAbortsTheJob: the middleware hands the delivery's retry
// count over, so that settle (pipeline/outcome.go) aborts the job on its
// last retry rather than letting asynq archive the task silently, and
// asynq does not retry it.
func TestLastRetryAbortsTheJob(t *testing.T) {
	t.Parallel()
	rdb, url := testenv.RedisClient(t)
	conn, err := redisconn.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The sink never opens: the input is never read.
	spec := pipeline.Spec{ID: "last-retry", Dimensions: 256, Inputs: []string{"in.jsonl"}, Sink: "parquet:" + t.TempDir()}.WithDefaults()
	store := pipeline.NewStore(rdb)
	if _, err := pipeline.CreateOrResume(ctx, store, spec); err != nil {
		t.Fatal(err)
	}
	c := NewClient(rdb, "")
	w := &pipeline.Worker{Deps: pipeline.Deps{Store: store, Log: slog.New(slog.DiscardHandler)}, Queue: c,
		OpenSink: func(context.Context, pipeline.Spec) (pipeline.Sink, error) {
			return nil, errors.New("sink unreachable")
		}}
	srv := NewServer(conn, 1, DefaultQueue, time.Second, slog.New(slog.DiscardHandler))
	if err := srv.Start(NewMux(w)); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	b, _ := json.Marshal(pipeline.ChunkPayload{Job: spec.ID, Chunk: 0})
	// One retry allowed: settle gives up from the delivery before the
	// last one, here the first.
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask(TypeChunk, b, asynq.Queue(DefaultQueue), asynq.MaxRetry(1))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := store.Status(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == jobstore.StateAborted {
			if !strings.Contains(st.Reason, "gave up after 1 attempts") || !strings.Contains(st.Reason, "sink unreachable") {
				t.Fatalf("aborted with %q; want the attempts and the error", st.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after 30s", st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ins := asynq.NewInspectorFromRedisClient(rdb)
	for time.Now().Before(deadline) {
		if info, err := ins.GetQueueInfo(DefaultQueue); err == nil && info.Archived == 1 {
			if info.Retry != 0 {
				t.Fatalf("%d tasks to retry, want none", info.Retry)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the task was not archived without retry")
}
