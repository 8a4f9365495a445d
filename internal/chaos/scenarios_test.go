package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// concurrency is each worker's -concurrency: its handlers.
const concurrency = 4

// perKill bounds what one SIGKILL can cost: the calls the killed worker's
// handlers had in flight, at most MaxBatch texts each. Every call that had
// returned is checkpointed (pipeline/checkpoint.go), so the chunks' next
// deliveries do not pay for it again.
const perKill = concurrency * pipeline.MaxBatch

// handlers is how many chunks the scenario's two workers run at once.
const handlers = 2 * concurrency

func scenarios(c corpus) []scenario {
	kills := func(ctx context.Context, j *job, m mode, r *run) {
		for r.faults < len(r.trips.at) {
			i, ok := r.trips.next(ctx)
			if !ok {
				return
			}
			victim := i % len(j.workers)
			j.workers[victim].stop(syscall.SIGKILL, time.Second)
			r.kills++
			r.faults++
			r.trips.fire(i)
			j.startWorker(victim)
		}
		r.note = fmt.Sprintf("%d kills", r.kills)
	}
	// Random moments spread over the first two thirds of the calls.
	randomTrips := func(m mode, calls int64) []int64 {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		at := make([]int64, m.kills)
		for i := range at {
			at[i] = 1 + rng.Int64N(max(1, 2*calls/3))
		}
		slices.Sort(at)
		for i := 1; i < len(at); i++ {
			at[i] = max(at[i], at[i-1]+1)
		}
		return at
	}
	byRun := func(_ coheretest.Stats, r *run) int { return r.faults }
	return []scenario{
		{name: "baseline"},
		{
			name:   "sigkill",
			crashy: true,
			trips:  randomTrips,
			during: kills,
			fault:  "kills", fired: byRun, want: func(m mode) int { return m.kills },
			repaid: func(_ coheretest.Stats, r *run) int { return r.kills * perKill },
		},
		{
			name:  "sigterm",
			trips: func(_ mode, calls int64) []int64 { return spread(2, calls) },
			during: func(ctx context.Context, j *job, m mode, r *run) {
				for r.faults < len(r.trips.at) {
					i, ok := r.trips.next(ctx)
					if !ok {
						return
					}
					// A graceful stop waits for the calls in flight.
					r.trips.fire(i)
					j.workers[i].stop(syscall.SIGTERM, 40*time.Second)
					if code := j.workers[i].cmd.ProcessState.ExitCode(); code != 0 {
						j.t.Errorf("worker exit %d after SIGTERM", code)
					}
					j.startWorker(i)
					r.kills++
					r.faults++
				}
				r.note = fmt.Sprintf("%d graceful restarts", r.kills)
			},
			fault: "graceful restarts", fired: byRun, want: func(mode) int { return 2 },
		},
		{
			name:         "redis-restart",
			privateRedis: true,
			crashy:       true,
			trips:        func(_ mode, calls int64) []int64 { return spread(2, calls) },
			during: func(ctx context.Context, j *job, m mode, r *run) {
				for r.faults < len(r.trips.at) {
					i, ok := r.trips.next(ctx)
					if !ok {
						return
					}
					// SIGKILL: nothing is saved at exit, only what the AOF
					// already holds survives the restart.
					r.redis.p.stop(syscall.SIGKILL, time.Second)
					r.kills++
					r.faults++
					r.trips.fire(i)
					sleep(ctx, 2*time.Second)
					r.redis.start()
				}
				r.note = fmt.Sprintf("%d redis restarts", r.kills)
			},
			fault: "redis restarts", fired: byRun, want: func(mode) int { return 2 },
			// A chunk whose completion was in flight when Redis went away
			// is redone.
			repaid: func(_ coheretest.Stats, r *run) int { return r.kills * 8 * chunkSize },
		},
		{
			name:   "postgres-drops",
			crashy: true,
			trips:  func(m mode, calls int64) []int64 { return spread(m.pgDrops, calls) },
			during: func(ctx context.Context, j *job, m mode, r *run) {
				conn, err := pgx.Connect(ctx, j.dbURL+"-killer")
				if err != nil {
					j.t.Error(err)
					return
				}
				defer conn.Close(context.Background())
				for r.faults < len(r.trips.at) {
					i, ok := r.trips.next(ctx)
					if !ok {
						return
					}
					// The workers' pools hold connections once a chunk has
					// been written; a round that finds none tries again
					// while the calls are held back.
					for try := 0; try < 50; try++ {
						var n int
						if err := conn.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = $1`, j.app).Scan(&n); err == nil && n > 0 {
							r.drops += n
							r.faults++
							break
						}
						if !sleep(ctx, 100*time.Millisecond) {
							break
						}
					}
					r.trips.fire(i)
				}
				r.note = fmt.Sprintf("%d connections terminated in %d rounds", r.drops, r.faults)
			},
			fault: "rounds of terminated connections", fired: byRun, want: func(m mode) int { return m.pgDrops },
			// A chunk whose transaction died is embedded again on retry.
			repaid: func(_ coheretest.Stats, r *run) int { return r.drops * chunkSize },
		},
		{
			name:    "sigkill-parquet",
			parquet: true,
			crashy:  true,
			trips:   randomTrips,
			during:  kills,
			fault:   "kills", fired: byRun, want: func(m mode) int { return m.kills },
			repaid: func(_ coheretest.Stats, r *run) int { return r.kills * perKill },
		},
		{
			name: "429-storm",
			fake: func() []coheretest.Option {
				return []coheretest.Option{coheretest.WithFault(func(r *http.Request, _ []byte) (int, string, bool) {
					if storming.Load() {
						return http.StatusTooManyRequests, `{"id":"storm","message":"You are being rate limited"}`, true
					}
					return 0, "", false
				})}
			},
			during: func(ctx context.Context, j *job, m mode, r *run) {
				defer storming.Store(false)
				if !j.waitChunks(ctx, 2) {
					return
				}
				storming.Store(true)
				sleep(ctx, m.storm)
				storming.Store(false)
				r.note = fmt.Sprintf("%s storm", m.storm)
			},
			fault: "429s served by the storm",
			fired: func(st coheretest.Stats, _ *run) int { return st.InjectedErrors },
			after: func(t *testing.T, j *job, r *run) {
				st := r.fake.Stats()
				// The limiter's cool-down paces probes: a storm is not a
				// hammering.
				if perSec := float64(st.InjectedErrors) / chaosMode().storm.Seconds(); perSec > 20 {
					t.Errorf("%.1f calls/s during the storm: the workers hammered a throttled key", perSec)
				}
			},
		},
		{name: "5xx", simArgs: []string{"-error-rate", "0.05", "-error-status", "503"},
			fault: "503s", fired: func(st coheretest.Stats, _ *run) int { return st.InjectedErrors }},
		{name: "resets", simArgs: []string{"-reset-rate", "0.05"},
			fault: "connection resets", fired: func(st coheretest.Stats, _ *run) int { return st.Resets }},
		{name: "hangs", simArgs: []string{"-hang-rate", "0.03"}, wargs: []string{"-api-timeout", "1s"},
			fault: "hung calls", fired: func(st coheretest.Stats, _ *run) int { return st.Hangs }},
		{name: "malformed", simArgs: []string{"-malformed-rate", "0.03"},
			// A malformed body was billed but never read, and the chunk is
			// retried whole: its batches embedded before are paid again.
			repaid: func(st coheretest.Stats, _ *run) int { return st.Malformed * chunkSize },
			fault:  "malformed bodies", fired: func(st coheretest.Stats, _ *run) int { return st.Malformed }},
		{name: "poison", poison: true, wantExit: exitFailed},
		{
			name: "auth-revoked",
			fake: func() []coheretest.Option {
				authCalls.Store(0)
				authRevoked.Store(true)
				return []coheretest.Option{coheretest.WithFault(func(r *http.Request, _ []byte) (int, string, bool) {
					if authCalls.Add(1) > authAfter && authRevoked.Load() {
						return http.StatusUnauthorized, `{"id":"auth","message":"invalid api token"}`, true
					}
					return 0, "", false
				})}
			},
			wantExit: exitAborted,
			fault:    "401s",
			fired:    func(st coheretest.Stats, _ *run) int { return st.Status[http.StatusUnauthorized] },
			after: func(t *testing.T, j *job, r *run) {
				st := r.fake.Stats()
				// Each handler may have had one call in flight when the key
				// was revoked; none may start after.
				unauthorized := st.Status[http.StatusUnauthorized]
				if unauthorized == 0 || unauthorized > handlers {
					t.Errorf("%d calls answered 401, want 1 to %d (one per handler at most)", unauthorized, handlers)
				}
				// A handler that checked the job's state just before the
				// abort may still send its call: at most one per handler.
				sleep(context.Background(), 3*time.Second)
				late := r.fake.Stats().Calls["POST /v2/embed"] - r.callsAtEnd
				if late > handlers {
					t.Errorf("%d embed calls after the job was aborted, want at most one per handler (%d)", late, handlers)
				}
				js, _ := j.store.Status(context.Background(), j.name)
				written := js.Written
				if js.State != jobstore.StateAborted {
					t.Errorf("job state %s, want aborted", js.State)
				}
				if js.Written == 0 {
					t.Error("nothing written before the key was revoked: the scenario proved nothing")
				}
				// With a good key the same command resumes the job: the
				// rest is written, what the sink holds is skipped, nothing is
				// paid twice.
				authRevoked.Store(false)
				before := r.fake.Stats().EmbeddedTexts
				again := start(t, "enqueue-resume", j.env(), j.b.enqueue, j.enqueueArgs...)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				if code, err := again.wait(ctx); err != nil || code != exitOK {
					t.Fatalf("resumed run: exit %d, %v\n%s", code, err, lastLines(again.output(), 10))
				}
				js, _ = j.store.Status(context.Background(), j.name)
				tc := checkTable(t, j.dbURL, j.texts, j.want)
				if js.State != jobstore.StateDone || js.Written+js.Skipped != int64(len(j.want)) || tc.rows != len(j.want) || tc.lost+tc.wrong+tc.duplicates != 0 {
					t.Errorf("resumed: %s, written %d skipped %d; table %d rows, %d lost, %d wrong", js.State, js.Written, js.Skipped, tc.rows, tc.lost, tc.wrong)
				}
				if paid := r.fake.Stats().EmbeddedTexts - before; before+paid > j.paid+handlers*chunkSize {
					t.Errorf("%d + %d texts embedded over both runs, %d needed", before, paid, j.paid)
				}
				r.note = fmt.Sprintf("exit 3 with %s written; calls answered 401: %d, calls after the abort: %d (each at most one per handler, %d); the same command resumed it: %s written, %s skipped in all",
					thousands(int(written)), unauthorized, late, handlers, thousands(int(js.Written)), thousands(int(js.Skipped)))
			},
		},
		{name: "bad-inputs", inputs: badInputs, wantExit: exitFailed},
	}
}

var storming atomic.Bool

// authCalls counts API calls; after authAfter the key is revoked.
var authCalls atomic.Int64

// authRevoked is cleared when the key is made good again.
var authRevoked atomic.Bool

const authAfter = 60
