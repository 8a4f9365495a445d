package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
)

// load describes one measured job: worker processes against the cohere-sim
// process, into pgvector.
type load struct {
	name        string
	workers     int
	concurrency int
	dims        int
	simArgs     []string
	rateLimit   string   // the workers' -rate-limit
	sample      bool     // record records/s over time
	killAt      int64    // SIGKILL worker 0 once this many chunks are done (0: never)
	profile     string   // worker 0 writes its CPU profile here (-cpu-profile)
	env         []string // extra environment of the worker processes

	// Shared between the runs of a cost series.
	sim      *procSim
	redisURL string
	dbURL    string
}

type point struct {
	at      time.Duration
	written int64
}

type loadResult struct {
	wall     time.Duration
	st       pipeline.Status
	stats    coheretest.Stats
	series   []point
	rss      []int64 // peak RSS of each worker process, bytes
	exit     int
	embedded int // texts the simulator embedded in this run
}

// runLoad runs the corpus as one job and measures it. The simulator's
// counters are reset first so that a run reports only itself.
func runLoad(b testing.TB, bn bins, c corpus, l *load) loadResult {
	b.Helper()
	if l.sim == nil {
		l.sim = startSim(b, bn, l.simArgs...)
	}
	if l.redisURL == "" {
		l.redisURL = testenv.RedisURL(b)
	}
	if l.dbURL == "" {
		l.dbURL = testenv.DatabaseURL(b)
	}
	before := l.sim.Stats(b)
	env := []string{"REDIS_URL=" + l.redisURL, "COHERE_BASE_URL=" + l.sim.URL(),
		"COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL=" + l.dbURL}
	wargs := []string{"-concurrency", fmt.Sprint(l.concurrency), "-http", "", "-rate-limit", l.rateLimit, "-log-format", "json"}
	workers := make([]*proc, l.workers)
	for i := range workers {
		args := wargs
		if i == 0 && l.profile != "" {
			args = append(slices.Clip(wargs), "-cpu-profile", l.profile)
		}
		workers[i] = start(b, "worker", append(slices.Clip(env), l.env...), bn.worker, args...)
	}
	opt, _ := redis.ParseURL(l.redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	store := pipeline.NewStore(rdb)
	began := time.Now()
	enq := start(b, "enqueue", env, bn.enqueue, "-in", c.path, "-sink", "postgres", "-table", "bench_"+strings.ReplaceAll(l.name, "-", "_"),
		"-job", l.name, "-dimensions", fmt.Sprint(l.dims), "-chunk-size", fmt.Sprint(chunkSize), "-wait", "-log-format", "json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var res loadResult
	killed := false
	for !enq.exited() {
		select {
		case <-ctx.Done():
			b.Fatalf("%s: job did not end", l.name)
		case <-time.After(250 * time.Millisecond):
		}
		st, err := store.Status(ctx, l.name)
		if err != nil {
			continue
		}
		if l.sample {
			// Progress moves with every call, not only when a chunk is done.
			res.series = append(res.series, point{time.Since(began), st.Progress()})
		}
		if l.killAt > 0 && !killed && st.ChunksDone >= l.killAt {
			workers[0].stop(syscall.SIGKILL, time.Second)
			workers[0] = start(b, "worker", env, bn.worker, wargs...)
			killed = true
		}
	}
	res.wall = time.Since(began)
	res.exit = enq.cmd.ProcessState.ExitCode()
	if res.exit != 0 {
		b.Fatalf("%s: enqueue exit %d\n%s", l.name, res.exit, lastLines(enq.output(), 20))
	}
	res.st, _ = store.Status(ctx, l.name)
	for _, w := range workers {
		w.stop(syscall.SIGTERM, 40*time.Second)
		if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.rss = append(res.rss, ru.Maxrss*1024)
		}
	}
	res.stats = l.sim.Stats(b)
	res.embedded = res.stats.EmbeddedTexts - before.EmbeddedTexts
	res.stats.RateLimited -= before.RateLimited
	res.stats.BilledInputTokens -= before.BilledInputTokens
	res.stats.Calls = map[string]int{"POST /v2/embed": res.stats.Calls["POST /v2/embed"] - before.Calls["POST /v2/embed"]}
	return res
}

func (r loadResult) rate() float64 { return float64(r.st.Written+r.st.Skipped) / r.wall.Seconds() }

func (r loadResult) calls() int { return r.stats.Calls["POST /v2/embed"] }
