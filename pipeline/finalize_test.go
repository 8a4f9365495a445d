package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// finalizeLostOnce is a task queue whose first finalize enqueue fails, as
// when the connection to Redis drops just after the last chunk was recorded.
type finalizeLostOnce struct {
	pipeline.TaskQueue
	lost atomic.Bool
}

func (q *finalizeLostOnce) EnqueueFinalize(ctx context.Context, job string) error {
	if q.lost.CompareAndSwap(false, true) {
		return errors.New("connection reset by peer")
	}
	return q.TaskQueue.EnqueueFinalize(ctx, job)
}

// TestLostFinalizeEnqueueIsRetried: the last chunk's delivery records the
// chunk but cannot queue the finalize task. Its retry finds the chunk done
// and must queue it then, or the job stays running for ever.
func TestLostFinalizeEnqueueIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	q := &finalizeLostOnce{TaskQueue: h.enq}
	h.queue = q
	path, _ := writeCorpus(t, 1000, func(i int) string { return fmt.Sprintf("verse %d", i) })
	spec := h.spec("finalize-lost", path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Planned before any worker runs: the planner's own finalize check
	// finds no chunk done, so only a chunk's delivery can finalize the job.
	if _, err := (&pipeline.Planner{Store: h.store, Queue: h.enq}).Plan(ctx, spec); err != nil {
		t.Fatal(err)
	}
	h.startWorkers(1)
	st, err := (&pipeline.Waiter{Store: h.store}).Wait(ctx, spec.ID)
	if err != nil {
		t.Fatalf("job never finished: %v (state %q, %d of %d chunks done)", err, st.State, st.ChunksDone, st.Chunks)
	}
	if !q.lost.Load() {
		t.Fatal("the finalize enqueue was never lost: the test did not test anything")
	}
	if st.State != jobstore.StateDone || st.Written != 1000 || st.Failed != 0 {
		t.Fatalf("state %q, written %d, failed %d; want done, 1000, 0", st.State, st.Written, st.Failed)
	}
}
