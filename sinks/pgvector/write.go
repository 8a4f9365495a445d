package pgvector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	pgv "github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/sinks"
)

// errConflict sends a fast-path write back to the upsert path: a row of the
// chunk appeared (another chunk holding the same id) after the check.
var errConflict = errors.New("fast path met an existing id")

// WriteChunk stores a chunk in one transaction: its rows (inserted, or
// updated where they differ from what is stored), its dead-lettered records,
// and its completion counts. Writing the same chunk again, in sequence or
// concurrently, leaves one row per id and rewrites no unchanged row.
func (w *Writer) WriteChunk(ctx context.Context, c *sinks.Chunk) error {
	if !w.cfg.embeds() {
		return w.writeResults(ctx, c)
	}
	rows, err := w.prepareRows(c.Rows)
	if err != nil {
		return fmt.Errorf("pgvector: chunk %d: %w", c.Number, err)
	}
	err = w.writeTx(ctx, c, rows, true)
	if errors.Is(err, errConflict) {
		err = w.writeTx(ctx, c, rows, false)
	}
	if err != nil {
		return fmt.Errorf("pgvector: write chunk %d: %w", c.Number, err)
	}
	return nil
}

// prepareRows checks the vectors' shapes, keeps the last row of each id (an
// upsert cannot touch a row twice in one statement), and sorts by id so that
// transactions sharing ids lock them in the same order instead of deadlocking.
func (w *Writer) prepareRows(in []sinks.Embedding) ([]sinks.Embedding, error) {
	rows := make([]sinks.Embedding, 0, len(in))
	seen := make(map[string]int, len(in))
	for i := range in {
		if err := w.checkRow(&in[i]); err != nil {
			return nil, err
		}
		if j, ok := seen[in[i].ID]; ok {
			rows[j] = in[i]
			continue
		}
		seen[in[i].ID] = len(rows)
		rows = append(rows, in[i])
	}
	slices.SortFunc(rows, func(a, b sinks.Embedding) int { return cmp.Compare(a.ID, b.ID) })
	return rows, nil
}

func (w *Writer) checkRow(e *sinks.Embedding) error {
	d := w.cfg.Dims
	for _, c := range w.cols {
		var n, want int
		switch c.name {
		case "embedding":
			n, want = len(e.Float), d
		case "embedding_int8":
			n, want = len(e.Int8), d
		case "embedding_uint8":
			n, want = len(e.Uint8), d
		case "embedding_binary":
			n, want = len(e.Binary), d/8
		default:
			continue
		}
		if n != want {
			return fmt.Errorf("record %q: %s has %d values, want %d", e.ID, c.name, n, want)
		}
	}
	if e.ID == "" {
		return errors.New("record with an empty id")
	}
	return nil
}

