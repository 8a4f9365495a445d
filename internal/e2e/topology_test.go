package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// topology starts a Sentinel group or a Cluster with scripts/redis-topology.sh
// and stops it when the test ends; it returns the script's KEY=VALUE lines.
func topology(t *testing.T, mode string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	script := "../../scripts/redis-topology.sh"
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("stop %s: %v\n%s", mode, err, out)
		}
	})
	var stderr bytes.Buffer
	cmd := exec.Command(script, mode, dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", script, mode, err, stderr.String())
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	if vars["REDIS_URL"] == "" {
		t.Fatalf("%s %s printed no REDIS_URL:\n%s", script, mode, out)
	}
	return vars
}

// topologyJob runs workers and a job of n records against redisURL; midJob
// runs once a few chunks are done. It checks that every record ends written
// exactly once.
func topologyJob(t *testing.T, redisURL, job string, n int, timeout time.Duration, midJob func()) {
	t.Helper()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer(coheretest.WithLatency(20*time.Millisecond, 10*time.Millisecond))
	defer fake.Close()
	env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	for range 2 {
		start(t, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", "embed=1000000/1m")
	}
	corpus, texts := writeCorpus(t, n)
	out := t.TempDir()
	cmd := exec.Command(enqueue, "-in", corpus, "-sink", "parquet:"+out, "-job", job, "-dimensions", "256", "-chunk-size", "200", "-wait=false")
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, b)
	}
	conn, err := redisconn.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := conn.NewClient()
	defer rdb.Close()
	store := pipeline.NewStore(rdb)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if midJob != nil {
		for {
			st, err := store.Status(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if st.ChunksDone >= 3 {
				if st.State != jobstore.StateRunning {
					t.Fatalf("job %s before the fault; make it longer", st.State)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatal("no chunk finished")
			}
			time.Sleep(20 * time.Millisecond)
		}
		midJob()
	}
	st, err := (&pipeline.Waiter{Store: store}).Wait(ctx, job)
	if err != nil {
		// Say why the chunks did not finish: asynq keeps each retried
		// task's last error.
		retries, _ := asynq.NewInspectorFromRedisClient(rdb).ListRetryTasks(queue.DefaultQueue, asynq.PageSize(3))
		for _, r := range retries {
			t.Logf("task %s retried %d times, last error: %s", r.ID, r.Retried, r.LastErr)
		}
		t.Fatalf("follow: %v", err)
	}
	if st.State != jobstore.StateDone || st.Written != int64(n) || st.Total() != int64(n) {
		t.Fatalf("status %s written %d total %d, want done with %d written", st.State, st.Written, st.Total(), n)
	}
	verify(t, out, job, texts, 256)
}

// TestSentinelFailover kills the master of a Sentinel group mid-job: the
// sentinels promote the replica, workers and the store follow it, and every
// record is still written exactly once.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	vars := topology(t, "sentinel")
	pid, err := strconv.Atoi(vars["MASTER_PID"])
	if err != nil {
		t.Fatalf("MASTER_PID %q", vars["MASTER_PID"])
	}
	// After the kill, chunks in flight wait for asynq to recover their tasks
	// (a lease of 30 s), hence the longer timeout.
	topologyJob(t, vars["REDIS_URL"], "sentinel", 6000, 2*time.Minute, func() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill the master: %v", err)
		}
	})
	// The replica is the master now.
	role, err := exec.Command("redis-cli", "-p", vars["REPLICA_PORT"], "role").Output()
	if err != nil || !strings.HasPrefix(string(role), "master") {
		t.Fatalf("the replica's role after the failover: %q %v", role, err)
	}
}

// TestClusterJob runs a whole job on a three-master Cluster.
func TestClusterJob(t *testing.T) {
	t.Parallel()
	vars := topology(t, "cluster")
	topologyJob(t, vars["REDIS_URL"], "cluster", 3000, time.Minute, nil)
}
