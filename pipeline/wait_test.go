package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestWaitRidesOutRedisRestart: Redis goes away mid-job and comes back;
// Wait keeps polling and returns the job's final status instead of an error.
func TestWaitRidesOutRedisRestart(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	store := NewStore(rdb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := Spec{ID: "outage", Inputs: []string{"x.jsonl"}, Sink: "parquet:/tmp/x"}.WithDefaults()
	if _, err := CreateOrResume(ctx, store, spec); err != nil {
		t.Fatal(err)
	}
	if err := store.SetState(ctx, "outage", jobstore.StateRunning, "", true); err != nil {
		t.Fatal(err)
	}
	mr.Close()
	go func() {
		time.Sleep(1500 * time.Millisecond)
		if err := mr.Restart(); err != nil {
			t.Error(err)
			return
		}
		store.SetState(context.Background(), "outage", jobstore.StateDone, "", true)
	}()
	st, err := (&Waiter{Store: store, Outage: time.Minute}).Wait(ctx, "outage")
	if err != nil || st.State != jobstore.StateDone {
		t.Fatalf("state %q, err %v", st.State, err)
	}
}

// TestWaitGivesUpPastTheOutageBudget: a Redis that stays away is an error
// once the budget is spent.
func TestWaitGivesUpPastTheOutageBudget(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	mr.Close()
	began := time.Now()
	_, err := (&Waiter{Store: NewStore(rdb), Outage: time.Second}).Wait(context.Background(), "gone")
	if err == nil {
		t.Fatal("Wait returned no error with Redis gone")
	}
	if el := time.Since(began); el < time.Second {
		t.Errorf("gave up after %s, before the 1s budget", el)
	}
}
