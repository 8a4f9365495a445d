package pgvector

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/cobatch/cobatch/migrations"
	"github.com/cobatch/cobatch/sinks"
)

// Writer stores embed chunks in one Postgres table. It is safe for concurrent
// use; every method borrows a connection from a bounded pool.
type Writer struct {
	pool    *pgxpool.Pool
	cfg     Config
	table   pgx.Identifier
	cols    []column
	names   []string // cols' names, for CopyFrom
	upsert  string   // staging → target statement
	staging string   // creates the staging table
}

// Open connects, applies the migrations, and creates the target table or
// checks that the existing one fits the job. Call it before any API call: a
// table that disagrees with the job is reported here.
func Open(ctx context.Context, cfg Config) (*Writer, error) {
	cfg = cfg.WithDefaults()
	if !cfg.embeds() {
		return openResults(ctx, cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("pgvector: config: %w", err)
	}
	table, _ := parseTable(cfg.Table)
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pgvector: parse url: %w", redactURL(err, cfg.URL))
	}
	pcfg.MaxConns = cfg.MaxConns
	if err := migrate(ctx, pcfg); err != nil {
		return nil, err
	}
	// The vector types exist only after the migrations, so only this pool
	// registers them; without them binary COPY into vector columns fails.
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		return pgxvec.RegisterTypes(ctx, c)
	}
	// A backend killed while idle in the pool is found by the ping, not by
	// the next chunk's transaction.
	pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgvector: connect: %w", err)
	}
	w := &Writer{pool: pool, cfg: cfg, table: table, cols: columns(cfg)}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgvector: connect: %w", err)
	}
	clear, err := ensureTable(ctx, conn.Conn(), cfg, table, w.cols)
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgvector: %w", err)
	}
	if err := w.indexDocIDs(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgvector: %w", err)
	}
	w.prepare(clear)
	return w, nil
}

func migrate(ctx context.Context, pcfg *pgxpool.Config) error {
	mcfg := pcfg.Copy()
	mcfg.MaxConns = 2
	mpool, err := pgxpool.NewWithConfig(ctx, mcfg)
	if err != nil {
		return fmt.Errorf("pgvector: connect: %w", err)
	}
	defer mpool.Close()
	if err := migrations.Up(ctx, mpool); err != nil {
		return fmt.Errorf("pgvector: %w", err)
	}
	return nil
}

// redactURL keeps a password in the URL out of an error message.
func redactURL(err error, url string) error {
	msg := err.Error()
	if !strings.Contains(msg, url) {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(msg, url, "<url>"))
}

// prepare builds the statements once; identifiers are quoted by pgx.
func (w *Writer) prepare(clear []string) {
	var names, quoted, set, cmpT, cmpX []string
	for _, c := range w.cols {
		q := pgx.Identifier{c.name}.Sanitize()
		names = append(names, c.name)
		quoted = append(quoted, q)
		if c.name == "id" {
			continue
		}
		set = append(set, q+" = EXCLUDED."+q)
		// embedded_at is left out: re-embedding the same text into the same
		// vector is no change, and rewriting the row would cost a full tuple
		// plus its WAL.
		if c.name != "embedded_at" || !w.cfg.embeds() {
			cmpT = append(cmpT, "t."+q)
			cmpX = append(cmpX, "EXCLUDED."+q)
		}
	}
	var stale []string
	for _, name := range clear {
		q := pgx.Identifier{name}.Sanitize()
		set = append(set, q+" = NULL")
		stale = append(stale, " OR t."+q+" IS NOT NULL")
	}
	list := strings.Join(quoted, ", ")
	w.names = names
	var defs []string
	for i, c := range w.cols {
		defs = append(defs, quoted[i]+" "+c.typ)
	}
	w.staging = fmt.Sprintf("CREATE TEMP TABLE cobatch_stage (%s) ON COMMIT DROP", strings.Join(defs, ", "))
	if inlineFloat(w.cfg) {
		// Kept in the row, the staged vector is not compressed, cut into
		// TOAST chunks and indexed only to be read back at once.
		w.staging += "; ALTER TABLE pg_temp.cobatch_stage ALTER COLUMN embedding SET STORAGE PLAIN"
	}
	w.upsert = fmt.Sprintf(`INSERT INTO %s AS t (%s) SELECT %s FROM pg_temp.cobatch_stage ORDER BY id
ON CONFLICT (id) DO UPDATE SET %s
WHERE (%s) IS DISTINCT FROM (%s)%s`,
		w.table.Sanitize(), list, list, strings.Join(set, ", "),
		strings.Join(cmpT, ", "), strings.Join(cmpX, ", "), strings.Join(stale, ""))
}

// Close waits for borrowed connections to return and closes the pool.
func (w *Writer) Close() error { w.pool.Close(); return nil }

// Lookup returns the ids among keys whose stored content hash and
// fingerprint both equal the key's: records that need no new embedding.
// job and chunk are not needed here.
func (w *Writer) Lookup(ctx context.Context, job string, chunk int, keys []sinks.Key) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(keys) == 0 || w.cfg.Kind == KindRerank {
		return out, nil
	}
	ids := make([]string, len(keys))
	hashes := make([][]byte, len(keys))
	fps := make([]string, len(keys))
	for i, k := range keys {
		ids[i], hashes[i], fps[i] = k.ID, k.ContentSHA256[:], k.Fingerprint
	}
	rows, err := w.pool.Query(ctx, fmt.Sprintf(`SELECT t.id FROM %s t
		JOIN unnest($1::text[], $2::bytea[], $3::text[]) AS k(id, sha, fp) ON t.id = k.id
		WHERE t.content_sha256 = k.sha AND t.fingerprint = k.fp`, w.table.Sanitize()), ids, hashes, fps)
	if err != nil {
		return nil, fmt.Errorf("pgvector: existing: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("pgvector: existing: %w", err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgvector: existing: %w", err)
	}
	return out, nil
}

// ChunkDone reports whether the chunk's completion is recorded: its rows are
// stored.
func (w *Writer) ChunkDone(ctx context.Context, job string, chunk int) (bool, error) {
	var done bool
	err := w.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM cobatch_chunks WHERE job = $1 AND chunk = $2)", job, chunk).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("pgvector: chunk done: %w", err)
	}
	return done, nil
}

// Finish records the job's summary, replacing an earlier one for the same job.
func (w *Writer) Finish(ctx context.Context, s sinks.Summary) error {
	_, err := w.pool.Exec(ctx, `INSERT INTO cobatch_jobs
		(job, target, model, fingerprint, written, skipped, failed, total, chunks, tokens_in, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (job) DO UPDATE SET target = EXCLUDED.target, model = EXCLUDED.model,
			fingerprint = EXCLUDED.fingerprint, written = EXCLUDED.written, skipped = EXCLUDED.skipped,
			failed = EXCLUDED.failed, total = EXCLUDED.total, chunks = EXCLUDED.chunks,
			tokens_in = EXCLUDED.tokens_in, started_at = EXCLUDED.started_at,
			finished_at = EXCLUDED.finished_at, updated_at = now()`,
		s.Job, w.table.Sanitize(), s.Model, s.Fingerprint, s.Written, s.Skipped, s.Failed, s.Total,
		s.Chunks, s.TokensIn, nullTime(s.StartedAt), nullTime(s.FinishedAt))
	if err != nil {
		return fmt.Errorf("pgvector: finish: %w", err)
	}
	return nil
}
