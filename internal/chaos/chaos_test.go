package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// mode is the size of the suite: short by default (part of make test), long
// with CHAOS=long (make chaos).
type mode struct {
	records int           // verses of the corpus
	storm   time.Duration // length of the 429 storm
	kills   int           // SIGKILLs in the sigkill scenario
	pgDrops int           // rounds of terminated database connections
	outage  time.Duration // length of the postgres-outage scenario's outage
}

func chaosMode() mode {
	if os.Getenv("CHAOS") == "long" {
		return mode{records: 31102, storm: 60 * time.Second, kills: 4, pgDrops: 4, outage: 20 * time.Second}
	}
	return mode{records: 20000, storm: 8 * time.Second, kills: 2, pgDrops: 2, outage: 5 * time.Second}
}

// The exit codes of README's table, spelled here rather than imported: these
// tests hold enqueue to the numbers schedulers depend on.
const (
	exitOK      = 0
	exitFailed  = 2
	exitAborted = 3
)

// scenario is one fault and what the job must still deliver through it.
type scenario struct {
	name    string
	simArgs []string                   // flags of the cohere-sim process
	fake    func() []coheretest.Option // set: an in-process coheretest instead
	// wargs are extra worker flags (after the common ones).
	wargs        []string
	privateRedis bool
	// inputs adds input files after the corpus and returns the records they
	// hold that must be written (id → text) and the dead letters expected,
	// as deadKey strings with a reason fragment.
	// Records in optional may be lost with a corrupt file's tail; those
	// written are checked like the others.
	inputs func(t *testing.T, dir string) (extra, optional, dead map[string]string, records int)
	// poison: a verse whose text the simulator rejects; it must be the one
	// dead letter.
	poison bool
	// during breaks things while the job runs.
	during func(ctx context.Context, j *job, m mode, r *run)
	// repaid is how many texts may be paid twice, given the simulator's
	// counters and what during did.
	repaid   func(st coheretest.Stats, r *run) int
	wantExit int
	// crashy: a chunk can reach the sink without its completion reaching
	// Redis; its retry then finds the rows there and counts them skipped.
	crashy bool
	// after adds checks of its own.
	after func(t *testing.T, j *job, r *run)

	// parquet: the job writes Parquet parts instead of the table.
	parquet bool
	// async is the job's -async route ("" leaves it sync): remote jobs
	// embed every record once, so that is what the job must pay.
	async string
	// setup runs once the job's Redis and database are chosen, before any
	// process starts.
	setup func(t *testing.T, j *job, r *run)
	// rerun: once the first run has ended, the same command runs again, as a
	// user would after the failure the fault caused; its exit is checked.
	rerun bool
	// trips, when set, gives the embed call numbers at which during's faults
	// are due (calls is the fewest the job can make); the scenario then runs
	// against the in-process fake, which holds later calls back until the
	// fault has fired (see trips).
	trips func(m mode, calls int64) []int64
	// fault names what breaks, and fired counts how often it did; a scenario
	// whose fault never fired (or fired fewer than want times) fails.
	fault string
	fired func(st coheretest.Stats, r *run) int
	want  func(m mode) int
}

// run is what a scenario observed.
type run struct {
	kills, drops int // workers killed, database connections terminated
	faults       int // faults during fired (kills, restarts, rounds of drops)
	trips        *trips
	fake         *coheretest.Server
	redis        *privateRedis
	note         string
	callsAtEnd   int
	proxy        *pgProxy // the database proxy of postgres-outage
	firstExit    int      // exit of the first run, when the job is run again
}

