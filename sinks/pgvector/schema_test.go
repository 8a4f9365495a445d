package pgvector_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/migrations"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/pgvector"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const d = 256
	tests := []struct {
		name   string
		pgType string
		types  []string
		cols   []string // columns expected in the created table
	}{
		{"vector", "vector", []string{"float"}, []string{"embedding"}},
		{"halfvec", "halfvec", []string{"float"}, []string{"embedding"}},
		{"binary only", "", []string{"binary"}, []string{"embedding_binary"}},
		{"all types", "halfvec", []string{"float", "int8", "uint8", "ubinary"},
			[]string{"embedding", "embedding_int8", "embedding_uint8", "embedding_binary"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := testenv.DatabaseURL(t)
			w := open(t, pgvector.Config{URL: url, Table: "docs", Dims: d, PGType: tc.pgType, EmbeddingTypes: tc.types})
			in := rows("x", 0, 50, d, 1)
			if err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Rows: in}); err != nil {
				t.Fatal(err)
			}
			c := connect(t, url)
			var got []string
			rs, _ := c.Query(ctx, "SELECT column_name FROM information_schema.columns WHERE table_name = 'docs' AND table_schema = $1 AND column_name LIKE 'embedding%' ORDER BY ordinal_position", testenv.Schema(url))
			for rs.Next() {
				var s string
				rs.Scan(&s)
				got = append(got, s)
			}
			if !slices.Equal(got, tc.cols) {
				t.Fatalf("embedding columns = %v, want %v", got, tc.cols)
			}
			for _, e := range in {
				if slices.Contains(tc.cols, "embedding") {
					var v []float32
					if err := c.QueryRow(ctx, "SELECT embedding::real[] FROM docs WHERE id = $1", e.ID).Scan(&v); err != nil {
						t.Fatal(err)
					}
					checkFloats(t, e.ID, v, e.Float, tc.pgType == "halfvec")
				}
				if slices.Contains(tc.cols, "embedding_binary") {
					var b pgtype.Bits
					if err := c.QueryRow(ctx, "SELECT embedding_binary FROM docs WHERE id = $1", e.ID).Scan(&b); err != nil {
						t.Fatal(err)
					}
					if b.Len != d || string(b.Bytes) != string(e.Binary) {
						t.Fatalf("%s: bits differ: len %d", e.ID, b.Len)
					}
				}
				if slices.Contains(tc.cols, "embedding_int8") {
					var i8, u8 []int16
					if err := c.QueryRow(ctx, "SELECT embedding_int8, embedding_uint8 FROM docs WHERE id = $1", e.ID).Scan(&i8, &u8); err != nil {
						t.Fatal(err)
					}
					for k := range d {
						if i8[k] != int16(e.Int8[k]) || u8[k] != int16(e.Uint8[k]) {
							t.Fatalf("%s: int8/uint8 differ at %d", e.ID, k)
						}
					}
				}
			}
		})
	}
}

// checkFloats compares exactly, or within float16's precision (11 significant
// bits, and subnormals below 2^-14).
func checkFloats(t *testing.T, id string, got, want []float32, half bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d dims, want %d", id, len(got), len(want))
	}
	for i := range want {
		diff := math.Abs(float64(got[i] - want[i]))
		tol := 0.0
		if half {
			tol = math.Max(math.Abs(float64(want[i]))*math.Pow(2, -11), math.Pow(2, -25))
		}
		if diff > tol {
			t.Fatalf("%s[%d] = %v, want %v (half %v)", id, i, got[i], want[i], half)
		}
	}
}

func TestOpenRefusesMismatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	open(t, pgvector.Config{URL: url, Table: "docs", Dims: 64})
	tests := []struct {
		name string
		cfg  pgvector.Config
		want []string
	}{
		{"dimension", pgvector.Config{Dims: 128}, []string{`"docs"`, "embedding", "vector(64)", "vector(128)"}},
		{"type", pgvector.Config{Dims: 64, PGType: "halfvec"}, []string{`"docs"`, "embedding", "vector(64)", "halfvec(64)"}},
		{"missing column", pgvector.Config{Dims: 64, EmbeddingTypes: []string{"float", "binary"}}, []string{`"docs"`, "embedding_binary", "bit(64)"}},
		{"bad config", pgvector.Config{Dims: 0}, []string{"Dims"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.URL, cfg.Table = url, "docs"
			w, err := pgvector.Open(ctx, cfg)
			if err == nil {
				w.Close()
				t.Fatal("Open accepted a table that disagrees with the job")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not mention %s", err, s)
				}
			}
		})
	}
	t.Run("table without a key", func(t *testing.T) {
		t.Parallel()
		c := connect(t, url)
		if _, err := c.Exec(ctx, `CREATE TABLE nokey (id text, embedding vector(4), model text, input_type text,
			fingerprint text, content_sha256 bytea, metadata jsonb, embedded_at timestamptz)`); err != nil {
			t.Fatal(err)
		}
		_, err := pgvector.Open(ctx, pgvector.Config{URL: url, Table: "nokey", Dims: 4})
		if err == nil || !strings.Contains(err.Error(), "primary key") {
			t.Fatalf("err = %v, want a primary key complaint", err)
		}
	})
}

func TestTableNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	schema := testenv.Schema(url)
	c := connect(t, url)
	if _, err := c.Exec(ctx, `CREATE SCHEMA "Other Schema"`); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	t.Cleanup(func() { connect(t, url).Exec(ctx, `DROP SCHEMA IF EXISTS "Other Schema" CASCADE`) })
	tests := []struct {
		name  string
		table string
		ident pgx.Identifier
	}{
		{"plain", "docs", pgx.Identifier{"docs"}},
		{"capitals", "Docs", pgx.Identifier{"Docs"}},
		{"spaces and quotes", `my "odd" table`, pgx.Identifier{`my "odd" table`}},
		{"schema-qualified", schema + ".docs2", pgx.Identifier{schema, "docs2"}},
		{"quoted dot", `"a.b"`, pgx.Identifier{"a.b"}},
		{"quoted schema", `"Other Schema"."T; DROP TABLE docs"`, pgx.Identifier{"Other Schema", "T; DROP TABLE docs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := open(t, pgvector.Config{URL: url, Table: tc.table, Dims: 8})
			if err := w.WriteChunk(ctx, &sinks.Chunk{Job: tc.name, Rows: rows("n", 0, 3, 8, 1)}); err != nil {
				t.Fatal(err)
			}
			if err := w.WriteChunk(ctx, &sinks.Chunk{Job: tc.name, Rows: rows("n", 0, 3, 8, 2)}); err != nil {
				t.Fatal(err)
			}
			if got := count(t, c, "SELECT count(*) FROM "+tc.ident.Sanitize()); got != 3 {
				t.Fatalf("rows = %d, want 3", got)
			}
			if err := w.BuildIndex(ctx, pgvector.IndexOptions{MaintenanceWorkMem: "64MB"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := count(t, c, "SELECT count(*) FROM docs"); got != 3 {
		t.Fatalf("docs = %d rows, want 3 (untouched by the odd names)", got)
	}
	if _, err := pgvector.Open(ctx, pgvector.Config{URL: url, Table: `a.b.c`, Dims: 8}); err == nil {
		t.Fatal("three-part name accepted")
	}
}

func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	var wg sync.WaitGroup
	ws := make([]*pgvector.Writer, 4)
	errs := make([]error, 4)
	for i := range ws {
		wg.Go(func() {
			ws[i], errs[i] = pgvector.Open(ctx, pgvector.Config{URL: url, Table: "docs", Dims: 32, PGType: "halfvec"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer ws[i].Close()
	}
	c := connect(t, url)
	if got := count(t, c, "SELECT count(*) FROM "+migrations.VersionTable+" WHERE version_id > 0"); got != 1 {
		t.Fatalf("migrations applied %d times, want once", got)
	}
	if got := count(t, c, "SELECT count(*) FROM pg_class WHERE relname = 'docs' AND relnamespace = $1::regnamespace", testenv.Schema(url)); got != 1 {
		t.Fatalf("docs tables = %d, want 1", got)
	}
	var storage string
	if err := c.QueryRow(ctx, "SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'docs'::regclass AND attname = 'embedding'").Scan(&storage); err != nil {
		t.Fatal(err)
	}
	if storage != "p" {
		t.Fatalf("halfvec storage = %q, want p (plain)", storage)
	}
}
