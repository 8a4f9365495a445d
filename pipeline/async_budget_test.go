package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// TestAsyncAdoptedDatasetBudget: a run whose job store was lost after its
// datasets were uploaded is run again with a budget. The re-run adopts
// each group's dataset by name instead of uploading it, and still reserves
// the group's cost bound before creating its batch: -max-cost stops the
// job before the fake bills past it, as in TestChatBatchesBudget.
func TestAsyncAdoptedDatasetBudget(t *testing.T) {
	t.Parallel()
	// Datasets validate slowly, so that the first run makes none of its
	// batches before its workers stop.
	h := chatHarness(t, "parquet", 4, true, coheretest.WithAsyncDelays(3*time.Second, 500*time.Millisecond))
	const n, groups = 5000, 10
	path, _ := kjvChat(t, n)
	spec := h.chatBatchSpec("adopt-budget", path)
	spec.MaxTokens = 60
	h.plan(spec, 500)
	h.waitPhase(spec.ID, jobstore.PhaseValidating)
	for _, s := range h.servers {
		s.Shutdown()
	}
	h.servers = nil
	ctx := context.Background()
	if err := h.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The fault fired: every dataset is uploaded, no batch made.
	fs := h.fake.Stats()
	if d, b := fs.Created["POST /v1/datasets"], fs.Calls["POST /v2/batches"]; d != groups || b != 0 {
		t.Fatalf("first run made %d datasets and %d batches, want %d and 0", d, b, groups)
	}

	spec.MaxCost = 1.2
	if err := h.store.SetBudget(ctx, spec.ID, spec.Pricing()); err != nil {
		t.Fatal(err)
	}
	h.startAsyncWorkers(4, nil)
	h.plan(spec, 500)
	st := h.follow(spec.ID)
	fs = h.fake.Stats()
	if d := fs.Created["POST /v1/datasets"]; d != groups {
		t.Errorf("%d datasets created in all, want %d: the re-run did not adopt them", d, groups)
	}
	billed := float64(fs.BilledInputTokens)/1e6*2.5 + float64(fs.BilledOutputTokens)/1e6*10
	if st.State != jobstore.StateAborted || !strings.Contains(st.Reason, "budget") {
		t.Fatalf("status %s (%s), want aborted on the budget", st.State, st.Reason)
	}
	batches := fs.Calls["POST /v2/batches"]
	if billed > spec.MaxCost || batches == 0 || batches >= groups || fs.ChatReplies != 500*batches {
		t.Errorf("fake billed $%.4f for %d batches (%d replies) under -max-cost $%.2f", billed, batches, fs.ChatReplies, spec.MaxCost)
	}
	if c := pipeline.Billed(st); fmt.Sprintf("%.9f", c) != fmt.Sprintf("%.9f", billed) {
		t.Errorf("job counts $%.6f, fake billed $%.6f", c, billed)
	}
}

// failFirstBill is a Redis hook that fails the first write of a remote
// job's bill to job's stats, whether sent as commands or as a script.
type failFirstBill struct {
	stats string
	fired atomic.Int32
}

func (f *failFirstBill) isBill(cmd redis.Cmder) bool {
	var stats, out, units bool
	for _, a := range cmd.Args() {
		s, _ := a.(string)
		stats = stats || s == f.stats
		out = out || s == jobstore.StatOutputTokens
		units = units || s == jobstore.StatSearchUnits // the reservation script's
	}
	return stats && out && !units && (cmd.Name() == "hincrby" || cmd.Name() == "evalsha" || cmd.Name() == "eval")
}

func (f *failFirstBill) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failFirstBill) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.isBill(cmd) && f.fired.CompareAndSwap(0, 1) {
			err := errors.New("injected: connection lost while billing")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (f *failFirstBill) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, f.isBill) && f.fired.CompareAndSwap(0, 1) {
			err := errors.New("injected: connection lost while billing")
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// TestAsyncBudgetBillRetried: Redis fails as the first finished batch's bill
// is recorded. The poll task fails and is retried rather than moving the
// group on: the job counts every token the fake billed, so the budget's
// reservations are released only against recorded bills.
func TestAsyncBudgetBillRetried(t *testing.T) {
	t.Parallel()
	h := chatHarness(t, "parquet", 4, true)
	const n = 1000
	path, _ := kjvChat(t, n)
	spec := h.chatBatchSpec("bill-retried", path)
	spec.MaxTokens = 60
	fail := &failFirstBill{stats: keyspace.Stats(spec.ID)}
	h.rdb.AddHook(fail)
	h.plan(spec, 500)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != n {
		t.Fatalf("status %s written %d (%s)", st.State, st.Written, st.Reason)
	}
	if fail.fired.Load() != 1 {
		t.Fatal("the bill's write never failed: the fault did not fire")
	}
	fs := h.fake.Stats()
	if fs.Calls["POST /v2/batches"] != 2 || fs.ChatReplies != n {
		t.Errorf("%d batches, %d replies; want 2 and %d", fs.Calls["POST /v2/batches"], fs.ChatReplies, n)
	}
	if st.Tokens != int64(fs.BilledInputTokens) || st.OutputTokens != int64(fs.BilledOutputTokens) {
		t.Errorf("job counts %d input and %d output tokens, fake billed %d and %d",
			st.Tokens, st.OutputTokens, fs.BilledInputTokens, fs.BilledOutputTokens)
	}
}

// TestAsyncBudgetWaitIsNoDeadline: a budget that lets one batch run at a
// time makes the later groups wait in validation for the earlier ones'
// bills, longer than the remote phases' deadline. Waiting on the budget is
// not a remote phase running late: the job completes, each batch created
// once.
func TestAsyncBudgetWaitIsNoDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, coheretest.WithAsyncDelays(300*time.Millisecond, time.Second))
	h.limits = chatLimits()
	h.deadline = 5 * time.Second
	h.startAsyncWorkers(4, nil)
	const n, groups = 2500, 5
	path, _ := kjvChat(t, n)
	spec := h.chatBatchSpec("budget-wait", path)
	// A group's bound (1,000 output tokens a record) is about $5 and its
	// bill about $0.25: one bound fits beside the bills of the others, two
	// bounds never fit together.
	spec.MaxTokens = 1000
	spec.MaxCost = 6.5
	if err := h.store.SetBudget(context.Background(), spec.ID, spec.Pricing()); err != nil {
		t.Fatal(err)
	}
	h.plan(spec, 500)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != n {
		t.Fatalf("status %s written %d (%s)", st.State, st.Written, st.Reason)
	}
	fs := h.fake.Stats()
	if b := fs.Calls["POST /v2/batches"]; b != groups || fs.ChatReplies != n {
		t.Errorf("%d batches, %d replies; want %d and %d", b, fs.ChatReplies, groups, n)
	}
	billed := float64(fs.BilledInputTokens)/1e6*2.5 + float64(fs.BilledOutputTokens)/1e6*10
	if billed > spec.MaxCost {
		t.Errorf("fake billed $%.4f under -max-cost $%.2f", billed, spec.MaxCost)
	}
}
