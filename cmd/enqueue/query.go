package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

type hit struct {
	id    string
	score float64
	meta  string
}

// nearest embeds query as a search query and prints the five records whose
// vectors are closest to it by cosine similarity.
func nearest(ctx context.Context, client *cohere.Client, spec pipeline.Spec, dbURL, query string, out io.Writer) error {
	resp, err := client.Embed(ctx, &cohere.EmbedRequest{
		Model: spec.Model, InputType: "search_query", Texts: []string{query},
		EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingFloat}, OutputDimension: spec.Dimensions,
	})
	if err != nil {
		return fmt.Errorf("embed query: %w", err)
	}
	if len(resp.Embeddings.Float) != 1 {
		return fmt.Errorf("embed query: got %d vectors", len(resp.Embeddings.Float))
	}
	q := resp.Embeddings.Float[0]
	var hits []hit
	if strings.HasPrefix(spec.Sink, "parquet:") {
		hits, err = nearestParquet(strings.TrimPrefix(spec.Sink, "parquet:"), spec.ID, q, 5)
	} else {
		hits, err = nearestPostgres(ctx, dbURL, spec.Table, q, 5)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "nearest to %q:\n", query)
	for i, h := range hits {
		fmt.Fprintf(out, "  %d. %-24s %.4f  %s\n", i+1, h.id, h.score, h.meta)
	}
	return nil
}

func nearestParquet(dir, job string, q []float32, k int) ([]hit, error) {
	var hits []hit
	err := parquet.ReadJob(dir, job, func(e sinks.Embedding) error {
		if len(e.Float) != len(q) {
			return nil
		}
		hits = append(hits, hit{id: e.ID, score: cosine(q, e.Float), meta: string(e.Metadata)})
		sort.Slice(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
		if len(hits) > k {
			hits = hits[:k]
		}
		return nil
	})
	return hits, err
}

func nearestPostgres(ctx context.Context, dbURL, table string, q []float32, k int) ([]hit, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	rows, err := conn.Query(ctx, fmt.Sprintf(
		`select id, 1 - (embedding <=> $1::vector), coalesce(metadata::text, '') from %s order by embedding <=> $1::vector limit %d`, ident, k),
		pgvector.NewVector(q))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (hit, error) {
		var h hit
		err := r.Scan(&h.id, &h.score, &h.meta)
		return h, err
	})
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
