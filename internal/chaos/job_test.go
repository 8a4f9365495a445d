package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// What every scenario's job embeds with. The rate limit is enforced by the
// simulator too, so its rate-limit 429s (at most 1 per 100 calls) show
// whether the workers kept to it.
const (
	model      = "embed-v4.0"
	inputType  = "search_document"
	dims       = 256
	chunkSize  = 500
	table      = "chaos"
	limitCount = 30000
	limitPer   = 10 * time.Second
)

var rateLimit = fmt.Sprintf("embed=%d/%s", limitCount, limitPer)

// job is one scenario's running job and the processes around it.
type job struct {
	t        *testing.T
	name     string
	b        bins
	sim      sim
	redisURL string
	dbURL    string
	app      string // application_name of the job's database connections
	partsDir string // Parquet output root, for a Parquet job
	rdb      *redis.Client
	store    *pipeline.Store
	workers  []*proc
	wargs    []string
	enqueue  *proc
	// What the job was run with and must deliver, for checks that run it
	// again.
	enqueueArgs []string
	texts       map[string]string
	want        []string
	paid        int
}

func (j *job) env() []string {
	return []string{"REDIS_URL=" + j.redisURL, "COHERE_BASE_URL=" + j.sim.URL(),
		"COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL=" + j.dbURL}
}

// startWorker starts one more worker process, or replaces workers[i].
func (j *job) startWorker(i int) {
	p := start(j.t, "worker-"+strconv.Itoa(i), j.env(), j.b.worker, j.wargs...)
	if i < len(j.workers) {
		j.workers[i] = p
	} else {
		j.workers = append(j.workers, p)
	}
}

// status returns the job's state, retrying while Redis is away.
func (j *job) status(ctx context.Context) (pipeline.Status, error) {
	for {
		st, err := j.store.Status(ctx, j.name)
		if err == nil || errors.Is(err, jobstore.ErrNoJob) && ctx.Err() != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitChunks waits until n chunks are done; false if the job ended first.
func (j *job) waitChunks(ctx context.Context, n int64) bool {
	for {
		if j.enqueue.exited() {
			return false
		}
		if st, err := j.store.Status(ctx, j.name); err == nil && (st.ChunksDone >= n || st.Ended()) {
			return !st.Ended()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// tableCheck is what the sink holds, checked record by record.
type tableCheck struct {
	rows, duplicates, lost, wrong, unknown int
	ids                                    map[string]bool
	perID                                  map[string]int // rows of each id
}

func newTableCheck() tableCheck {
	return tableCheck{ids: map[string]bool{}, perID: map[string]int{}}
}

// add checks one row's vector against the simulator's for its text.
func (c *tableCheck) add(texts map[string]string, id string, v []float32) {
	c.rows++
	c.perID[id]++
	c.ids[id] = true
	text, ok := texts[id]
	if !ok {
		c.unknown++
		return
	}
	if !equal(v, coheretest.Embedding(model, inputType, text, dims)) {
		c.wrong++
	}
}

// finish counts the ids of want the sink does not hold, and the rows beyond
// the first of each id.
func (c *tableCheck) finish(want []string) {
	c.duplicates = repeated(c.perID)
	for _, id := range want {
		if !c.ids[id] {
			c.lost++
		}
	}
}

// checkTable reads the whole table and compares every vector with the
// simulator's for its text. want lists the ids that must be there. Its
// duplicates are always 0 (id is the key): see countCheck.
func checkTable(t *testing.T, dbURL string, texts map[string]string, want []string) tableCheck {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "select id, embedding from "+table)
	if err != nil {
		t.Fatalf("read table: %v", err)
	}
	c := newTableCheck()
	for rows.Next() {
		var id string
		var v pgvector.Vector
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		c.add(texts, id, v.Slice())
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read table: %v", err)
	}
	c.finish(want)
	return c
}

// checkParts is checkTable for a Parquet job: every row of every part file,
// an id in two parts counted as a duplicate.
func checkParts(t *testing.T, dir, jobID string, texts map[string]string, want []string) tableCheck {
	t.Helper()
	c := newTableCheck()
	for _, e := range readParts(t, dir, jobID) {
		c.add(texts, e.ID, e.Float)
	}
	c.finish(want)
	return c
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// privateRedis is a redis-server of the scenario's own, with AOF, that the
// scenario may restart: the machine's shared Redis is never touched.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	p    *proc
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	r := &privateRedis{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) start() {
	r.p = start(r.t, "redis-server", nil, "redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", r.dir)
	opt, _ := redis.ParseURL(r.url())
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) || r.p.exited() {
			r.t.Fatalf("private redis did not start: %s", r.p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFile writes b under dir and returns the path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// deadSummary is how a dead letter is matched: by file and id (line for
// records without an id).
func deadKey(f sinks.Failure) string {
	return fmt.Sprintf("%s:%d:%s", filepath.Base(f.File), f.Line, f.ID)
}
