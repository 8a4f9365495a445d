package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// asyncRoute is the route of the async scenarios: batches run the suite's
// model (embed-v4.0 as batch-embed-v4), so the vectors check as the sync
// route's do.
const asyncRoute = pipeline.AsyncBatches

// asyncSim keeps the simulator's remote phases short, the processing phase
// long enough for redis-loss to strike while the remote job runs.
var asyncSim = []string{"-validate-delay", "300ms", "-process-delay", "1500ms"}

// outageScenarios are the faults of a dependency going away for a while: the
// database, a create call's answer, the job store.
func outageScenarios() []scenario {
	return []scenario{
		{
			name: "postgres-outage",
			// Mid-job: a third of the calls made before the outage, the
			// rest held back until it began.
			trips: func(_ mode, calls int64) []int64 { return []int64{max(1, calls/3)} },
			setup: func(t *testing.T, j *job, r *run) { r.proxy, j.dbURL = startPGProxy(t, j.dbURL) },
			during: func(ctx context.Context, j *job, m mode, r *run) {
				i, ok := r.trips.next(ctx)
				if !ok {
					return
				}
				r.proxy.outage(true)
				defer r.proxy.outage(false)
				r.faults++
				r.trips.fire(i)
				sleep(ctx, m.outage)
				cut, denied := r.proxy.counts()
				r.note = fmt.Sprintf("the database refused every connection for %s: %d connections cut, %d refused", m.outage, cut, denied)
			},
			// A write that meets the outage is retried with its results
			// held (pipeline/sinkwrite.go): nothing is paid twice.
			fault: "connections refused during the outage",
			fired: func(_ coheretest.Stats, r *run) int { _, denied := r.proxy.counts(); return denied },
		},
		{
			name:    "lost-creates",
			async:   asyncRoute,
			simArgs: append([]string{"-lost-create-rate", "1", "-lost-create-status", "504"}, asyncSim...),
			// Every create call's answer is lost after the simulator made
			// the object: a dataset and a batch per group.
			fault: "create answers lost",
			fired: func(st coheretest.Stats, _ *run) int { return st.LostCreates },
			want:  func(m mode) int { return 2 * groupsOf(m.records) },
			after: func(t *testing.T, j *job, r *run) {
				checkRemotePaidOnce(t, j, r)
				r.note = fmt.Sprintf("every create answer lost (504): %s", r.note)
			},
		},
		{
			name:    "redis-loss",
			async:   asyncRoute,
			simArgs: asyncSim,
			rerun:   true,
			during: func(ctx context.Context, j *job, m mode, r *run) {
				// Once the remote jobs run, the job store forgets them.
				if !j.waitPhase(ctx, jobstore.PhaseProcessing) {
					return
				}
				// testenv leases the test a database of its own (never DB 0,
				// which holds the leases): the flush reaches no other test.
				if db := j.rdb.Options().DB; db == 0 {
					j.t.Errorf("the job's Redis is DB 0, shared: not flushed")
					return
				}
				if err := j.rdb.FlushDB(ctx).Err(); err != nil {
					j.t.Errorf("flush: %v", err)
					return
				}
				r.faults++
			},
			fault: "flushes of the job's Redis while its remote jobs ran",
			fired: func(_ coheretest.Stats, r *run) int { return r.faults },
			want:  func(mode) int { return 1 },
			after: func(t *testing.T, j *job, r *run) {
				// The first run reports the lost job; the same command then
				// adopts the remote objects by name.
				if r.firstExit != exitAborted {
					t.Errorf("first run: exit %d after the flush, want %d", r.firstExit, exitAborted)
				}
				checkRemotePaidOnce(t, j, r)
				r.note = fmt.Sprintf("Redis flushed while the batch ran, the first run exited %d, the same command again: %s", r.firstExit, r.note)
			},
		},
	}
}

// groupsOf is how many groups (datasets) a job of n records makes with the
// default group limits: the suite's records are short, the record bound
// applies first.
func groupsOf(n int) int {
	per := pipeline.DefaultGroupLimits.MaxRecords
	return (n + per - 1) / per
}

// checkRemotePaidOnce checks what an async job paid the simulator for: one
// dataset and one remote job per group, every record embedded once by
// them, and no record sent the sync route.
func checkRemotePaidOnce(t *testing.T, j *job, r *run) {
	t.Helper()
	gs, err := j.store.GroupStates(context.Background(), j.name)
	if err != nil {
		t.Fatalf("groups: %v", err)
	}
	st := j.sim.Stats(t)
	datasets, remote := st.Created["POST /v1/datasets"], st.Created["POST /v2/batches"]
	if len(gs) == 0 || datasets != len(gs) || remote != len(gs) {
		t.Errorf("%d groups: %d datasets and %d batches created, want one of each per group", len(gs), datasets, remote)
	}
	if n := st.Calls["POST /v2/embed"]; n != 0 {
		t.Errorf("%d sync embed calls, want 0: records went the sync route", n)
	}
	if st.EmbeddedTexts != len(j.want) {
		t.Errorf("remote jobs embedded %d texts, want %d (one per record)", st.EmbeddedTexts, len(j.want))
	}
	r.note = fmt.Sprintf("%d groups, %d datasets and %d batches created, %s texts billed by them for %s records",
		len(gs), datasets, remote, thousands(st.EmbeddedTexts), thousands(len(j.want)))
}

// waitPhase waits until every group of the job is in phase; false if the
// job ended, or a group passed it, first.
func (j *job) waitPhase(ctx context.Context, phase string) bool {
	for {
		if j.enqueue.exited() {
			return false
		}
		gs, err := j.store.GroupStates(ctx, j.name)
		if err == nil && len(gs) > 0 {
			in := 0
			for _, g := range gs {
				switch g.Phase {
				case phase:
					in++
				case jobstore.PhaseDownload, jobstore.PhaseDone, jobstore.PhaseFallback, jobstore.PhaseFailed, jobstore.PhaseCancelled:
					return false
				}
			}
			if in == len(gs) {
				return true
			}
		}
		if !sleep(ctx, 25*time.Millisecond) {
			return false
		}
	}
}
