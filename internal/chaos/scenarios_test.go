package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
)

// perKill bounds what one SIGKILL can cost: every chunk the worker held
// (its concurrency) is redone.
const perKill = 4 * chunkSize

func scenarios(c corpus) []scenario {
	chunks := int64((len(c.ids) + chunkSize - 1) / chunkSize)
	return []scenario{
		{name: "baseline"},
		{
			name:   "sigkill",
			crashy: true,
			during: func(ctx context.Context, j *job, m mode, r *run) {
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				for i := range m.kills {
					// Random moments spread over the first two thirds.
					at := int64(1) + rng.Int64N(max(1, 2*chunks/3))
					if !j.waitChunks(ctx, max(at, int64(i))) || !sleep(ctx, time.Duration(rng.IntN(400))*time.Millisecond) {
						return
					}
					victim := i % len(j.workers)
					j.workers[victim].stop(syscall.SIGKILL, time.Second)
					r.kills++
					j.startWorker(victim)
				}
				r.note = fmt.Sprintf("%d kills", r.kills)
			},
			repaid: func(_ coheretest.Stats, r *run) int { return r.kills * perKill },
		},
		{
			name: "sigterm",
			during: func(ctx context.Context, j *job, m mode, r *run) {
				for i := range 2 {
					if !j.waitChunks(ctx, chunks*int64(i+1)/3) {
						return
					}
					j.workers[i].stop(syscall.SIGTERM, 40*time.Second)
					if code := j.workers[i].cmd.ProcessState.ExitCode(); code != 0 {
						j.t.Errorf("worker exit %d after SIGTERM", code)
					}
					j.startWorker(i)
					r.kills++
				}
				r.note = fmt.Sprintf("%d graceful restarts", r.kills)
			},
		},
		{
			name:         "redis-restart",
			privateRedis: true,
			crashy:       true,
			during: func(ctx context.Context, j *job, m mode, r *run) {
				for i := range 2 {
					if !j.waitChunks(ctx, chunks*int64(i+1)/3) {
						return
					}
					r.redis.restart(ctx, 2*time.Second)
					r.kills++
				}
				r.note = fmt.Sprintf("%d redis restarts", r.kills)
			},
			// A chunk whose completion was in flight when Redis went away
			// is redone.
			repaid: func(_ coheretest.Stats, r *run) int { return r.kills * 8 * chunkSize },
		},
		{
			name:   "postgres-drops",
			crashy: true,
			during: func(ctx context.Context, j *job, m mode, r *run) {
				conn, err := pgx.Connect(ctx, j.dbURL+"-killer")
				if err != nil {
					j.t.Error(err)
					return
				}
				defer conn.Close(context.Background())
				for i := range m.pgDrops {
					if !j.waitChunks(ctx, chunks*int64(i+1)/int64(m.pgDrops+1)) {
						return
					}
					var n int
					if err := conn.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = $1`, j.app).Scan(&n); err == nil {
						r.drops += n
					}
				}
				r.note = fmt.Sprintf("%d connections terminated", r.drops)
			},
			// A chunk whose transaction died is embedded again on retry.
			repaid: func(_ coheretest.Stats, r *run) int { return r.drops * chunkSize },
			after: func(t *testing.T, j *job, r *run) {
				if r.drops == 0 {
					t.Error("no connection was terminated: the scenario proved nothing")
				}
			},
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
			after: func(t *testing.T, j *job, r *run) {
				st := r.fake.Stats()
				if st.InjectedErrors == 0 {
					t.Error("the storm served no 429")
				}
				// The limiter's cool-down paces probes: a storm is not a
				// hammering.
				if perSec := float64(st.InjectedErrors) / chaosMode().storm.Seconds(); perSec > 20 {
					t.Errorf("%.1f calls/s during the storm: the workers hammered a throttled key", perSec)
				}
			},
		},
		{name: "5xx", simArgs: []string{"-error-rate", "0.05", "-error-status", "503"},
			after: needFault(func(s coheretest.Stats) int { return s.InjectedErrors })},
		{name: "resets", simArgs: []string{"-reset-rate", "0.05"},
			after: needFault(func(s coheretest.Stats) int { return s.Resets })},
		{name: "hangs", simArgs: []string{"-hang-rate", "0.03"}, wargs: []string{"-api-timeout", "1s"},
			after: needFault(func(s coheretest.Stats) int { return s.Hangs })},
		{name: "malformed", simArgs: []string{"-malformed-rate", "0.03"},
			// A malformed body was billed but never read, and the chunk is
			// retried whole: its batches embedded before are paid again.
			repaid: func(st coheretest.Stats, _ *run) int { return st.Malformed * chunkSize },
			after:  needFault(func(s coheretest.Stats) int { return s.Malformed })},
		{name: "poison", poison: true, wantExit: pipeline.ExitFailed},
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
			wantExit: pipeline.ExitAborted,
			after: func(t *testing.T, j *job, r *run) {
				st := r.fake.Stats()
				// Each handler may have had one call in flight when the key
				// was revoked; none may start after.
				if n := st.Status[http.StatusUnauthorized]; n == 0 || n > 2*4 {
					t.Errorf("%d calls answered 401, want 1 to %d (one per handler at most)", n, 2*4)
				}
				// A handler that checked the job's state just before the
				// abort may still send its call: at most one per handler.
				sleep(context.Background(), 3*time.Second)
				if n := r.fake.Stats().Calls["POST /v2/embed"] - r.callsAtEnd; n > 2*4 {
					t.Errorf("%d embed calls after the job was aborted, want at most one per handler (%d)", n, 2*4)
				}
				js, _ := j.store.Status(context.Background(), j.name)
				if js.State != pipeline.StateAborted {
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
				if code, err := again.wait(ctx); err != nil || code != pipeline.ExitOK {
					t.Fatalf("resumed run: exit %d, %v\n%s", code, err, lastLines(again.output(), 10))
				}
				js, _ = j.store.Status(context.Background(), j.name)
				tc := checkTable(t, j.dbURL, j.texts, j.want)
				if js.State != pipeline.StateDone || js.Written+js.Skipped != int64(len(j.want)) || tc.rows != len(j.want) || tc.lost+tc.wrong+tc.duplicates != 0 {
					t.Errorf("resumed: %s, written %d skipped %d; table %d rows, %d lost, %d wrong", js.State, js.Written, js.Skipped, tc.rows, tc.lost, tc.wrong)
				}
				if paid := r.fake.Stats().EmbeddedTexts - before; before+paid > j.paid+2*4*chunkSize {
					t.Errorf("%d + %d texts embedded over both runs, %d needed", before, paid, j.paid)
				}
				r.note = fmt.Sprintf("resumed: %d written, %d skipped", js.Written, js.Skipped)
			},
		},
		{name: "bad-inputs", inputs: badInputs, wantExit: pipeline.ExitFailed},
	}
}

var storming atomic.Bool

// authCalls counts API calls; after authAfter the key is revoked.
var authCalls atomic.Int64

// authRevoked is cleared when the key is made good again.
var authRevoked atomic.Bool

const authAfter = 60

// needFault fails a scenario whose fault never fired.
func needFault(n func(coheretest.Stats) int) func(t *testing.T, j *job, r *run) {
	return func(t *testing.T, j *job, r *run) {
		if n(j.sim.Stats(t)) == 0 {
			t.Error("the fault never fired: the scenario proved nothing")
		}
	}
}
