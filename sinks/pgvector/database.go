package pgvector

import (
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cobatch/cobatch/sinks"
)

// DatabaseName names the database a connection string reaches as
// user@host:port/database: what two workers must agree on to write to the
// same tables. The password, and options that do not choose the database
// (search_path, sslmode), are left out; libpq's defaults (PGHOST, PGUSER,
// ...) apply as they do when connecting.
func DatabaseName(databaseURL string) (string, error) {
	cfg, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		// pgconn's message may quote the connection string; say only what
		// is wrong.
		return "", fmt.Errorf("database URL: cannot be parsed")
	}
	return cfg.User + "@" + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database, nil
}

// checkDatabase refuses a worker whose connection string reaches another
// database than the job was enqueued for.
func checkDatabase(t sinks.Target) error {
	if t.Database == "" {
		return nil
	}
	got, err := DatabaseName(t.DatabaseURL)
	if err != nil {
		return err
	}
	if got != t.Database {
		return fmt.Errorf("%w: the job writes to database %s, this worker's DATABASE_URL reaches %s", sinks.ErrOtherTarget, t.Database, got)
	}
	return nil
}
