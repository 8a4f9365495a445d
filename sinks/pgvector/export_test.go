package pgvector

import "github.com/jackc/pgx/v5/pgxpool"

// PoolOf lets tests look at the connections a Writer hands out.
func PoolOf(w *Writer) *pgxpool.Pool { return w.pool }
