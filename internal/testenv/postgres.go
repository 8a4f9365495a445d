package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

var schemaSeq atomic.Int64

// DatabaseURL returns a postgres:// URL whose connections use a schema of the
// test's own, created now and dropped with everything in it when the test
// ends. The vector extension lives in public, which stays on the search path.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatalf("TEST_DATABASE_URL is not set: %s", servicesHint)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("postgres: %v (%s)", err, servicesHint)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "create extension if not exists vector"); err != nil {
		// Concurrent creators race on the catalog; the loser sees a unique
		// violation although the extension now exists.
		if _, err2 := conn.Exec(ctx, "select 'vector'::regtype"); err2 != nil {
			t.Fatalf("create extension vector: %v (%s)", err, servicesHint)
		}
	}
	schema := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	if _, err := conn.Exec(ctx, "create schema "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "drop schema "+schema+" cascade"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema+",public")
	u.RawQuery = q.Encode()
	return u.String()
}

// Schema returns the schema that a URL from DatabaseURL puts first on the
// search path.
func Schema(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return ""
	}
	s, _, _ := strings.Cut(u.Query().Get("search_path"), ",")
	return s
}

// PGPool returns a pool on a schema of the test's own (see DatabaseURL) with
// pgvector's types registered on every connection.
func PGPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(DatabaseURL(t))
	if err != nil {
		t.Fatalf("parse database url: %v", err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		return pgxvec.RegisterTypes(ctx, c)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("postgres pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
