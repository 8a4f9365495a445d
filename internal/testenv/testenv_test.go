package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/internal/testenv"
)

// TestAsynqOnRealRedis proves the queue plumbing: a task enqueued on the real
// Redis is delivered to a handler with its payload intact.
func TestAsynqOnRealRedis(t *testing.T) {
	t.Parallel()
	u := testenv.RedisURL(t)
	opt, err := asynq.ParseRedisURI(u)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()

	got := make(chan string, 1)
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("plumbing:ping", func(ctx context.Context, task *asynq.Task) error {
		got <- string(task.Payload())
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	info, err := client.Enqueue(asynq.NewTask("plumbing:ping", []byte("hello")), asynq.TaskID("ping-1"))
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "ping-1" {
		t.Fatalf("task id = %q, want ping-1", info.ID)
	}
	select {
	case p := <-got:
		if p != "hello" {
			t.Fatalf("payload = %q, want hello", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("task not processed within 30s")
	}
}

// TestPgvectorRoundTrip proves the database plumbing: pgx with pgvector-go's
// types writes and reads back vector(3) and halfvec(3), by INSERT and by COPY.
func TestPgvectorRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PGPool(t)
	if _, err := pool.Exec(ctx, `create table items (id int primary key, v vector(3), h halfvec(3))`); err != nil {
		t.Fatal(err)
	}
	v := pgvector.NewVector([]float32{1, -2.5, 3.25})
	h := pgvector.NewHalfVector([]float32{0.5, 1.5, -2})
	if _, err := pool.Exec(ctx, `insert into items values (1, $1, $2)`, v, h); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, []string{"items"}, []string{"id", "v", "h"},
		pgx.CopyFromRows([][]any{{2, v, h}})); err != nil {
		t.Fatalf("copy: %v", err)
	}
	rows, err := pool.Query(ctx, `select id, v, h from items order by id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int
		var gv pgvector.Vector
		var gh pgvector.HalfVector
		if err := rows.Scan(&id, &gv, &gh); err != nil {
			t.Fatal(err)
		}
		n++
		if !equal(gv.Slice(), v.Slice()) || !equal(gh.Slice(), h.Slice()) {
			t.Fatalf("row %d: got %v %v, want %v %v", id, gv.Slice(), gh.Slice(), v.Slice(), h.Slice())
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("read %d rows, want 2", n)
	}
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
