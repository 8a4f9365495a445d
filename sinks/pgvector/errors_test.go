package pgvector_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
)

func TestIsTransient(t *testing.T) {
	t.Parallel()
	_, refused := pgx.Connect(context.Background(), "postgres://nobody@127.0.0.1:1/x?connect_timeout=2")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"serialization", fmt.Errorf("pgvector: write chunk 3: %w", &pgconn.PgError{Code: "40001"}), true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"connection failure class", &pgconn.PgError{Code: "08006"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"connection refused", refused, true},
		{"reset", fmt.Errorf("copy: %w", syscall.ECONNRESET), true},
		{"eof", fmt.Errorf("copy: %w", io.ErrUnexpectedEOF), true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"plain", errors.New("record \"a\": embedding has 3 values, want 4"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := pgvector.IsTransient(tc.err); got != tc.want {
				t.Fatalf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestDroppedConnections kills every backend of the writer's pool while a
// chunk is inside its transaction, as a Postgres restart or a failover does.
func TestDroppedConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := testenv.DatabaseURL(t)
	u, _ := url.Parse(base)
	q := u.Query()
	app := fmt.Sprintf("cobatch_drop_%d", time.Now().UnixNano())
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	w := open(t, pgvector.Config{URL: u.String(), Table: "docs", Dims: 64, MaxConns: 4})
	if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Number: 0, Rows: rows("d", 0, 500, 64, 1)}); err != nil {
		t.Fatal(err)
	}

	// Hold the table so that the next write stops mid-transaction, where
	// it can be killed deterministically.
	admin := connect(t, base)
	blocker, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(ctx, "LOCK TABLE docs IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	chunk := &sinks.Chunk{Job: "j", Number: 1, Rows: rows("d", 500, 500, 64, 1), Kept: []string{"k"}}
	done := make(chan error, 1)
	go func() { done <- w.WriteChunk(ctx, chunk) }()

	killer := connect(t, base)
	deadline := time.Now().Add(30 * time.Second)
	for count(t, killer, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", app) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the write never reached the locked table")
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := count(t, killer, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k", app)
	if killed < 1 {
		t.Fatal("no backend terminated")
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if err == nil {
		t.Fatal("write survived its backend being terminated")
	}
	if !pgvector.IsTransient(err) {
		t.Fatalf("IsTransient(%v) = false", err)
	}
	t.Logf("terminated %d backends; the write returned: %v", killed, err)

	if err := w.WriteChunk(ctx, chunk); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := count(t, admin, "SELECT count(*) FROM docs"); got != 1000 {
		t.Fatalf("rows = %d, want 1000", got)
	}
	if got := chunkRows(t, admin, "j"); len(got) != 2 || got[0] != (chunkRow{written: 500}) || got[1] != (chunkRow{written: 500, skipped: 1}) {
		t.Fatalf("bookkeeping = %+v", got)
	}
}
