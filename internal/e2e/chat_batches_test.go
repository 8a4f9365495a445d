package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// verses writes the first n verses of examples/kjv/bible.jsonl.gz to a
// JSONL file and returns it with each verse's text and book by id.
func verses(t *testing.T, n int) (string, map[string][2]string) {
	t.Helper()
	got := map[string][2]string{}
	var b bytes.Buffer
	for _, v := range testenv.KJV(t, n) {
		got[v.ID] = [2]string{v.Text, v.Book}
		line, _ := json.Marshal(map[string]string{"id": v.ID, "text": v.Text, "book": v.Book}) // strings always encode
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "verses.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, got
}

const versePrompt = "Summarise this verse of {{.book}}: {{.text}}"

// wantVerseReply is the simulator's reply to a verse's prompt.
func wantVerseReply(v [2]string) string {
	return coheretest.ChatText("command-a-03-2025", 0, []coheretest.Turn{{Role: "user", Text: fmt.Sprintf("Summarise this verse of %s: %s", v[1], v[0])}})
}

// TestChatBatchesThroughSimulator runs -op chat -async batches through the
// real binaries against cmd/cohere-sim, which repeats output rows and loses
// lines, into Parquet and into Postgres: every verse is written once with
// the simulator's reply to its prompt (the lost lines through the sync
// route), and a re-run makes no call.
func TestChatBatchesThroughSimulator(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	addr := startSimulator(t, "-validate-delay", "200ms", "-process-delay", "1s",
		"-batch-dup-rate", "0.02", "-batch-lost-rate", "0.01", "-part-rows", "700")
	dbURL, _ := otherDatabase(t)
	env := []string{"REDIS_URL=" + testenv.RedisURL(t), "COHERE_BASE_URL=http://" + addr,
		"COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL=" + dbURL}
	start(t, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", "chat=1000/1s")
	const n = 3000
	in, vs := verses(t, n)
	run := func(job string, sink ...string) string {
		var stdout bytes.Buffer
		args := append([]string{"-op", "chat", "-async", "batches", "-in", in, "-job", job, "-chunk-size", "500",
			"-prompt", versePrompt, "-max-tokens", "200", "-wait"}, sink...)
		cmd := exec.Command(enqueue, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("enqueue: %v\n%s", err, stdout.String())
		}
		return stdout.String()
	}
	check := func(c sinks.ChatResult) error {
		v, ok := vs[c.ID]
		if !ok {
			return fmt.Errorf("unknown id %q", c.ID)
		}
		if want := wantVerseReply(v); c.Output != want || c.FinishReason != "COMPLETE" {
			return fmt.Errorf("%s: output %q (%s), want %q", c.ID, c.Output, c.FinishReason, want)
		}
		return nil
	}
	for _, tc := range []struct{ job, sink string }{{"chatb-sim-pq", "parquet"}, {"chatb-sim-pg", "postgres"}} {
		sink := []string{"-sink", "parquet:" + t.TempDir()}
		if tc.sink == "postgres" {
			sink = []string{"-sink", "postgres", "-table", "verse_replies"}
		}
		first := run(tc.job, sink...)
		if !strings.Contains(first, fmt.Sprintf("%d written, 0 skipped, 0 failed, %d total", n, n)) || !strings.Contains(first, "batches") {
			t.Fatalf("%s summary:\n%s", tc.sink, first)
		}
		seen := map[string]bool{}
		note := func(c sinks.ChatResult) error {
			if seen[c.ID] {
				return fmt.Errorf("%s stored twice", c.ID)
			}
			seen[c.ID] = true
			return check(c)
		}
		if tc.sink == "parquet" {
			if err := parquet.ReadChats(strings.TrimPrefix(sink[1], "parquet:"), tc.job, note); err != nil {
				t.Fatal(err)
			}
		} else {
			conn, err := pgx.Connect(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query(context.Background(), "select id, output, finish_reason from verse_replies")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var c sinks.ChatResult
				if err := rows.Scan(&c.ID, &c.Output, &c.FinishReason); err != nil {
					t.Fatal(err)
				}
				if err := note(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			conn.Close(context.Background())
		}
		if len(seen) != n {
			t.Fatalf("%s: %d rows, want %d", tc.sink, len(seen), n)
		}
		second := run(tc.job, sink...)
		if !strings.Contains(second, fmt.Sprintf("0 written, %d skipped, 0 failed", n)) || !strings.Contains(second, " 0 calls") {
			t.Fatalf("%s re-run:\n%s", tc.sink, second)
		}
	}
}

// TestChatWorkerKilled kills a worker (SIGKILL) mid-job on each chat route
// and starts another: the job ends with every verse written once with the
// fake's reply. On the Batches route the kill lands while the worker writes
// the batch's output, chunk by chunk, and the job keeps its one dataset and
// one batch, each reply billed once; on the sync route only the chunks the
// worker held are asked again.
func TestChatWorkerKilled(t *testing.T) {
	t.Parallel()
	for _, route := range []string{"sync", "batches"} {
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			enqueue, worker := binaries(t)
			// On Batches, small output parts, each fetched with latency,
			// keep the download going long enough to be killed in the
			// middle of it.
			fake := coheretest.NewServer(coheretest.WithAsyncDelays(200*time.Millisecond, 500*time.Millisecond),
				coheretest.WithPartRows(100), coheretest.WithLatency(30*time.Millisecond, 0))
			defer fake.Close()
			redisURL := testenv.RedisURL(t)
			env := []string{"REDIS_URL=" + redisURL, "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
			const handlers, chunk = 4, 100
			n, async := 5000, "batches"
			if route == "sync" {
				n, async = 2000, "off" // one call a record: 15 s at 4 handlers
			}
			wargs := []string{"-concurrency", fmt.Sprint(handlers), "-http", "", "-rate-limit", "chat=1000000/1m"}
			victim := start(t, env, worker, wargs...)
			in, vs := verses(t, n)
			out := t.TempDir()
			job := "chat-kill-" + route
			ctx, store := enqueueThenKill(t, env, redisURL, victim, 3, enqueue, "-op", "chat", "-async", async, "-in", in,
				"-sink", "parquet:"+out, "-job", job, "-chunk-size", fmt.Sprint(chunk), "-prompt", versePrompt)
			st, err := store.Status(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			if st.ChunksDone >= st.Chunks {
				t.Fatalf("killed after the job's last chunk: %d of %d chunks done", st.ChunksDone, st.Chunks)
			}
			start(t, env, worker, wargs...)
			st, err = (&pipeline.Waiter{Store: store}).Wait(ctx, job)
			if err != nil {
				t.Fatalf("follow: %v", err)
			}
			if st.State != jobstore.StateDone || st.Written != int64(n) || st.Failed != 0 || st.Total() != int64(n) {
				t.Fatalf("status %s written %d failed %d total %d (%s)", st.State, st.Written, st.Failed, st.Total(), st.Reason)
			}
			seen := map[string]bool{}
			err = parquet.ReadChats(out, job, func(c sinks.ChatResult) error {
				if seen[c.ID] {
					return fmt.Errorf("%s stored twice", c.ID)
				}
				seen[c.ID] = true
				if want := wantVerseReply(vs[c.ID]); c.Output != want {
					return fmt.Errorf("%s: output %q, want %q", c.ID, c.Output, want)
				}
				return nil
			})
			if err != nil || len(seen) != n {
				t.Fatalf("%d rows: %v", len(seen), err)
			}
			fs := fake.Stats()
			switch route {
			case "batches":
				if fs.Calls["POST /v1/datasets"] != 1 || fs.Calls["POST /v2/batches"] != 1 || fs.Calls["POST /v2/chat"] != 0 || fs.ChatReplies != n {
					t.Errorf("%d datasets, %d batches, %d sync calls, %d replies billed: want 1, 1, 0, %d",
						fs.Calls["POST /v1/datasets"], fs.Calls["POST /v2/batches"], fs.Calls["POST /v2/chat"], fs.ChatReplies, n)
				}
				if st.Tokens != int64(fs.BilledInputTokens) || st.OutputTokens != int64(fs.BilledOutputTokens) {
					t.Errorf("job counts %d/%d tokens, fake billed %d/%d", st.Tokens, st.OutputTokens, fs.BilledInputTokens, fs.BilledOutputTokens)
				}
			case "sync":
				// A chat chunk is written at its end: the killed worker's
				// chunks in flight are asked again, no more. A prompt
				// repeated within a chunk is asked once.
				prompts := map[[2]string]bool{}
				for _, v := range vs {
					prompts[v] = true
				}
				if calls := fs.Calls["POST /v2/chat"]; calls < len(prompts) || calls > n+handlers*chunk || fs.Calls["POST /v1/datasets"] != 0 {
					t.Errorf("%d chat calls for %d verses, %d distinct prompts (%d datasets): want at most the %d in-flight chunks' %d asked again",
						calls, n, len(prompts), fs.Calls["POST /v1/datasets"], handlers, handlers*chunk)
				}
				// The job counts the calls that came back: a killed
				// call may be billed without being counted.
				if st.Tokens > int64(fs.BilledInputTokens) || st.OutputTokens > int64(fs.BilledOutputTokens) {
					t.Errorf("job counts %d/%d tokens, more than the fake billed (%d/%d)", st.Tokens, st.OutputTokens, fs.BilledInputTokens, fs.BilledOutputTokens)
				}
			}
		})
	}
}
