package pgvector

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/sinks"
)

// Config says where a Writer stores a job's embeddings and what they look like.
type Config struct {
	// URL is the postgres:// connection string. Required.
	URL string
	// Table is the target table, optionally schema-qualified ("public.docs").
	// Parts may be double-quoted to hold a dot ("a"."b.c"); every part is
	// quoted as an identifier, so case, spaces and quotes are kept as given.
	// Required.
	Table string
	// Dims is the vector dimension D. Required.
	Dims int
	// PGType is the type of the float column: "vector" or "halfvec".
	// Default "vector".
	PGType string
	// EmbeddingTypes lists which of float, int8, uint8, binary and ubinary the
	// job writes; each decides a column that must exist: float → embedding,
	// int8 → embedding_int8, uint8 → embedding_uint8, binary or ubinary →
	// embedding_binary. Default ["float"].
	EmbeddingTypes []string
	// MaxConns bounds the connection pool. Default 8.
	MaxConns int32
	// Kind is the shape of the table: KindEmbed (default), KindClassify,
	// KindRerank or KindChat. Dims, PGType and EmbeddingTypes matter only
	// for KindEmbed.
	Kind string
	// RowKind, when set, is the shape of the table instead of Kind: a kind
	// an operation declared (declared.go).
	RowKind *sinks.RowKind
	// Corpus adds the passage columns of an embed table (corpus.go).
	Corpus sinks.Corpus
}

// Table kinds (Config.Kind), one per job operation.
const (
	KindEmbed    = "embed"
	KindClassify = "classify"
	KindRerank   = "rerank"
)

// WithDefaults returns a copy of c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.PGType == "" {
		c.PGType = "vector"
	}
	if len(c.EmbeddingTypes) == 0 {
		c.EmbeddingTypes = []string{"float"}
	}
	if c.MaxConns == 0 {
		c.MaxConns = 8
	}
	if c.Kind == "" {
		c.Kind = KindEmbed
	}
	return c
}

// embeds reports a table of embeddings, the shape with vector columns.
func (c Config) embeds() bool { return c.RowKind == nil && c.Kind == KindEmbed }

// maxDims is pgvector's limit for vector and halfvec columns.
const maxDims = 16000

func (c Config) validate() error {
	if c.URL == "" {
		return errors.New("URL is required")
	}
	if c.Table == "" {
		return errors.New("Table is required")
	}
	if _, err := parseTable(c.Table); err != nil {
		return err
	}
	if c.Dims <= 0 || c.Dims > maxDims {
		return fmt.Errorf("Dims must be between 1 and %d, got %d", maxDims, c.Dims)
	}
	if c.PGType != "vector" && c.PGType != "halfvec" {
		return fmt.Errorf("PGType must be vector or halfvec, got %q", c.PGType)
	}
	for _, t := range c.EmbeddingTypes {
		if !slices.Contains([]string{"float", "int8", "uint8", "binary", "ubinary"}, t) {
			return fmt.Errorf("EmbeddingTypes: unknown type %q (want float, int8, uint8, binary or ubinary)", t)
		}
		if (t == "binary" || t == "ubinary") && c.Dims%8 != 0 {
			return fmt.Errorf("Dims must be a multiple of 8 for %s embeddings, got %d", t, c.Dims)
		}
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("MaxConns must be at least 1, got %d", c.MaxConns)
	}
	return nil
}

// parseTable splits a table name into at most two identifier parts. Unquoted
// parts are taken verbatim (not case-folded) because they are quoted on use.
func parseTable(s string) (pgx.Identifier, error) {
	var parts pgx.Identifier
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quoted && ch == '"' && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"' && (quoted || cur.Len() == 0):
			quoted = !quoted
		case ch == '.' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	if quoted {
		return nil, fmt.Errorf("table name %q: unterminated quote", s)
	}
	parts = append(parts, cur.String())
	if len(parts) > 2 {
		return nil, fmt.Errorf("table name %q: want table or schema.table", s)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("table name %q: empty part", s)
		}
	}
	return parts, nil
}