func TestChaos(t *testing.T) {
	m := chaosMode()
	b := binaries(t)
	c := loadCorpus(t, m.records)
	all := append(scenarios(c), outageScenarios()...)
	var rows []faultRow
	for _, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			rows = append(rows, runScenario(t, b, c, m, sc))
		})
	}
	writeFaultTable(t, m, all, rows)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func runScenario(t *testing.T, b bins, c corpus, m mode, sc scenario) faultRow {
	r := &run{}
	j := &job{t: t, name: "chaos-" + sc.name, b: b, app: "chaos-" + sc.name}
	// The simulator.
	simArgs := append([]string{"-embed-limit", fmt.Sprintf("%d/%s", limitCount, limitPer),
		"-latency", "20ms", "-jitter", "10ms"}, sc.simArgs...)
	poisonID := ""
	if sc.poison {
		poisonID = c.uniqueText(chunkSize)
		simArgs = append(simArgs, "-poison", c.texts[poisonID])
	}
	if sc.trips != nil {
		r.trips = newTrips(sc.trips(m, c.minCalls(chunkSize)))
	}
	if sc.fake != nil || r.trips != nil {
		opts := []coheretest.Option{coheretest.WithRateLimit("embed", limitCount, limitPer),
			coheretest.WithLatency(20*time.Millisecond, 10*time.Millisecond)}
		if sc.fake != nil {
			opts = append(opts, sc.fake()...)
		}
		if r.trips != nil {
			opts = append(opts, coheretest.WithFault(r.trips.hook))
		}
		r.fake = coheretest.NewServer(opts...)
		t.Cleanup(r.fake.Close)
		j.sim = fakeSim{r.fake}
	} else {
		j.sim = startSim(t, b, simArgs...)
	}
	// Redis and PostgreSQL.
	if sc.privateRedis {
		r.redis = startPrivateRedis(t)
		j.redisURL = r.redis.url()
	} else {
		j.redisURL = testenv.RedisURL(t)
	}
	opt, err := redis.ParseURL(j.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	j.rdb = redis.NewClient(opt)
	t.Cleanup(func() { j.rdb.Close() })
	j.store = pipeline.NewStore(j.rdb)
	j.dbURL = testenv.DatabaseURL(t) + "&application_name=" + j.app
	if sc.setup != nil {
		sc.setup(t, j, r)
	}

	// Inputs and expectations.
	texts := map[string]string{}
	want := []string{}
	exclude := map[string]bool{}
	for _, id := range c.ids {
		texts[id] = c.texts[id]
		if id == poisonID {
			exclude[id] = true
			continue
		}
		want = append(want, id)
	}
	wantDead := map[string]string{}
	optional := map[string]bool{}
	if poisonID != "" {
		wantDead[fmt.Sprintf("%s:%d:%s", filepath.Base(c.path), slices.Index(c.ids, poisonID)+1, poisonID)] = "invalid request"
	}
	records := len(c.ids)
	inputs := []string{c.path}
	if sc.inputs != nil {
		dir := t.TempDir()
		extra, opt, dead, n := sc.inputs(t, dir)
		for id, text := range extra {
			texts[id] = text
			want = append(want, id)
		}
		for id, text := range opt {
			texts[id] = text
			optional[id] = true
		}
		for k, v := range dead {
			wantDead[k] = v
		}
		records += n
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			inputs = append(inputs, filepath.Join(dir, e.Name()))
		}
	}

	// Workers, then the job.
	j.wargs = append([]string{"-concurrency", fmt.Sprint(concurrency), "-http", "", "-rate-limit", rateLimit,
		"-api-timeout", "10s", "-shutdown-timeout", "30s", "-log-format", "json"}, sc.wargs...)
	for i := range 2 {
		j.startWorker(i)
	}
	began := time.Now()
	sink := []string{"-sink", "postgres", "-table", table}
	if sc.parquet {
		j.partsDir = t.TempDir()
		sink = []string{"-sink", "parquet:" + j.partsDir}
	}
	j.enqueueArgs = append(sink, "-in", strings.Join(inputs, ","), "-job", j.name, "-dimensions", fmt.Sprint(dims),
		"-chunk-size", fmt.Sprint(chunkSize), "-wait", "-log-format", "json")
	if sc.async != "" {
		j.enqueueArgs = append(j.enqueueArgs, "-async", sc.async)
	}
	j.texts, j.want, j.paid = texts, want, c.paidOnce(chunkSize, exclude)
	j.enqueue = start(t, "enqueue", j.env(), b.enqueue, j.enqueueArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	disrupted := make(chan struct{})
	dctx, dcancel := context.WithCancel(ctx)
	go func() {
		defer close(disrupted)
		if sc.during != nil {
			sc.during(dctx, j, m, r)
		}
	}()
	exit, err := j.enqueue.wait(ctx)
	dcancel()
	<-disrupted
	if err == nil && sc.rerun {
		r.firstExit = exit
		j.enqueue = start(t, "enqueue-again", j.env(), b.enqueue, j.enqueueArgs...)
		exit, err = j.enqueue.wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(began)
	r.callsAtEnd = j.sim.Stats(t).Calls["POST /v2/embed"]

	// The verdict.
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if exit != sc.wantExit {
		fail("enqueue exit %d, want %d", exit, sc.wantExit)
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := j.status(sctx)
	scancel()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, lastLines(j.enqueue.output(), 20))
	}
	// What each chunk counted is read before the sink: a chunk records its
	// count only after its rows are written, so every row counted is there
	// when the sink is read; chunks still finishing after an abort can only
	// add rows nobody counted yet.
	counted, err := chunkCounts(ctx, j)
	if err != nil {
		t.Fatalf("chunk results: %v", err)
	}
	var tc tableCheck
	if sc.parquet {
		tc = checkParts(t, j.partsDir, j.name, texts, want)
	} else {
		tc = checkTable(t, j.dbURL, texts, want)
	}
	// Every record a chunk counted must be a row of its own: an id counted
	// by two chunks, or counted and never written, is over-counted.
	over, under := countCheck(c.chunks(chunkSize), counted, tc.perID)
	tc.duplicates += over
	if under > 0 && sc.wantExit != exitAborted {
		fail("%d rows in the sink counted by no chunk", under)
	}
	if len(optional) > 0 {
		got := 0
		for id := range optional {
			if tc.ids[id] {
				got++
				want = append(want, id)
			}
		}
		records += got
		r.note = fmt.Sprintf("%d of %d decodable records of the truncated gzip written", got, len(optional))
		if got != len(optional) {
			fail("%d of the %d optional records written", got, len(optional))
		}
	}
	if sc.wantExit == exitAborted {
		// An aborted job keeps what it wrote; the rest is not lost, it is
		// waiting for a resumed run.
		tc.lost = 0
		// Chunks in flight at the abort may commit to the sink without
		// being counted: a resumed run finds them and skips them.
		if counted := st.Written + st.Skipped; int64(tc.rows) < counted || int64(tc.rows) > counted+8*chunkSize {
			fail("table holds %d rows, status says %d written + %d skipped", tc.rows, st.Written, st.Skipped)
		}
	} else {
		if st.State != jobstore.StateDone {
			fail("job state %s (%s)", st.State, st.Reason)
		}
		if st.Records != int64(records) || st.Total() != st.Records {
			fail("planned %d records, accounted %d (want %d)", st.Records, st.Total(), records)
		}
		if st.Written+st.Skipped != int64(len(want)) || st.Failed != int64(len(wantDead)) {
			fail("written %d + skipped %d, failed %d; want %d and %d", st.Written, st.Skipped, st.Failed, len(want), len(wantDead))
		}
		if st.Skipped != 0 && !sc.crashy {
			fail("%d records skipped in a first run", st.Skipped)
		}
		if tc.rows != len(want) {
			fail("table holds %d rows, want %d", tc.rows, len(want))
		}
	}
	if tc.duplicates+tc.lost+tc.wrong+tc.unknown != 0 {
		fail("table: %d duplicates, %d lost, %d wrong vectors, %d unknown ids", tc.duplicates, tc.lost, tc.wrong, tc.unknown)
	}
	dead, err := j.store.DeadLetters(context.Background(), j.name, 0)
	if err != nil {
		t.Fatal(err)
	}
	gotDead := map[string]string{}
	for _, f := range dead {
		gotDead[deadKey(f)] = f.Reason
	}
	for k, frag := range wantDead {
		if reason, ok := gotDead[k]; !ok || !strings.Contains(reason, frag) {
			fail("dead letter %s: got %q, want a reason with %q", k, reason, frag)
		}
	}
	for k, reason := range gotDead {
		if _, ok := wantDead[k]; !ok {
			fail("unexpected dead letter %s: %s", k, reason)
		}
	}
	if len(dead) != len(gotDead) {
		fail("%d dead letters for %d distinct records", len(dead), len(gotDead))
	}
	ins := asynq.NewInspectorFromRedisClient(j.rdb)
	if info, err := ins.GetQueueInfo(queue.DefaultQueue); err == nil && info.Archived != 0 {
		fail("%d tasks archived", info.Archived)
	}
	stats := j.sim.Stats(t)
	// The limiter spaces its grants so that no window holds more than the
	// limit; requests can still bunch up in flight on a loaded machine and
	// meet the simulator's window a little closer together. The target is at
	// most one such 429 per 100 calls, and a 429 costs nothing but a wait.
	if calls := stats.Calls["POST /v2/embed"]; stats.RateLimited*100 > max(calls, 1) {
		fail("the simulator answered %d rate-limit 429s in %d calls: the workers went over the limit", stats.RateLimited, calls)
	}
	paid := c.paidOnce(chunkSize, exclude)
	if sc.async != "" {
		paid = len(c.ids) - len(exclude)
	}
	if sc.inputs != nil {
		paid = -1 // extra files chunk on their own; checked below by uniqueness
	}
	repaid := 0
	allowed := 0
	if sc.repaid != nil {
		allowed = sc.repaid(stats, r)
	}
	if paid >= 0 && sc.wantExit != exitAborted {
		repaid = stats.EmbeddedTexts - paid
		if repaid < 0 || repaid > allowed {
			fail("%d texts embedded, %d expected: %d paid twice, %d allowed", stats.EmbeddedTexts, paid, repaid, allowed)
		}
	}
	if sc.after != nil {
		sc.after(t, j, r)
	}
	fired := 0
	if sc.fired != nil {
		fired = sc.fired(stats, r)
		if fired == 0 {
			fail("no %s: the fault never fired, the scenario proved nothing", sc.fault)
		}
		if sc.want != nil && fired != sc.want(m) {
			fail("%d %s, want %d: the job ended before its faults", fired, sc.fault, sc.want(m))
		}
	}
	verdict := "PASS"
	if len(problems) > 0 {
		verdict = "FAIL"
	}
	if r.note != "" {
		r.note = ", " + r.note
	}
	t.Logf("chaos %s: records %d, written %d/skipped %d/failed %d, duplicates %d, lost %d, API calls %d (repaid %d of %d allowed), 429s %d%s, %s: %s",
		sc.name, records, st.Written, st.Skipped, st.Failed, tc.duplicates, tc.lost, stats.Calls["POST /v2/embed"],
		repaid, allowed, stats.Status[429], r.note, wall.Round(100*time.Millisecond), verdict)
	for _, p := range problems {
		t.Error(p)
	}
	return faultRow{name: sc.name, fault: sc.fault, fired: fired, st: st, tc: tc, calls: stats.Calls["POST /v2/embed"],
		repaid: repaid, allowed: allowed, paidChecked: paid >= 0 && sc.wantExit != exitAborted,
		rateLimited: stats.RateLimited, note: strings.TrimPrefix(r.note, ", "), exit: exit, failed: len(problems) > 0 || t.Failed()}
}
