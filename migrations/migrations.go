package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// FS holds the migrations, in goose's SQL format.
//
//go:embed *.sql
var FS embed.FS

// VersionTable records which migrations ran. It is prefixed so that it never
// meets an application's own goose_db_version in the same schema.
const VersionTable = "cobatch_goose_db_version"

// lockKey is the advisory lock that serialises concurrent starters. It is
// database-wide on purpose: CREATE EXTENSION races across schemas too.
const lockKey int64 = 0x636f6261746368 // "cobatch"

// Up applies every pending migration to the schema first on the pool's
// search_path. Several processes may call it at once.
func Up(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS,
		goose.WithTableName(VersionTable),
		goose.WithSessionLocker(blockingLocker{}),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// blockingLocker waits on pg_advisory_lock instead of goose's default of
// polling pg_try_advisory_lock every few seconds, so a second starter proceeds
// the moment the first finishes; the wait ends with ctx because pgx cancels
// the query.
type blockingLocker struct{}

func (blockingLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

func (blockingLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}
