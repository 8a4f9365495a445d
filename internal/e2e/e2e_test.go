package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// testVersion is stamped into the binaries, as the image's build does.
const testVersion = "v0.0.0-e2e"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds cmd/enqueue and cmd/worker once per test process.
func binaries(t testing.TB) (enqueue, worker string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "cobatch-e2e-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-ldflags", "-X github.com/cobatch/cobatch/internal/version.Version="+testVersion,
			"-o", binDir+"/", "../../cmd/enqueue", "../../cmd/worker")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "enqueue"), filepath.Join(binDir, "worker")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is a command started in the background, its output kept for failures.
type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func start(t testing.TB, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				p.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("output of %s:\n%s", filepath.Base(bin), lastLines(p.out.String(), 40))
			p.mu.Unlock()
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeCorpus(t testing.TB, n int) (string, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corpus.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	texts := map[string]string{}
	words := []string{"harbor", "lantern", "meadow", "copper", "violin", "glacier", "pepper", "quartz"}
	for i := range n {
		id := fmt.Sprintf("r%05d", i)
		texts[id] = fmt.Sprintf("entry %d on %s with %s", i, words[i%8], words[(i/8)%8])
		fmt.Fprintf(w, "{\"id\":%q,\"text\":%q,\"n\":%d}\n", id, texts[id], i)
	}
	w.Flush()
	f.Close()
	return path, texts
}

// verify checks the Parquet output record by record.
func verify(t *testing.T, dir, job string, texts map[string]string, dims int) {
	t.Helper()
	seen := map[string]int{}
	err := parquet.ReadJob(dir, job, func(e sinks.Embedding) error {
		seen[e.ID]++
		want := coheretest.Embedding("embed-v4.0", "search_document", texts[e.ID], dims)
		if len(e.Float) != len(want) {
			return fmt.Errorf("%s: %d dims, want %d", e.ID, len(e.Float), len(want))
		}
		for i := range want {
			if e.Float[i] != want[i] {
				return fmt.Errorf("%s: vector differs from the fake's at %d", e.ID, i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dups, missing := 0, 0
	for id := range texts {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	if dups != 0 || missing != 0 || len(seen) != len(texts) {
		t.Fatalf("output: %d ids, %d duplicated, %d missing; want %d exactly once", len(seen), dups, missing, len(texts))
	}
}

func TestDistributedTwoWorkers(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer(coheretest.WithLatency(5*time.Millisecond, 5*time.Millisecond))
	defer fake.Close()
	redisURL := testenv.RedisURL(t)
	env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	for range 2 {
		start(t, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", "embed=1000000/1m")
	}
	corpus, texts := writeCorpus(t, 10_000)
	out := t.TempDir()
	var stdout bytes.Buffer
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+out, "-job", "dist", "-dimensions", "256", "-chunk-size", "500", "-wait")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "10000 written, 0 skipped, 0 failed, 10000 total") {
		t.Fatalf("summary:\n%s", stdout.String())
	}
	verify(t, out, "dist", texts, 256)
	if n := fake.Stats().EmbeddedTexts; n != 10_000 {
		t.Errorf("fake embedded %d texts, want 10000", n)
	}
}

func TestEmbeddedMode(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	corpus, texts := writeCorpus(t, 3000)
	out := t.TempDir()
	run := func() string {
		var stdout bytes.Buffer
		cmd := exec.Command(enqueue, "-sim", "-in", corpus, "-sink", "parquet:"+out, "-dimensions", "256", "-query", "copper violin")
		cmd.Env = append(os.Environ(), "REDIS_URL=", "COHERE_API_KEY=")
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("enqueue: %v\n%s", err, stdout.String())
		}
		return stdout.String()
	}
	first := run()
	if !strings.Contains(first, "3000 written, 0 skipped, 0 failed, 3000 total") || !strings.Contains(first, "nearest to \"copper violin\"") {
		t.Fatalf("first run:\n%s", first)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("output dir has %d jobs, want 1", len(entries))
	}
	job := entries[0].Name()
	verify(t, out, job, texts, 256)
	// A second run in a fresh embedded queue resumes from the sink: nothing is
	// paid for again.
	second := run()
	if !strings.Contains(second, "0 written, 3000 skipped, 0 failed, 3000 total") || !strings.Contains(second, "0 calls") {
		t.Fatalf("second run:\n%s", second)
	}
	verify(t, out, job, texts, 256)
}

func TestMissingKeyIsAClearError(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	corpus, _ := writeCorpus(t, 10)
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+t.TempDir())
	cmd.Env = append(os.Environ(), "REDIS_URL=", "COHERE_API_KEY=", "COHERE_API_KEY_FILE=")
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != exitUsage || !strings.Contains(string(out), "COHERE_API_KEY is not set") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// The exit codes of README's table, spelled here rather than imported: these
// tests hold the commands to the numbers schedulers depend on.
const (
	exitOK      = 0
	exitUsage   = 1
	exitFailed  = 2
	exitAborted = 3
)

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestWorkerKilledMidJob kills a worker with SIGKILL while it holds chunks; a
// second worker finishes the job once asynq recovers the dead worker's tasks.
func TestWorkerKilledMidJob(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer(coheretest.WithLatency(30*time.Millisecond, 10*time.Millisecond))
	defer fake.Close()
	redisURL := testenv.RedisURL(t)
	env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	victim := start(t, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", "embed=1000000/1m")
	corpus, texts := writeCorpus(t, 6000)
	out := t.TempDir()
	ctx, store := enqueueThenKill(t, env, redisURL, victim, 3, enqueue, "-in", corpus, "-sink", "parquet:"+out, "-job", "kill",
		"-dimensions", "256", "-chunk-size", "300")
	start(t, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", "embed=1000000/1m")
	st, err := (&pipeline.Waiter{Store: store}).Wait(ctx, "kill")
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	if st.State != jobstore.StateDone || st.Written != 6000 || st.Total() != 6000 {
		t.Fatalf("status %s written %d total %d", st.State, st.Written, st.Total())
	}
	verify(t, out, "kill", texts, 256)
	// Only chunks in flight at the kill were paid for twice.
	if extra := fake.Stats().EmbeddedTexts - 6000; extra > 4*300 {
		t.Errorf("%d texts paid twice, more than the 4 in-flight chunks", extra)
	}
}

// enqueueThenKill runs enqueue with args and -wait=false, kills victim
// (SIGKILL) once the job (-job in args) has done chunks chunks, and returns
// a context bounding the rest of the test and the job store.
func enqueueThenKill(t *testing.T, env []string, redisURL string, victim *proc, chunks int64, enqueue string, args ...string) (context.Context, *pipeline.Store) {
	t.Helper()
	job := args[slices.Index(args, "-job")+1]
	cmd := exec.Command(enqueue, append(args, "-wait=false")...)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, b)
	}
	store := jobStore(t, redisURL)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	killWhen(ctx, t, store, victim, []string{job}, func(_ string, st pipeline.Status) bool { return st.ChunksDone >= chunks })
	return ctx, store
}

// jobStore is the job store in the Redis at redisURL, its client closed
// when the test ends.
func jobStore(t *testing.T, redisURL string) *pipeline.Store {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return pipeline.NewStore(rdb)
}

// killWhen polls the status of every job until ready holds for all of
// them, then kills victim with SIGKILL and waits for it to exit; it fails
// the test if ctx ends first.
func killWhen(ctx context.Context, t *testing.T, store *pipeline.Store, victim *proc, jobs []string, ready func(job string, st pipeline.Status) bool) {
	t.Helper()
	for {
		n := 0
		for _, job := range jobs {
			st, err := store.Status(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if ready(job, st) {
				n++
			}
		}
		if n == len(jobs) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d jobs ready for the kill", n, len(jobs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
}

// TestJobIDsAreCheckedAtEnqueue: a job id names Redis keys and the Parquet
// sink's directory, so one outside [A-Za-z0-9._-]{1,128} is refused before
// anything runs, with exit 1 and the rule; a valid one runs.
func TestJobIDsAreCheckedAtEnqueue(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	corpus, _ := writeCorpus(t, 10)
	for _, tc := range []struct{ id, want string }{
		{"x:done", `-job "x:done": a job id holds only letters, digits, '.', '_' and '-'`},
		{"../x", `-job "../x": a job id holds only letters, digits, '.', '_' and '-'`},
		{"a b", `-job "a b": a job id holds only`},
		{"..", `-job "..": a job id must not be "." or ".."`},
		{strings.Repeat("j", 129), `: a job id has at most 128 characters, this one 129`},
		{"nightly.2026-12-01_A", ""},
		{strings.Repeat("j", 128), ""},
	} {
		out := t.TempDir()
		// Without the check, a bad id runs until its chunks give up.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, enqueue, "-sim", "-in", corpus, "-sink", "parquet:"+out, "-job", tc.id, "-dimensions", "256")
		cmd.Env = append(os.Environ(), "REDIS_URL=", "COHERE_API_KEY=", "COHERE_API_KEY_FILE=", "DATABASE_URL=")
		b, err := cmd.CombinedOutput()
		code := exitCode(err)
		if tc.want == "" {
			if code != exitOK {
				t.Errorf("-job %q: exit %d, output:\n%s", tc.id, code, b)
			}
			continue
		}
		if code != exitUsage || !strings.Contains(string(b), tc.want) {
			t.Errorf("-job %q: exit %d, want %d and %q; output:\n%s", tc.id, code, exitUsage, tc.want, b)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("-job %q: the sink directory holds %d entries", tc.id, len(entries))
		}
	}
}
