package pipeline_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestWorkerHoldsNoPoolOfFinishedJobs runs 50 Postgres jobs one after the
// other on one long-running worker: once each has ended, the worker holds no
// connection of it (counted by the server, in pg_stat_activity). It runs
// before the parallel tests: its 50 jobs are slow beside them.
func TestWorkerHoldsNoPoolOfFinishedJobs(t *testing.T) {
	h := newHarness(t)
	u, err := url.Parse(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("cobatch-pools-%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	h.dbURL = u.String()
	h.startWorkers(2)
	conn := connect(t, h.dbURL)
	held := func() int {
		var n int
		if err := conn.QueryRow(context.Background(),
			"select count(*) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	path, _ := writeCorpus(t, 20, corpusText)
	for i := range 50 {
		spec := pgSpec(h, fmt.Sprintf("pools-%d", i), "docs", path)
		spec.Force = true // every job writes, so every job uses its pool
		st := h.run(spec)
		if st.State != jobstore.StateDone || st.Written != 20 {
			t.Fatalf("job %d: status %s written %d (%s)", i, st.State, st.Written, st.Reason)
		}
	}
	// The last job's sink closes as its finalize task returns, just after
	// the job is marked done.
	deadline := time.Now().Add(10 * time.Second)
	n := held()
	for n > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = held()
	}
	if n != 0 {
		t.Errorf("after 50 finished jobs the worker holds %d connections, want 0", n)
	}
}
