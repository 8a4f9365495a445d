package pipeline_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

// asyncRoutes are the two async routes with the model each runs and the
// route of its create call.
var asyncRoutes = []struct{ name, model, route, create string }{
	{"embed jobs", "embed-english-light-v3.0", pipeline.AsyncEmbedJobs, "POST /v1/embed-jobs"},
	{"batches", "embed-v4.0", pipeline.AsyncBatches, "POST /v2/batches"},
}

// checkPaidOnce checks that the job made one dataset and one remote job per
// group and that the remote jobs embedded each record once.
func (h *harness) checkPaidOnce(create string, groups, records int) {
	h.t.Helper()
	st := h.fake.Stats()
	if n := st.Created["POST /v1/datasets"]; n != groups {
		h.t.Errorf("%d datasets created, want %d (one per group)", n, groups)
	}
	if n := st.Created[create]; n != groups {
		h.t.Errorf("%d remote jobs created (%s), want %d (one per group)", n, create, groups)
	}
	if st.EmbeddedTexts != records || st.UniqueTexts != records {
		h.t.Errorf("remote jobs embedded %d texts (%d distinct), want %d: texts were paid twice", st.EmbeddedTexts, st.UniqueTexts, records)
	}
	if ds := h.fake.Datasets(); len(ds) != 0 {
		h.t.Errorf("%d datasets left behind: %+v", len(ds), ds)
	}
}

// TestAsyncLostCreates loses the answer to every other create call (the
// server made the object; the client sees a 503 or a timeout): the route
// finds what the server made by name and adopts it, so each group still
// has one dataset and one remote job, and no text is paid twice.
func TestAsyncLostCreates(t *testing.T) {
	t.Parallel()
	for _, rt := range asyncRoutes {
		for _, status := range []int{http.StatusServiceUnavailable, 0} {
			name := rt.name + " 503"
			if status == 0 {
				name = rt.name + " timeout"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				lose := coheretest.WithLostCreates(status, func(_ string, earlier int) bool { return earlier%2 == 0 })
				h := newHarness(t, coheretest.WithAsyncDelays(50*time.Millisecond, 200*time.Millisecond), lose)
				h.timeout = 2 * time.Second
				h.startAsyncWorkers(4, nil)
				path, texts := writeCorpus(t, 9000, corpusText)
				spec := h.asyncSpec("lost", rt.model, rt.route, path)
				h.plan(spec, 3000)
				st := h.follow(spec.ID)
				if st.State != jobstore.StateDone || st.Written != 9000 || st.Failed != 0 || st.Skipped != 0 {
					t.Fatalf("status = %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
				}
				checkParquet(t, h.out, spec, texts)
				h.checkPaidOnce(rt.create, 3, 9000)
				// The fault fired: creates 0 and 2 of each route were lost.
				if n := h.fake.Stats().LostCreates; n != 4 {
					t.Errorf("%d create answers lost, want 4 (the fault did not fire as planned)", n)
				}
			})
		}
	}
}

// TestAsyncRedisLoss flushes Redis while the remote jobs run, then runs the
// same job again: the re-run finds the datasets and remote jobs of the lost
// run by name and adopts them instead of paying for the records twice.
func TestAsyncRedisLoss(t *testing.T) {
	t.Parallel()
	for _, rt := range asyncRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, coheretest.WithAsyncDelays(50*time.Millisecond, 2*time.Second))
			h.startAsyncWorkers(4, nil)
			path, texts := writeCorpus(t, 6000, corpusText)
			spec := h.asyncSpec("redis-loss", rt.model, rt.route, path)
			h.plan(spec, 2000)
			h.waitPhase(spec.ID, jobstore.PhaseProcessing)
			ctx := context.Background()
			before, err := h.store.GroupStates(ctx, spec.ID)
			if err != nil || len(before) != 3 {
				t.Fatalf("groups before the loss: %+v, %v", before, err)
			}
			if err := h.rdb.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			// The fault fired: the job store knows nothing of the job.
			if gs, err := h.store.GroupStates(ctx, spec.ID); err != nil || len(gs) != 0 {
				t.Fatalf("groups after the flush: %+v, %v", gs, err)
			}
			if n := h.fake.Stats().Created[rt.create]; n != 3 {
				t.Fatalf("%d remote jobs before the flush, want 3", n)
			}

			h.plan(spec, 2000)
			st := h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Written+st.Skipped != 6000 || st.Failed != 0 || st.Total() != 6000 {
				t.Fatalf("re-run: %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			checkParquet(t, h.out, spec, texts)
			h.checkPaidOnce(rt.create, 3, 6000)
			after, err := h.store.GroupStates(ctx, spec.ID)
			if err != nil || len(after) != 3 {
				t.Fatalf("groups after the re-run: %+v, %v", after, err)
			}
			for i := range after {
				if after[i].RemoteID != before[i].RemoteID || after[i].DatasetID != before[i].DatasetID {
					t.Errorf("group %d ran dataset %s, remote %s; the lost run made %s, %s", i,
						after[i].DatasetID, after[i].RemoteID, before[i].DatasetID, before[i].RemoteID)
				}
			}
		})
	}
}

// TestAsyncPacedByLimiter runs the async route under low request limits on
// datasets, embed jobs and batches, which the fake enforces: the shared
// limiter paces every call, so the fake answers no 429. The fake allows one
// request a second more than the limiter: a grant is counted when made, a
// request when it arrives, and two requests a window apart may arrive a
// little closer.
func TestAsyncPacedByLimiter(t *testing.T) {
	t.Parallel()
	for _, rt := range asyncRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			const perSec = 3
			limited := []string{"datasets", "embed-jobs", "batches"}
			opts := []coheretest.Option{coheretest.WithAsyncDelays(100*time.Millisecond, time.Second)}
			for _, ep := range limited {
				opts = append(opts, coheretest.WithRateLimit(ep, perSec+1, time.Second))
			}
			h := newHarness(t, opts...)
			for _, ep := range limited {
				h.limits[ep] = ratelimit.Limit{Count: perSec, Per: time.Second}
			}
			h.startAsyncWorkers(4, nil)
			path, texts := writeCorpus(t, 3000, corpusText)
			spec := h.asyncSpec("paced", rt.model, rt.route, path)
			h.plan(spec, 1000)
			st := h.follow(spec.ID)
			if st.State != jobstore.StateDone || st.Written != 3000 || st.Failed != 0 {
				t.Fatalf("status = %s written %d failed %d (%s)", st.State, st.Written, st.Failed, st.Reason)
			}
			checkParquet(t, h.out, spec, texts)
			stats := h.fake.Stats()
			remote := strings.Fields(rt.create)[1]
			calls := map[string]int{}
			for route, n := range stats.Calls {
				for _, prefix := range []string{"/v1/datasets", remote} {
					if strings.Contains(route, prefix) {
						calls[prefix] += n
					}
				}
			}
			// The limit mattered: more calls than one window admits.
			if calls[remote] <= perSec || calls["/v1/datasets"] <= perSec {
				t.Errorf("calls %v: too few to test the limit of %d/s", calls, perSec)
			}
			if stats.RateLimited != 0 {
				t.Errorf("the fake answered %d 429s to %v calls: the async route went over the limit", stats.RateLimited, calls)
			}
		})
	}
}
