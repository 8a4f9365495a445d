package pgvector

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// column is one column of the target table as this job needs it.
type column struct {
	name string
	typ  string // as format_type prints it, so that validation compares strings
	// vector marks an embedding column: written only when the job asks for
	// its type, and cleared on update when the job does not.
	vector bool
	// added marks a nullable column later versions added: a table made
	// before it gets it with ALTER TABLE instead of being refused.
	added bool
}

// embeddingColumns is every embedding column the sink knows, in table order.
var embeddingColumns = []string{"embedding", "embedding_int8", "embedding_uint8", "embedding_binary"}

// columns returns the target table's columns for cfg, in COPY order.
// int8 and uint8 get a column each (smallint[], which holds both ranges
// exactly and reads as a plain array) because a job may ask for both and their
// sign conventions differ.
func columns(cfg Config) []column {
	has := func(ts ...string) bool {
		for _, t := range ts {
			if slices.Contains(cfg.EmbeddingTypes, t) {
				return true
			}
		}
		return false
	}
	cols := []column{{name: "id", typ: "text"}}
	if has("float") {
		cols = append(cols, column{name: "embedding", typ: fmt.Sprintf("%s(%d)", cfg.PGType, cfg.Dims), vector: true})
	}
	if has("int8") {
		cols = append(cols, column{name: "embedding_int8", typ: "smallint[]", vector: true})
	}
	if has("uint8") {
		cols = append(cols, column{name: "embedding_uint8", typ: "smallint[]", vector: true})
	}
	if has("binary", "ubinary") {
		cols = append(cols, column{name: "embedding_binary", typ: fmt.Sprintf("bit(%d)", cfg.Dims), vector: true})
	}
	return append(append(cols,
		column{name: "model", typ: "text"},
		column{name: "input_type", typ: "text"},
		column{name: "fingerprint", typ: "text"},
		column{name: "content_sha256", typ: "bytea"},
		column{name: "metadata", typ: "jsonb"},
		column{name: "embedded_at", typ: "timestamp with time zone"},
	), corpusColumns(cfg.Corpus)...)
}

func createTableSQL(table pgx.Identifier, cols []column) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", table.Sanitize())
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", pgx.Identifier{c.name}.Sanitize(), c.typ)
		if c.name == "id" {
			b.WriteString(" PRIMARY KEY")
		}
	}
	b.WriteString(")")
	return b.String()
}

// ensureTable creates the target table when it is absent and checks it
// against the job otherwise. It returns the embedding columns that exist in
// the table but that this job does not write.
func ensureTable(ctx context.Context, conn *pgx.Conn, cfg Config, table pgx.Identifier, cols []column) ([]string, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	// CREATE TABLE IF NOT EXISTS is not safe against a concurrent creator of
	// the same name (both pass the check, one fails on pg_type's unique
	// index), so creators queue on a lock named after the resolved table.
	schemaExpr := "current_schema()"
	args := []any{table[len(table)-1]}
	if len(table) == 2 {
		schemaExpr = "$2::text"
		args = append(args, table[0])
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('cobatch.table:' || "+schemaExpr+" || '.' || $1::text, 0))", args...); err != nil {
		return nil, fmt.Errorf("lock table creation: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, table.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("read table definition: %w", err)
	}
	have := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read table definition: %w", err)
		}
		have[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read table definition: %w", err)
	}
	if len(have) == 0 {
		if _, err := tx.Exec(ctx, createTableSQL(table, cols)); err != nil {
			return nil, fmt.Errorf("create table %s: %w", table.Sanitize(), err)
		}
		if inlineFloat(cfg) {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN embedding SET STORAGE PLAIN", table.Sanitize())); err != nil {
				return nil, fmt.Errorf("set storage: %w", err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("create table %s: %w", table.Sanitize(), err)
		}
		return nil, nil
	}
	for _, c := range cols {
		got, ok := have[c.name]
		if !ok {
			return nil, fmt.Errorf("table %s has no column %s; the job needs %s %s", table.Sanitize(), c.name, c.name, c.typ)
		}
		if got != c.typ {
			return nil, fmt.Errorf("table %s column %s is %s; the job needs %s", table.Sanitize(), c.name, got, c.typ)
		}
	}
	var unique bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnatts = 1 AND a.attname = 'id')`,
		table.Sanitize()).Scan(&unique); err != nil {
		return nil, fmt.Errorf("read table indexes: %w", err)
	}
	if !unique {
		return nil, fmt.Errorf("table %s column id is not a primary key or unique; the job needs id text primary key", table.Sanitize())
	}
	var clear []string
	for _, name := range embeddingColumns {
		if _, ok := have[name]; ok && !slices.ContainsFunc(cols, func(c column) bool { return c.name == name }) {
			clear = append(clear, name)
		}
	}
	return clear, tx.Commit(ctx)
}

// floatBytes is the stored size of the float column, or 0 without one.
func floatBytes(cfg Config) int {
	if !slices.Contains(cfg.EmbeddingTypes, "float") {
		return 0
	}
	if cfg.PGType == "halfvec" {
		return 2*cfg.Dims + 8
	}
	return 4*cfg.Dims + 8
}

// inlineFloat reports whether the target's float column is stored PLAIN, in
// the row, rather than compressed (which never succeeds on float data) and
// cut into TOAST chunks with an index of their own: only while two rows still
// share an 8 kB page. For halfvec(1024) this is markedly faster to load and
// scan (BENCHMARKS.md). vector(1024) stays in TOAST: PLAIN measured ~20 %
// faster upserts there but a table 1.47× the size, one row per page.
func inlineFloat(cfg Config) bool {
	n := floatBytes(cfg)
	return cfg.embeds() && n > 0 && n <= 3800
}
