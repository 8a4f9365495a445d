package jobstore

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
)

type spec struct {
	Model string `json:"model"`
}

// A chunk's delivery reads its state and the spec in one step; recording it
// counts once whatever the deliveries, drops its checkpoints, and says
// finalize exactly when the last chunk of a planned, running job is in.
func TestChunkLifecycle(t *testing.T) {
	rdb, _ := testenv.RedisClient(t)
	st := New[spec](rdb)
	ctx := context.Background()
	const job = "lifecycle"

	if cj, err := st.ChunkJob(ctx, job, 0); err != nil || !errors.Is(cj.SpecErr, ErrNoJob) {
		t.Fatalf("unknown job: %v, spec error %v; want ErrNoJob", err, cj.SpecErr)
	}
	if created, err := st.Create(ctx, job, spec{Model: "m1"}); err != nil || !created {
		t.Fatalf("create: %v, %v", created, err)
	}
	if created, err := st.Create(ctx, job, spec{Model: "m2"}); err != nil || created {
		t.Fatalf("create again: %v, %v; want false, the first spec kept", created, err)
	}
	if jobs, err := st.Jobs(ctx); err != nil || !slices.Contains(jobs, job) {
		t.Fatalf("jobs %v, %v; want %s listed", jobs, err, job)
	}
	if s, err := st.Status(ctx, job); err != nil || s.State != StatePlanning || s.StartedAt.IsZero() {
		t.Fatalf("new job: %+v, %v; want planning with a start time", s, err)
	}
	if err := st.SetState(ctx, job, StateRunning, "", false); err != nil {
		t.Fatal(err)
	}
	if err := st.Planned(ctx, job, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCallResults(ctx, job, 1, map[string][]byte{"f": []byte("v")}); err != nil {
		t.Fatal(err)
	}

	cj, err := st.ChunkJob(ctx, job, 0)
	if err != nil || cj.Done || cj.Stopped || cj.SpecErr != nil || cj.Spec.Model != "m1" {
		t.Fatalf("chunk 0 before: %+v, %v; want not done, not stopped, spec m1", cj, err)
	}
	rec, fin, err := st.CompleteChunk(ctx, job, 0, ChunkResult{Written: 1}, nil)
	if err != nil || !rec || fin {
		t.Fatalf("chunk 0: recorded %v, finalize %v, %v; want recorded, not finalize", rec, fin, err)
	}
	if cj, _ := st.ChunkJob(ctx, job, 0); !cj.Done {
		t.Fatal("chunk 0 not done after it was recorded")
	}
	dead := sinks.Failure{ID: "r3", Reason: "bad"}
	rec, fin, err = st.CompleteChunk(ctx, job, 1, ChunkResult{Written: 1, Failed: 1}, []sinks.Failure{dead})
	if err != nil || !rec || !fin {
		t.Fatalf("chunk 1: recorded %v, finalize %v, %v; want both", rec, fin, err)
	}
	got, err := st.CallResults(ctx, job, 1, []string{"f"})
	if err != nil || got[0] != nil {
		t.Fatalf("chunk 1's checkpoint after it was recorded: %q, %v; want dropped", got, err)
	}
	// A second delivery of chunk 1 changes nothing and finalizes nothing.
	rec, fin, err = st.CompleteChunk(ctx, job, 1, ChunkResult{Written: 1, Failed: 1}, []sinks.Failure{dead})
	if err != nil || rec || fin {
		t.Fatalf("chunk 1 again: recorded %v, finalize %v, %v; want neither", rec, fin, err)
	}
	s, err := st.Status(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if s.Written != 2 || s.Failed != 1 || s.ChunksDone != 2 || s.Total() != 3 || s.Spec.Model != "m1" {
		t.Fatalf("status %+v; want 2 written, 1 failed, 2 chunks, spec m1", s)
	}
	if dl, err := st.DeadLetters(ctx, job, 0); err != nil || len(dl) != 1 || dl[0] != dead {
		t.Fatalf("dead letters %v, %v; want the one", dl, err)
	}

	// A stopped job is seen as such, and its last chunk does not finalize it.
	if err := st.Restart(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := st.Planned(ctx, job, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Abort(ctx, job, "test"); err != nil {
		t.Fatal(err)
	}
	if cj, err := st.ChunkJob(ctx, job, 0); err != nil || cj.Done || !cj.Stopped {
		t.Fatalf("after abort and restart: %+v, %v; want stopped, not done", cj, err)
	}
	if rec, fin, err := st.CompleteChunk(ctx, job, 0, ChunkResult{Written: 1}, nil); err != nil || !rec || fin {
		t.Fatalf("aborted job's chunk: recorded %v, finalize %v, %v; want recorded, not finalize", rec, fin, err)
	}
}
