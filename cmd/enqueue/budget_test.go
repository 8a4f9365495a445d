package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// fakeAPI points the environment at a fake Cohere API. Tests using it cannot
// run in parallel (they set the environment).
func fakeAPI(t *testing.T) *coheretest.Server {
	t.Helper()
	fake := coheretest.NewServer()
	t.Cleanup(fake.Close)
	t.Setenv("COHERE_BASE_URL", fake.URL)
	t.Setenv("COHERE_API_KEY", coheretest.DefaultAPIKey)
	t.Setenv("REDIS_URL", "") // embedded mode
	return fake
}

func TestBudgetEstimateOverMaxCost(t *testing.T) {
	fake := fakeAPI(t)
	in := writeJSONL(t, 500, func(i int) string { return strings.Repeat("word ", 40) + fmt.Sprint(i) })
	code, out, errs := runArgs(t, "-in", in, "-sink", "parquet:"+t.TempDir(), "-max-cost", "0.0001", "-log-format", "json")
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	// 500 records × ~200 bytes ÷ 4 ≈ 25,000 tokens at 0.12 USD per million.
	if !strings.Contains(out, "estimate: 500 records, ~25") || !strings.Contains(errs, "over budget: estimated $0.0030 exceeds -max-cost $0.0001; no API call was made") {
		t.Errorf("out %q, err %q; want the estimate and the reason", out, errs)
	}
	if n := len(fake.Stats().Calls); n != 0 {
		t.Errorf("the API was called: %v", fake.Stats().Calls)
	}
}

func TestBudgetCrossedMidRun(t *testing.T) {
	fake := fakeAPI(t)
	// The estimate samples the first 1,000 records, which are short: the
	// long ones after them cross the budget once the job runs.
	in := writeJSONL(t, 3000, func(i int) string {
		if i < 1000 {
			return fmt.Sprint("t", i)
		}
		return strings.Repeat(fmt.Sprint("long text ", i, " "), 30)
	})
	out := t.TempDir()
	code, stdout, errs := runArgs(t, "-in", in, "-job", "budget-mid", "-sink", "parquet:"+out, "-chunk-size", "100",
		"-concurrency", "1", "-rate-limit", "embed=1000000/1m", "-price-per-mtok", "1", "-max-cost", "0.05", "-log-format", "json")
	if code != 3 {
		t.Fatalf("exit %d, want 3; out %q, err %q", code, stdout, errs)
	}
	if !strings.Contains(stdout, "reason:  budget: spent $0.0") {
		t.Errorf("summary %q: want the budget as the reason", stdout)
	}
	var written, skipped, failed, total int
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, "records:") {
			fmt.Sscanf(strings.TrimSpace(l), "records: %d written, %d skipped, %d failed, %d total", &written, &skipped, &failed, &total)
		}
	}
	if written < 1000 || written >= 3000 || written%100 != 0 {
		t.Errorf("%d records written; want the short ones and some long ones, in whole chunks", written)
	}
	rows := 0
	if err := parquet.ReadJob(out, "budget-mid", func(sinks.Embedding) error { rows++; return nil }); err != nil {
		t.Fatal(err)
	}
	if rows != written {
		t.Errorf("sink holds %d rows, summary says %d written", rows, written)
	}
	// Spending stops within one call of the budget.
	billed := fake.Stats().BilledInputTokens
	if cost := float64(billed) / 1e6; cost > 0.05+0.02 {
		t.Errorf("billed %d tokens ($%.4f), want at most one call past $0.05", billed, cost)
	}
}