func (w *Writer) writeTx(ctx context.Context, c *sinks.Chunk, rows []sinks.Embedding, fast bool) error {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// Two deliveries of one chunk queue here; the second then sees the first's
	// bookkeeping row and goes through the upsert, which changes nothing.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
		fmt.Sprintf("cobatch.chunk:%s:%s:%d", w.table.Sanitize(), c.Job, c.Number)); err != nil {
		return fmt.Errorf("lock chunk: %w", err)
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	if fast {
		var seen bool
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM cobatch_chunks WHERE job = $1 AND chunk = $2)
			OR EXISTS (SELECT 1 FROM %s WHERE id = ANY($3))`, w.table.Sanitize()), c.Job, c.Number, ids).Scan(&seen)
		if err != nil {
			return fmt.Errorf("check chunk: %w", err)
		}
		fast = !seen
	}
	now := time.Now()
	if fast {
		if _, err := tx.CopyFrom(ctx, w.table, w.names, w.source(rows, now)); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return errConflict
			}
			return fmt.Errorf("copy: %w", err)
		}
	} else if len(rows) > 0 {
		if err := w.stageUpsert(ctx, tx, w.source(rows, now)); err != nil {
			return err
		}
	}
	if err := w.replacePassages(ctx, tx, rows); err != nil {
		return err
	}
	if err := writeFailures(ctx, tx, c, !fast); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO cobatch_chunks (job, chunk, written, skipped, failed) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (job, chunk) DO UPDATE SET written = EXCLUDED.written, skipped = EXCLUDED.skipped,
			failed = EXCLUDED.failed, written_at = now()
		WHERE (cobatch_chunks.written, cobatch_chunks.skipped, cobatch_chunks.failed)
			IS DISTINCT FROM (EXCLUDED.written, EXCLUDED.skipped, EXCLUDED.failed)`,
		c.Job, c.Number, len(c.Rows), len(c.Kept), len(c.Failed)); err != nil {
		return fmt.Errorf("record chunk: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// stageUpsert copies rows into a staging table and upserts them from there
// into the target, rewriting only the rows that differ from what is stored
// (prepare).
func (w *Writer) stageUpsert(ctx context.Context, tx pgx.Tx, rows pgx.CopyFromSource) error {
	if _, err := tx.Exec(ctx, w.staging); err != nil {
		return fmt.Errorf("staging table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "cobatch_stage"}, w.names, rows); err != nil {
		return fmt.Errorf("copy to staging: %w", err)
	}
	if _, err := tx.Exec(ctx, w.upsert); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	return nil
}

// writeFailures makes the chunk's dead-letter rows equal c.Failed, touching
// only rows that differ. stale says earlier rows may exist.
func writeFailures(ctx context.Context, tx pgx.Tx, c *sinks.Chunk, stale bool) error {
	n := len(c.Failed)
	files, lines, ids, reasons := make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	for i, f := range c.Failed {
		files[i], lines[i], ids[i], reasons[i] = f.File, f.Line, f.ID, f.Reason
	}
	if stale {
		if _, err := tx.Exec(ctx, `DELETE FROM cobatch_failures f WHERE f.job = $1 AND f.chunk = $2
			AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::bigint[], $5::text[]) AS u(file, line, id)
				WHERE u.file = f.file AND u.line = f.line AND u.id = f.id)`,
			c.Job, c.Number, files, lines, ids); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO cobatch_failures (job, chunk, file, line, id, reason)
		SELECT DISTINCT ON (u.file, u.line, u.id) $1, $2, u.file, u.line, u.id, u.reason
		FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[]) AS u(file, line, id, reason)
		ON CONFLICT (job, chunk, file, line, id) DO UPDATE SET reason = EXCLUDED.reason, failed_at = now()
		WHERE cobatch_failures.reason IS DISTINCT FROM EXCLUDED.reason`,
		c.Job, c.Number, files, lines, ids, reasons); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	return nil
}

// source streams rows to CopyFrom without building a [][]any of the chunk.
func (w *Writer) source(rows []sinks.Embedding, now time.Time) *rowSource {
	return &rowSource{w: w, rows: rows, i: -1, now: now, vals: make([]any, len(w.cols))}
}

type rowSource struct {
	w    *Writer
	rows []sinks.Embedding
	i    int
	now  time.Time
	vals []any
}

func (s *rowSource) Next() bool { s.i++; return s.i < len(s.rows) }
func (s *rowSource) Err() error { return nil }

// Values reuses one slice: CopyFrom encodes a row before asking for the next.
func (s *rowSource) Values() ([]any, error) {
	e := &s.rows[s.i]
	for j, c := range s.w.cols {
		var v any
		switch c.name {
		case "id":
			v = e.ID
		case "embedding":
			if s.w.cfg.PGType == "halfvec" {
				v = pgv.NewHalfVector(e.Float)
			} else {
				v = pgv.NewVector(e.Float)
			}
		case "embedding_int8":
			v = widen(e.Int8)
		case "embedding_uint8":
			v = widen(e.Uint8)
		case "embedding_binary":
			v = pgtype.Bits{Bytes: e.Binary, Len: int32(s.w.cfg.Dims), Valid: true}
		case "model":
			v = e.Model
		case "input_type":
			v = e.InputType
		case "fingerprint":
			v = e.Fingerprint
		case "content_sha256":
			v = e.ContentSHA256[:]
		case "metadata":
			if len(e.Metadata) > 0 {
				v = []byte(e.Metadata)
			}
		case "embedded_at":
			if e.EmbeddedAt.IsZero() {
				v = s.now
			} else {
				v = e.EmbeddedAt
			}
		default:
			v = corpusValue(c.name, e)
		}
		s.vals[j] = v
	}
	return s.vals, nil
}

func widen[T int8 | uint8](in []T) []int16 {
	out := make([]int16, len(in))
	for i, x := range in {
		out[i] = int16(x)
	}
	return out
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
