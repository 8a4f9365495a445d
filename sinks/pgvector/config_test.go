package pgvector

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestParseTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    pgx.Identifier
		wantErr string
	}{
		{in: "docs", want: pgx.Identifier{"docs"}},
		{in: "public.docs", want: pgx.Identifier{"public", "docs"}},
		{in: "Docs", want: pgx.Identifier{"Docs"}},
		{in: `my "odd" table`, want: pgx.Identifier{`my "odd" table`}},
		{in: `"a.b"`, want: pgx.Identifier{"a.b"}},
		{in: `"S"."t ""q"""`, want: pgx.Identifier{"S", `t "q"`}},
		{in: "a.b.c", wantErr: "schema.table"},
		{in: "a.", wantErr: "empty part"},
		{in: `"open`, wantErr: "unterminated"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseTable(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseTable(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("parseTable(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{URL: "postgres://x", Table: "t", Dims: 1024}.WithDefaults()
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "URL"},
		{"no table", func(c *Config) { c.Table = "" }, "Table"},
		{"dims too big", func(c *Config) { c.Dims = 16001 }, "Dims"},
		{"bad pg type", func(c *Config) { c.PGType = "bit" }, "PGType"},
		{"bad embedding type", func(c *Config) { c.EmbeddingTypes = []string{"base64"} }, "base64"},
		{"binary needs whole bytes", func(c *Config) { c.Dims = 12; c.EmbeddingTypes = []string{"binary"} }, "multiple of 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.edit(&c)
			err := c.validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate() = %v, want mention of %s", err, tc.wantErr)
			}
		})
	}
	if ok.PGType != "vector" || ok.MaxConns != 8 || !slices.Equal(ok.EmbeddingTypes, []string{"float"}) {
		t.Fatalf("defaults = %+v", ok)
	}
}

func TestIndexName(t *testing.T) {
	t.Parallel()
	o := IndexOptions{Distance: "cosine", M: 16, EfConstruction: 64}
	if got := indexName("docs", "embedding", o); got != "docs_embedding_hnsw_cosine_m16_ef64" {
		t.Fatalf("indexName = %q", got)
	}
	long := strings.Repeat("é", 40)
	a, b := indexName(long+"a", "embedding", o), indexName(long+"b", "embedding", o)
	if len(a) > 63 || len(b) > 63 || a == b {
		t.Fatalf("long names %q (%d) and %q (%d): want distinct and ≤ 63 bytes", a, len(a), b, len(b))
	}
}

func TestInlineFloat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"vector 768", Config{Dims: 768}, true},
		{"vector 1024", Config{Dims: 1024}, false},
		{"vector 1536", Config{Dims: 1536}, false},
		{"vector 2000", Config{Dims: 2000}, false},
		{"halfvec 1024", Config{Dims: 1024, PGType: "halfvec"}, true},
		{"halfvec 3072", Config{Dims: 3072, PGType: "halfvec"}, false},
		{"binary only", Config{Dims: 1024, EmbeddingTypes: []string{"binary"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg.WithDefaults()
			if got := inlineFloat(cfg); got != tc.want {
				t.Fatalf("inlineFloat = %v, want %v", got, tc.want)
			}
		})
	}
}
