package pgvector_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
)

// hnswIndexes lists the HNSW indexes on $1.docs without reading the catalog
// rows of other tests' tables, which may vanish mid-query.
const hnswIndexes = `WITH ix AS (
	SELECT pg_get_indexdef(i.indexrelid) AS def, i.indexrelid::oid AS oid
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
	WHERE i.indrelid = to_regclass(quote_ident($1) || '.docs') AND am.amname = 'hnsw')`

func TestBuildIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     pgvector.Config
		opts    pgvector.IndexOptions
		opclass string
	}{
		{"cosine", pgvector.Config{}, pgvector.IndexOptions{}, "vector_cosine_ops"},
		{"l2 halfvec concurrently", pgvector.Config{PGType: "halfvec"}, pgvector.IndexOptions{Distance: "l2", Concurrently: true, M: 8, EfConstruction: 32}, "halfvec_l2_ops"},
		{"ip", pgvector.Config{}, pgvector.IndexOptions{Distance: "ip", ParallelWorkers: -1}, "vector_ip_ops"},
		{"binary", pgvector.Config{EmbeddingTypes: []string{"binary"}}, pgvector.IndexOptions{}, "bit_hamming_ops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := testenv.DatabaseURL(t)
			cfg := tc.cfg
			cfg.URL, cfg.Table, cfg.Dims = url, "docs", 32
			w := open(t, cfg)
			if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Rows: rows("i", 0, 200, 32, 1)}); err != nil {
				t.Fatal(err)
			}
			tc.opts.MaintenanceWorkMem = "80MB"
			if err := w.BuildIndex(ctx, tc.opts); err != nil {
				t.Fatal(err)
			}
			c := connect(t, url)
			var def string
			var oid uint32
			if err := c.QueryRow(ctx, hnswIndexes+" SELECT def, oid FROM ix", testenv.Schema(url)).Scan(&def, &oid); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(def, tc.opclass) {
				t.Fatalf("index %q lacks %s", def, tc.opclass)
			}
			if err := w.BuildIndex(ctx, tc.opts); err != nil {
				t.Fatal(err)
			}
			if got := count(t, c, hnswIndexes+" SELECT count(*) FROM ix", testenv.Schema(url)); got != 1 {
				t.Fatalf("hnsw indexes = %d after a second build, want 1", got)
			}
			var oid2 uint32
			c.QueryRow(ctx, hnswIndexes+" SELECT oid FROM ix", testenv.Schema(url)).Scan(&oid2)
			if oid2 != oid {
				t.Fatal("second BuildIndex rebuilt the index")
			}
			var mwm string
			for range 3 { // every pooled connection is back at the server default
				c2, err := pgvector.PoolOf(w).Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				c2.QueryRow(ctx, "SHOW maintenance_work_mem").Scan(&mwm)
				c2.Release()
				if mwm == "80MB" {
					t.Fatal("maintenance_work_mem leaked to a pooled connection")
				}
			}
		})
	}
	t.Run("bad distance", func(t *testing.T) {
		t.Parallel()
		w := open(t, pgvector.Config{Table: "docs", Dims: 8})
		if err := w.BuildIndex(ctx, pgvector.IndexOptions{Distance: "hamming"}); err == nil {
			t.Fatal("hamming accepted for a vector column")
		}
	})
}
