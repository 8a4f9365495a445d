package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/kjvtest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// kjvModel is the fine-tuned classify model the classify route calls: the
// API under test knows it, trained on the sample's examples.
const kjvModel = "kjv-books-ft"

// kjvRecords is how many verses each classify job labels.
const kjvRecords = 500

// classifyEnv is a classify test's files and services: the KJV sample
// labelled by book group, the API the workers call, Redis and PostgreSQL.
type classifyEnv struct {
	set                kjvtest.Set
	records, examples  string // JSONL paths
	out                string // Parquet root
	env                []string
	dbURL              string
	store              *pipeline.Store
	enqueue, workerBin string
	// calls returns what the API has served: requests by route.
	calls func() map[string]int
}

func newClassifyEnv(t *testing.T) *classifyEnv {
	t.Helper()
	set, err := kjvtest.Sample(kjvRecords, 12)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &classifyEnv{set: set, records: filepath.Join(dir, "kjv.jsonl"), examples: filepath.Join(dir, "examples.jsonl"), out: t.TempDir()}
	for path, body := range map[string]string{c.records: set.RecordsJSONL(), c.examples: set.ExamplesJSONL()} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.enqueue, c.workerBin = binaries(t)
	return c
}

// connect points the environment at the API at base, a fresh Redis and a
// schema of its own.
func (c *classifyEnv) connect(t *testing.T, base string) {
	t.Helper()
	redisURL := testenv.RedisURL(t)
	c.dbURL = testenv.DatabaseURL(t)
	c.env = []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + base, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL=" + c.dbURL}
	c.store = jobStore(t, redisURL)
}

// classifyPace paces the workers so that the jobs last twenty seconds or
// more (1,096 embedded texts, the embed route's, take about a minute; 20
// classify calls and 1,000 chat calls twenty seconds): the kill lands
// mid-job even when a loaded machine starts some jobs many seconds after
// the others.
const classifyPace = "embed=20/1s,classify=1/1s,chat=50/1s"

// classifyJob is one job: a route into a sink.
type classifyJob struct{ via, sink string }

func (j classifyJob) id() string { return "kjv-" + j.via + "-" + j.sink }

// args are the enqueue flags of the job: the fine-tuned model on the
// classify route, the examples on embed, the labels and the examples as
// few-shot turns on chat.
func (c *classifyEnv) args(j classifyJob) []string {
	a := []string{"-op", "classify", "-via", j.via, "-in", c.records, "-job", j.id(), "-chunk-size", "50"}
	switch j.via {
	case pipeline.ViaClassify:
		a = append(a, "-model", kjvModel)
	case pipeline.ViaEmbed:
		a = append(a, "-examples", c.examples)
	case pipeline.ViaChat:
		a = append(a, "-labels", strings.Join(kjvtest.Labels, ","), "-examples", c.examples)
	}
	if j.sink == "postgres" {
		return append(a, "-sink", "postgres", "-table", "kjv_"+j.via)
	}
	return append(a, "-sink", "parquet:"+c.out)
}

// run runs enqueue with the job's flags and more, and returns its output.
func (c *classifyEnv) run(j classifyJob, more ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(c.enqueue, append(c.args(j), more...)...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("enqueue %s: %w\n%s", j.id(), err, out.String())
	}
	return out.String(), nil
}

