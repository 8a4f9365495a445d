package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
)

// otherDatabase creates a database of the test's own beside TEST_DATABASE_URL's
// and returns a URL reaching it.
func otherDatabase(t *testing.T) (string, string) {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("cobatch_other_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := conn.Exec(ctx, "create database "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "drop database "+name+" with (force)"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), name
}

// withPassword puts a password in a URL; the local server trusts loopback,
// so the password is never checked, only looked for where it must not be.
func withPassword(t *testing.T, raw, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// A worker whose DATABASE_URL reaches another database than the job's -sink
// refuses the job's chunks: nothing is written anywhere, the job aborts
// (exit 3) naming both databases and neither password.
func TestWorkerOnAnotherDatabaseRefusesTheJob(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer()
	defer fake.Close()
	redisURL := testenv.RedisURL(t)
	dbA := withPassword(t, testenv.DatabaseURL(t), "secretA")
	rawB, nameB := otherDatabase(t)
	dbB := withPassword(t, rawB, "secretB")
	env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey}
	start(t, append(env, "DATABASE_URL="+dbB), worker, "-concurrency", "2", "-http", "", "-rate-limit", "embed=1000000/1m")
	corpus, _ := writeCorpus(t, 500)
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, enqueue, "-in", corpus, "-sink", dbA, "-table", "docs", "-job", "otherdb", "-dimensions", "256", "-chunk-size", "100", "-wait")
	cmd.Env = append(os.Environ(), append(env, "DATABASE_URL=")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	err := cmd.Run()
	out := stdout.String()
	if code := exitCode(err); code != 3 {
		t.Fatalf("enqueue exit %d, want 3:\n%s", code, out)
	}
	if !strings.Contains(out, "/test") || !strings.Contains(out, "/"+nameB) || !strings.Contains(out, "DATABASE_URL") {
		t.Fatalf("the reason names not both databases (test and %s):\n%s", nameB, out)
	}
	if strings.Contains(out, "secretA") || strings.Contains(out, "secretB") {
		t.Fatalf("a password is in enqueue's output:\n%s", out)
	}
	// Nothing in B: not even the table.
	cb, err := pgx.Connect(context.Background(), rawB)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(context.Background())
	var tables int
	if err := cb.QueryRow(context.Background(), "select count(*) from pg_tables where tablename = 'docs'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("database %s holds %d tables named docs, want none", nameB, tables)
	}
	// Nothing in A either, and nothing paid for.
	ca, err := pgx.Connect(context.Background(), dbA)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(context.Background())
	var rows int
	if err := ca.QueryRow(context.Background(), "select count(*) from docs").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("database A holds %d rows, want 0", rows)
	}
	if n := fake.Stats().EmbeddedTexts; n != 0 {
		t.Fatalf("fake embedded %d texts, want 0", n)
	}
	// The job in Redis never holds a password.
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	spec, err := rdb.HGet(context.Background(), "cobatch:{otherdb}:job", "spec").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(spec, "secret") || !strings.Contains(spec, "/test") {
		t.Fatalf("stored spec: %s", spec)
	}
}
