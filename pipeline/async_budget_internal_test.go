package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// TestMayCallCountsReservations: a sync call of a job on the async route
// may spend only beside what its running groups hold reserved for their
// remote jobs. The job has spent $0.40 in 4 calls (next: $0.10) of
// -max-cost $1; a billed group's reservation no longer counts.
func TestMayCallCountsReservations(t *testing.T) {
	rdb, _ := testenv.RedisClient(t)
	ctx := context.Background()
	w := &Worker{Deps: Deps{Store: NewStore(rdb)}}
	const job = "maycall-reserved"
	setup := func(reserve string) {
		t.Helper()
		if err := rdb.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for _, kv := range []struct {
			key    string
			fields []any
		}{
			{keyspace.Job(job), []any{"state", jobstore.StateRunning, "max_cost", "1", "price", "1", "price_out", "0"}},
			{keyspace.Stats(job), []any{jobstore.StatTokens, 400_000, jobstore.StatCalls, 4}},
			{keyspace.Async(job), []any{"route", AsyncBatches, "groups", 3}},
			{keyspace.Group(job, 0), []any{"reserve", reserve, "phase", jobstore.PhaseProcessing}},
			{keyspace.Group(job, 1), []any{"reserve", "0.3", "billed", 1, "phase", jobstore.PhaseDownload}},
			{keyspace.Group(job, 2), []any{"phase", jobstore.PhaseValidating}},
		} {
			if err := rdb.HSet(ctx, kv.key, kv.fields...).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	setup("0.45")
	if err := w.mayCall(ctx, job); err != nil {
		t.Fatalf("$0.40 spent + $0.10 next + $0.45 reserved under $1: %v", err)
	}
	setup("0.55")
	if err := w.mayCall(ctx, job); !errors.Is(err, errStopped) {
		t.Fatalf("$0.40 spent + $0.10 next + $0.55 reserved over $1: %v, want the job stopped", err)
	}
	if state, err := rdb.HGet(ctx, keyspace.Job(job), "state").Result(); err != nil || state != jobstore.StateAborted {
		t.Fatalf("state %q (%v), want aborted", state, err)
	}
}
