package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
)

// nightlyRecords is the corpus of BenchmarkNightlyRerun; NIGHTLY_RECORDS
// overrides it (e.g. for a quick try).
func nightlyRecords(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("NIGHTLY_RECORDS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			b.Fatalf("NIGHTLY_RECORDS=%q: want a positive count", s)
		}
	}
	return n
}

// BenchmarkNightlyRerun measures what a nightly re-run of an unchanged
// corpus costs against the first night, in the same run, for each sink:
// the enqueue binary (embedded, 8 handlers) embeds the corpus under one
// date-stamped job id, then runs again over the same file under the next
// day's id. The fake answers at once, with no rate limit, so the first
// night is as fast as this machine embeds and writes. Reported per night:
// wall time, embed calls and bytes written (Parquet: the job directory's
// files; PostgreSQL: the growth of the table with its index and TOAST, as
// pg_total_relation_size measures it), and the second night's time as a
// ratio to the first's.
func BenchmarkNightlyRerun(b *testing.B) {
	records := nightlyRecords(b)
	enqueue, _ := binaries(b)
	corpus, _ := writeCorpus(b, records)
	for _, sink := range []string{"parquet", "postgres"} {
		b.Run(sink, func(b *testing.B) {
			for range b.N {
				fake := coheretest.NewServer()
				env := []string{"REDIS_URL=", "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
				out := b.TempDir()
				var dbURL string
				if sink == "postgres" {
					dbURL = testenv.DatabaseURL(b)
					env[len(env)-1] = "DATABASE_URL=" + dbURL
				}
				type night struct {
					wall  time.Duration
					calls int
					bytes int64
				}
				run := func(n int) night {
					job := fmt.Sprintf("nightly-2026-12-%02d", n)
					args := []string{"-in", corpus, "-job", job, "-dimensions", "256", "-rate-limit", "embed=1000000000/1m"}
					if sink == "postgres" {
						args = append(args, "-sink", "postgres", "-table", "nightly")
					} else {
						args = append(args, "-sink", "parquet:"+out)
					}
					before := tableBytes(b, dbURL, "nightly")
					fake.ResetStats()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
					defer cancel()
					var stdout bytes.Buffer
					cmd := exec.CommandContext(ctx, enqueue, args...)
					cmd.Env = append(os.Environ(), env...)
					cmd.Stdout, cmd.Stderr = &stdout, &stdout
					began := time.Now()
					if err := cmd.Run(); err != nil {
						b.Fatalf("night %d: enqueue: %v\n%s", n, err, lastLines(stdout.String(), 20))
					}
					r := night{wall: time.Since(began), calls: fake.Stats().Calls["POST /v2/embed"]}
					written := records
					if n > 1 {
						written = 0
					}
					want := fmt.Sprintf("%d written, %d skipped, 0 failed, %d total", written, records-written, records)
					if !strings.Contains(stdout.String(), want) {
						b.Fatalf("night %d: want %q in the summary:\n%s", n, want, lastLines(stdout.String(), 20))
					}
					if sink == "postgres" {
						r.bytes = tableBytes(b, dbURL, "nightly") - before
					} else {
						r.bytes = dirBytes(b, filepath.Join(out, job))
					}
					return r
				}
				first, second := run(1), run(2)
				fake.Close()
				if second.calls != 0 {
					b.Fatalf("the unchanged night made %d embed calls", second.calls)
				}
				b.ReportMetric(first.wall.Seconds(), "night1-s")
				b.ReportMetric(second.wall.Seconds(), "night2-s")
				b.ReportMetric(second.wall.Seconds()/first.wall.Seconds(), "night2/night1-time")
				b.ReportMetric(float64(first.calls), "night1-calls")
				b.ReportMetric(float64(second.calls), "night2-calls")
				b.ReportMetric(float64(first.bytes), "night1-bytes")
				b.ReportMetric(float64(second.bytes), "night2-bytes")
			}
		})
	}
}

// tableBytes is the size of table with its indexes and TOAST; 0 when
// dbURL is empty or the table does not exist yet.
func tableBytes(b *testing.B, dbURL, table string) int64 {
	if dbURL == "" {
		return 0
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n *int64
	if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size(to_regclass($1))", table).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n == nil {
		return 0
	}
	return *n
}

// dirBytes is the size of the files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
