package queue

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
)

// TestClientIdempotent: a task is queued once under its id, whatever the
// number of calls; Forget lets a chunk and the finalize task be queued again.
func TestClientIdempotent(t *testing.T) {
	t.Parallel()
	rdb, _ := testenv.RedisClient(t)
	ctx := context.Background()
	c := NewClient(rdb, "")
	p := pipeline.ChunkPayload{Job: "j", Chunk: 3, Range: input.Range{Path: "in.jsonl", Records: 10}}
	for i, want := range []bool{true, false} {
		queued, err := c.EnqueueChunk(ctx, p)
		if err != nil || queued != want {
			t.Fatalf("EnqueueChunk #%d = %v, %v; want %v", i+1, queued, err, want)
		}
	}
	for range 2 {
		if err := c.EnqueueFinalize(ctx, "j"); err != nil {
			t.Fatal(err)
		}
		if err := c.EnqueueUpload(ctx, "j", 0); err != nil {
			t.Fatal(err)
		}
		if err := c.EnqueueDownload(ctx, "j", 0); err != nil {
			t.Fatal(err)
		}
		if err := c.EnqueuePoll(ctx, pipeline.AsyncPayload{Job: "j", Group: 0, Token: "t", Attempt: 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// chunk, finalize, upload and download pending; the poll scheduled.
	if n, err := c.Waiting(); err != nil || n != 5 {
		t.Fatalf("Waiting = %d, %v; want 5", n, err)
	}
	ins := asynq.NewInspectorFromRedisClient(rdb)
	info, err := ins.GetTaskInfo(DefaultQueue, chunkID("j", 3))
	if err != nil {
		t.Fatal(err)
	}
	var back pipeline.ChunkPayload
	if err := json.Unmarshal(info.Payload, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("payload %+v (%v), want %+v", back, err, p)
	}
	if info.Type != TypeChunk || info.MaxRetry != MaxRetry || info.Timeout != taskTimeout {
		t.Errorf("chunk task: type %s, max retry %d, timeout %s", info.Type, info.MaxRetry, info.Timeout)
	}
	c.Forget("j", []int{3})
	if n, _ := c.Waiting(); n != 3 {
		t.Fatalf("after Forget: %d waiting, want 3", n)
	}
	if queued, err := c.EnqueueChunk(ctx, p); err != nil || !queued {
		t.Fatalf("EnqueueChunk after Forget = %v, %v; want queued", queued, err)
	}
}