// killMidJob starts a worker with a handler for every chunk of the jobs,
// paced by limits, enqueues the jobs, and kills the worker with SIGKILL
// once every job has made calls and none has ended, while it holds chunks
// of each. It then starts another worker and follows every job to its end:
// each must end done with every record written exactly once. The new
// worker recovers the dead one's chunks a minute after its start, once
// their lease has expired (asynq's recoverer).
func (c *classifyEnv) killMidJob(t *testing.T, limits string, jobs []classifyJob) {
	t.Helper()
	handlers := fmt.Sprint(len(jobs) * kjvRecords / 50)
	victim := start(t, c.env, c.workerBin, "-concurrency", handlers, "-http", "", "-rate-limit", limits)
	// All at once, so that every job is under way before the first ends.
	outs, errs := make([]string, len(jobs)), make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { outs[i], errs[i] = c.run(j, "-wait=false") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		if j.via == pipeline.ViaChat && !strings.Contains(outs[i], "output tokens") {
			t.Errorf("%s: the estimate leaves out the replies' output tokens:\n%s", j.id(), outs[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.id()
	}
	// Every job under way (calls, not progress: a chat chunk's records
	// count only once it is written) or, on a loaded machine that started
	// some jobs late, already done; at least one must be cut by the kill.
	ended := map[string]bool{}
	killWhen(ctx, t, c.store, victim, ids, func(id string, st pipeline.Status) bool {
		ended[id] = st.Ended()
		return st.Calls > 0 || st.Ended()
	})
	cut := 0
	for _, id := range ids {
		if !ended[id] {
			cut++
		}
	}
	if cut == 0 {
		t.Fatal("every job ended before the kill: pace the workers slower")
	}
	t.Logf("the kill cut %d of %d jobs", cut, len(ids))
	start(t, c.env, c.workerBin, "-concurrency", "8", "-http", "", "-rate-limit", limits)
	for _, j := range jobs {
		st, err := (&pipeline.Waiter{Store: c.store}).Wait(ctx, j.id())
		if err != nil {
			t.Fatalf("follow %s: %v", j.id(), err)
		}
		if st.State != jobstore.StateDone || st.Written != kjvRecords || st.Failed != 0 || st.Total() != kjvRecords {
			t.Fatalf("%s: %s, written %d failed %d total %d (%s); want all %d written once", j.id(), st.State, st.Written, st.Failed, st.Total(), st.Reason, kjvRecords)
		}
		c.check(t, j)
	}
}

// check reads the job's sink record by record: every verse exactly once,
// its label one of the book groups, the route and model recorded, and a
// confidence in (0, 1] except on chat, where the API gives none.
func (c *classifyEnv) check(t *testing.T, j classifyJob) {
	t.Helper()
	got := map[string]int{}
	checkRow := func(cl sinks.Classification) error {
		got[cl.ID]++
		model := map[string]string{pipeline.ViaClassify: kjvModel, pipeline.ViaEmbed: pipeline.DefaultClassifyEmbedModel, pipeline.ViaChat: pipeline.DefaultClassifyChatModel}[j.via]
		switch {
		case !slices.Contains(kjvtest.Labels, cl.Label):
			return fmt.Errorf("%s: label %q is not a book group", cl.ID, cl.Label)
		case cl.Route != j.via || cl.Model != model:
			return fmt.Errorf("%s: route %q model %q, want %s %s", cl.ID, cl.Route, cl.Model, j.via, model)
		case (j.via == pipeline.ViaChat) != (cl.Confidence == nil), cl.Confidence != nil && (*cl.Confidence <= 0 || *cl.Confidence > 1):
			return fmt.Errorf("%s: route %s confidence %v", cl.ID, j.via, cl.Confidence)
		}
		return nil
	}
	if j.sink == "postgres" {
		conn, err := pgx.Connect(context.Background(), c.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(context.Background(), "select id, label, confidence, route, model from kjv_"+j.via)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var cl sinks.Classification
			if err := rows.Scan(&cl.ID, &cl.Label, &cl.Confidence, &cl.Route, &cl.Model); err != nil {
				t.Fatal(err)
			}
			if err := checkRow(cl); err != nil {
				t.Fatalf("%s: %v", j.id(), err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	} else if err := parquet.ReadClassifications(c.out, j.id(), checkRow); err != nil {
		t.Fatalf("%s: %v", j.id(), err)
	}
	for _, v := range c.set.Records {
		if got[v.ID] != 1 {
			t.Fatalf("%s: %s stored %d times, want once", j.id(), v.ID, got[v.ID])
		}
	}
	if len(got) != kjvRecords {
		t.Fatalf("%s: %d ids stored, want %d", j.id(), len(got), kjvRecords)
	}
}

// rerun runs the jobs again, all at once, to their end: nothing changed,
// so every record is skipped, each summary counts 0 calls, and the API
// serves no classify, embed or chat call.
func (c *classifyEnv) rerun(t *testing.T, jobs []classifyJob) {
	t.Helper()
	paid := func() int {
		calls := c.calls()
		return calls["POST /v1/classify"] + calls["POST /v2/embed"] + calls["POST /v2/chat"]
	}
	before := paid()
	outs, errs := make([]string, len(jobs)), make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { outs[i], errs[i] = c.run(j, "-wait") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		if !strings.Contains(outs[i], fmt.Sprintf("0 written, %d skipped, 0 failed, %d total", kjvRecords, kjvRecords)) || !strings.Contains(outs[i], "api:     0 calls") {
			t.Fatalf("%s re-run:\n%s", j.id(), outs[i])
		}
		c.check(t, j)
	}
	if after := paid(); after != before {
		t.Fatalf("the re-runs made %d calls", after-before)
	}
}

// classifyJobs are the jobs of the tests: each route into each sink.
func classifyJobs() []classifyJob {
	var jobs []classifyJob
	for _, via := range []string{pipeline.ViaChat, pipeline.ViaEmbed, pipeline.ViaClassify} {
		for _, sink := range []string{"parquet", "postgres"} {
			jobs = append(jobs, classifyJob{via: via, sink: sink})
		}
	}
	return jobs
}

// TestClassifyKilledMidJob runs each route, four book groups on 500
// verses, into each sink through the real binaries against coheretest, and
// kills the worker with SIGKILL while it holds chunks of every job: once
// asynq recovers them, every verse is stored exactly once and counted
// written once, and a re-run makes no call.
func TestClassifyKilledMidJob(t *testing.T) {
	t.Parallel()
	c := newClassifyEnv(t)
	ex := make([]coheretest.ClassifyExample, len(c.set.Examples))
	for i, e := range c.set.Examples {
		ex[i] = coheretest.ClassifyExample{Text: e.Text, Label: e.Label}
	}
	fake := coheretest.NewServer(coheretest.WithClassifier(kjvModel, ex))
	t.Cleanup(fake.Close)
	c.calls = func() map[string]int { return fake.Stats().Calls }
	c.connect(t, fake.URL)
	jobs := classifyJobs()
	c.killMidJob(t, classifyPace, jobs)
	c.rerun(t, jobs)
}

// TestClassifyThroughSimulator does the same against cmd/cohere-sim, the
// classify route's fine-tuned model registered with -classifier, and
// counts the re-runs' calls by the simulator's counters.
func TestClassifyThroughSimulator(t *testing.T) {
	t.Parallel()
	c := newClassifyEnv(t)
	addr := startSimulator(t, "-classifier", kjvModel+"="+c.examples)
	c.calls = func() map[string]int {
		code, body := get(t, "http://"+addr+"/_sim/stats")
		var st coheretest.Stats
		if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
			t.Fatalf("/_sim/stats: %d %v", code, err)
		}
		return st.Calls
	}
	c.connect(t, "http://"+addr)
	jobs := classifyJobs()
	c.killMidJob(t, classifyPace, jobs)
	c.rerun(t, jobs)
}
