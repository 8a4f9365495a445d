// Package migrations embeds the SQL migrations that the pgvector sink applies
// at start-up: the vector extension and the cobatch_ bookkeeping tables (jobs,
// chunks, dead-lettered records). Target tables are not here: their vector
// dimension belongs to the job, so sinks/pgvector creates them.
//
// Up is safe to call from many processes at once: the runs are serialised by a
// blocking advisory lock, and each migration is applied exactly once.
//
//	pool, _ := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	if err := migrations.Up(ctx, pool); err != nil {
//		return err
//	}
package migrations
