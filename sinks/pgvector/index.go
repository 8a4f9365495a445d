package pgvector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// IndexOptions describes the approximate-nearest-neighbour index BuildIndex
// creates on the embedding column (on embedding_binary when the table has no
// float column).
type IndexOptions struct {
	// Method is the index access method. Only "hnsw". Default "hnsw".
	Method string
	// Distance picks the operator class: "cosine", "l2" or "ip" for float
	// columns, "hamming" or "jaccard" for the bit column. Default "cosine"
	// (float) or "hamming" (bit).
	Distance string
	// M is the HNSW graph degree. Default 16 (pgvector's).
	M int
	// EfConstruction is the HNSW build candidate list size. Default 64
	// (pgvector's).
	EfConstruction int
	// Concurrently builds without blocking writes, for a table that already
	// serves queries. Default false.
	Concurrently bool
	// MaintenanceWorkMem is set for the building session; the graph must fit
	// in it or the build slows several-fold. Default "1GB".
	MaintenanceWorkMem string
	// ParallelWorkers is max_parallel_maintenance_workers for the build.
	// Default 2; negative means none.
	ParallelWorkers int
}

func (o IndexOptions) withDefaults(binaryOnly bool) IndexOptions {
	if o.Method == "" {
		o.Method = "hnsw"
	}
	if o.Distance == "" {
		o.Distance = "cosine"
		if binaryOnly {
			o.Distance = "hamming"
		}
	}
	if o.M == 0 {
		o.M = 16
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = 64
	}
	if o.MaintenanceWorkMem == "" {
		o.MaintenanceWorkMem = "1GB"
	}
	if o.ParallelWorkers == 0 {
		o.ParallelWorkers = 2
	}
	if o.ParallelWorkers < 0 {
		o.ParallelWorkers = 0
	}
	return o
}

// indexTarget returns the column to index and its operator class.
func (w *Writer) indexTarget(o IndexOptions) (string, string, error) {
	if o.Method != "hnsw" {
		return "", "", fmt.Errorf("index method %q: only hnsw is supported", o.Method)
	}
	if slices.ContainsFunc(w.cols, func(c column) bool { return c.name == "embedding" }) {
		if !slices.Contains([]string{"cosine", "l2", "ip"}, o.Distance) {
			return "", "", fmt.Errorf("distance %q: want cosine, l2 or ip for %s", o.Distance, w.cfg.PGType)
		}
		return "embedding", w.cfg.PGType + "_" + o.Distance + "_ops", nil
	}
	if slices.ContainsFunc(w.cols, func(c column) bool { return c.name == "embedding_binary" }) {
		if o.Distance != "hamming" && o.Distance != "jaccard" {
			return "", "", fmt.Errorf("distance %q: want hamming or jaccard for bit", o.Distance)
		}
		return "embedding_binary", "bit_" + o.Distance + "_ops", nil
	}
	return "", "", fmt.Errorf("table has no vector column to index")
}

// BuildIndex creates the HNSW index unless an equivalent valid one exists.
// Call it once after the bulk load: building first makes every insert pay for
// the graph. The memory and parallelism settings apply only to the one
// connection that builds.
func (w *Writer) BuildIndex(ctx context.Context, o IndexOptions) error {
	o = o.withDefaults(!slices.ContainsFunc(w.cols, func(c column) bool { return c.name == "embedding" }))
	col, opclass, err := w.indexTarget(o)
	if err != nil {
		return fmt.Errorf("pgvector: build index: %w", err)
	}
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgvector: build index: %w", err)
	}
	defer conn.Release()

	name := indexName(w.table[len(w.table)-1], col, o)
	qname := pgx.Identifier{name}
	if len(w.table) == 2 {
		qname = pgx.Identifier{w.table[0], name}
	}
	found, valid, err := w.findIndex(ctx, conn.Conn(), col, opclass, o)
	if err != nil {
		return fmt.Errorf("pgvector: build index: %w", err)
	}
	if found != "" && valid {
		return nil
	}
	concurrently := ""
	if o.Concurrently {
		concurrently = "CONCURRENTLY "
	}
	if found != "" {
		// A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind
		// that queries ignore but writes still maintain.
		if _, err := conn.Exec(ctx, "DROP INDEX "+concurrently+"IF EXISTS "+found); err != nil {
			return fmt.Errorf("pgvector: drop invalid index: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('maintenance_work_mem', $1, false), set_config('max_parallel_maintenance_workers', $2, false)",
		o.MaintenanceWorkMem, strconv.Itoa(o.ParallelWorkers)); err != nil {
		return fmt.Errorf("pgvector: build index settings: %w", err)
	}
	defer func() {
		// The connection goes back to the pool: its next user must not
		// inherit a 1GB maintenance_work_mem.
		bg := context.WithoutCancel(ctx)
		conn.Exec(bg, "RESET maintenance_work_mem")
		conn.Exec(bg, "RESET max_parallel_maintenance_workers")
	}()
	stmt := fmt.Sprintf("CREATE INDEX %sIF NOT EXISTS %s ON %s USING hnsw (%s %s) WITH (m = %d, ef_construction = %d)",
		concurrently, pgx.Identifier{name}.Sanitize(), w.table.Sanitize(), pgx.Identifier{col}.Sanitize(), opclass, o.M, o.EfConstruction)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("pgvector: create index %s: %w", qname.Sanitize(), err)
	}
	return nil
}

// findIndex looks for an HNSW index on col with the same operator class and
// parameters, returning its qualified, quoted name and whether it is valid.
func (w *Writer) findIndex(ctx context.Context, conn *pgx.Conn, col, opclass string, o IndexOptions) (string, bool, error) {
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname), i.indisvalid, coalesce(c.reloptions, '{}')
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_am am ON am.oid = c.relam
		JOIN pg_opclass opc ON opc.oid = i.indclass[0]
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = to_regclass($1) AND i.indnatts = 1 AND am.amname = 'hnsw'
			AND opc.opcname = $2 AND a.attname = $3 AND i.indpred IS NULL
		ORDER BY i.indisvalid DESC`, w.table.Sanitize(), opclass, col)
	if err != nil {
		return "", false, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var valid bool
		var opts []string
		if err := rows.Scan(&name, &valid, &opts); err != nil {
			return "", false, err
		}
		m, ef := 16, 64
		for _, kv := range opts {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "m":
				m = n
			case "ef_construction":
				ef = n
			}
		}
		if m == o.M && ef == o.EfConstruction {
			return name, valid, nil
		}
	}
	return "", false, rows.Err()
}

// indexName is deterministic so that a second build finds the first's index;
// names over Postgres' 63-byte limit end in a hash instead of being truncated
// into a collision.
func indexName(table, col string, o IndexOptions) string {
	name := fmt.Sprintf("%s_%s_hnsw_%s_m%d_ef%d", table, col, o.Distance, o.M, o.EfConstruction)
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	cut := 63 - 9
	for cut > 0 && !utf8Start(name[cut]) {
		cut--
	}
	return name[:cut] + "_" + hex.EncodeToString(sum[:4])
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
