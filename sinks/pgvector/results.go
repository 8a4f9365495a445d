package pgvector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cobatch/cobatch/sinks"
)

// resultTable is the shape of a table of results other than embeddings.
type resultTable struct {
	cols []column
	key  []string // primary key columns
}

func resultTableFor(cfg Config) (resultTable, error) {
	if cfg.RowKind != nil {
		return declaredTable(cfg.RowKind)
	}
	switch cfg.Kind {
	case KindClassify:
		return classifyTable, nil
	case KindRerank:
		return rerankTable, nil
	case KindChat:
		return chatTable, nil
	}
	return resultTable{}, fmt.Errorf("Kind must be embed, classify, rerank or chat, got %q (or give a RowKind)", cfg.Kind)
}

// openResults opens a Writer on a table of results other than embeddings:
// no vector columns, so neither dimensions nor pgvector types are involved.
func openResults(ctx context.Context, cfg Config) (*Writer, error) {
	rt, err := resultTableFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("pgvector: config: %w", err)
	}
	switch {
	case cfg.URL == "":
		return nil, errors.New("pgvector: config: URL is required")
	case cfg.Table == "":
		return nil, errors.New("pgvector: config: Table is required")
	case cfg.MaxConns < 1:
		return nil, fmt.Errorf("pgvector: config: MaxConns must be at least 1, got %d", cfg.MaxConns)
	}
	table, err := parseTable(cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("pgvector: config: %w", err)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pgvector: parse url: %w", redactURL(err, cfg.URL))
	}
	pcfg.MaxConns = cfg.MaxConns
	if err := migrate(ctx, pcfg); err != nil {
		return nil, err
	}
	pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgvector: connect: %w", err)
	}
	w := &Writer{pool: pool, cfg: cfg, table: table, cols: rt.cols}
	if err := ensureResultTable(ctx, pool, table, rt); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgvector: %w", err)
	}
	if cfg.RowKind != nil {
		w.prepare(nil) // its rows go through stageUpsert
	}
	return w, nil
}

// ensureResultTable creates the table when absent, else checks its columns
// and its primary key: the key is what makes a retried chunk idempotent.
func ensureResultTable(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier, rt resultTable) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	schemaExpr := "current_schema()"
	args := []any{table[len(table)-1]}
	if len(table) == 2 {
		schemaExpr = "$2::text"
		args = append(args, table[0])
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('cobatch.table:' || "+schemaExpr+" || '.' || $1::text, 0))", args...); err != nil {
		return fmt.Errorf("lock table creation: %w", err)
	}
	have := map[string]string{}
	rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, table.Sanitize())
	if err != nil {
		return fmt.Errorf("read table definition: %w", err)
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return fmt.Errorf("read table definition: %w", err)
		}
		have[name] = typ
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read table definition: %w", err)
	}
	quote := func(names []string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = pgx.Identifier{n}.Sanitize()
		}
		return strings.Join(q, ", ")
	}
	if len(have) == 0 {
		var defs []string
		for _, c := range rt.cols {
			defs = append(defs, pgx.Identifier{c.name}.Sanitize()+" "+c.typ)
		}
		ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY (%s))", table.Sanitize(), strings.Join(defs, ", "), quote(rt.key))
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("create table %s: %w", table.Sanitize(), err)
		}
		return tx.Commit(ctx)
	}
	for _, c := range rt.cols {
		got, ok := have[c.name]
		if !ok && c.added {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", table.Sanitize(), pgx.Identifier{c.name}.Sanitize(), c.typ)); err != nil {
				return fmt.Errorf("add column %s to %s: %w", c.name, table.Sanitize(), err)
			}
			continue
		}
		if !ok {
			return fmt.Errorf("table %s has no column %s; the job needs %s %s", table.Sanitize(), c.name, c.name, c.typ)
		}
		if got != c.typ {
			return fmt.Errorf("table %s column %s is %s; the job needs %s", table.Sanitize(), c.name, got, c.typ)
		}
	}
	var keyCols []string
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(a.attname::text ORDER BY a.attname), '{}')
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, table.Sanitize()).Scan(&keyCols); err != nil {
		return fmt.Errorf("read table indexes: %w", err)
	}
	want := slices.Sorted(slices.Values(rt.key))
	if !slices.Equal(keyCols, want) {
		return fmt.Errorf("table %s has primary key (%s); the job needs primary key (%s)", table.Sanitize(), strings.Join(keyCols, ", "), quote(rt.key))
	}
	return tx.Commit(ctx)
}

// writeResults stores a chunk of results other than embeddings in one
// transaction with its dead letters and completion record, as WriteChunk
// does for embeddings.
func (w *Writer) writeResults(ctx context.Context, c *sinks.Chunk) error {
	if len(c.Rows) > 0 {
		return fmt.Errorf("pgvector: chunk %d: embeddings for a %s table", c.Number, w.cfg.Kind)
	}
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgvector: write chunk %d: %w", c.Number, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
		fmt.Sprintf("cobatch.chunk:%s:%s:%d", w.table.Sanitize(), c.Job, c.Number)); err != nil {
		return fmt.Errorf("pgvector: write chunk %d: lock chunk: %w", c.Number, err)
	}
	var written int
	switch {
	case w.cfg.RowKind != nil:
		written, err = w.upsertDeclared(ctx, tx, c.Declared)
	case w.cfg.Kind == KindClassify:
		written, err = w.upsertClassifications(ctx, tx, c.Classifications)
	case w.cfg.Kind == KindRerank:
		written, err = w.upsertReranks(ctx, tx, c.Reranks)
	case w.cfg.Kind == KindChat:
		written, err = w.upsertChats(ctx, tx, c.Chats)
	}
	if err == nil {
		err = writeFailures(ctx, tx, c, true)
	}
	if err == nil {
		err = recordChunk(ctx, tx, c, written)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return fmt.Errorf("pgvector: write chunk %d: %w", c.Number, err)
	}
	return nil
}

func recordChunk(ctx context.Context, tx pgx.Tx, c *sinks.Chunk, written int) error {
	if _, err := tx.Exec(ctx, `INSERT INTO cobatch_chunks (job, chunk, written, skipped, failed) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (job, chunk) DO UPDATE SET written = EXCLUDED.written, skipped = EXCLUDED.skipped,
			failed = EXCLUDED.failed, written_at = now()
		WHERE (cobatch_chunks.written, cobatch_chunks.skipped, cobatch_chunks.failed)
			IS DISTINCT FROM (EXCLUDED.written, EXCLUDED.skipped, EXCLUDED.failed)`,
		c.Job, c.Number, written, len(c.Kept), len(c.Failed)); err != nil {
		return fmt.Errorf("record chunk: %w", err)
	}
	return nil
}
