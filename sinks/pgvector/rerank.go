package pgvector

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/sinks"
)

// rerankTable holds one row per (query, document): the key makes a retried
// chunk rewrite its rows rather than add to them.
var rerankTable = resultTable{
	cols: []column{
		{name: "query_id", typ: "text"},
		{name: "rank", typ: "integer"},
		{name: "doc_id", typ: "text"},
		{name: "doc_index", typ: "integer"},
		{name: "relevance_score", typ: "double precision"},
		{name: "model", typ: "text"},
		{name: "scored_at", typ: "timestamp with time zone"},
	},
	key: []string{"query_id", "doc_id"},
}

// upsertReranks replaces the rankings of the chunk's queries: rows of those
// queries that this run did not produce (a smaller -top-n, a document gone)
// are deleted, the others upserted. It returns the number of queries.
func (w *Writer) upsertReranks(ctx context.Context, tx pgx.Tx, in []sinks.RerankResult) (int, error) {
	if len(in) == 0 {
		return 0, nil
	}
	rows := slices.Clone(in)
	slices.SortFunc(rows, func(a, b sinks.RerankResult) int {
		return cmp.Or(cmp.Compare(a.QueryID, b.QueryID), cmp.Compare(a.DocID, b.DocID))
	})
	n := len(rows)
	qids, docs, models := make([]string, n), make([]string, n), make([]string, n)
	ranks, idxs, scores, ats := make([]int32, n), make([]int32, n), make([]float64, n), make([]time.Time, n)
	var queries []string
	now := time.Now()
	for i, r := range rows {
		if i > 0 && r.QueryID == rows[i-1].QueryID && r.DocID == rows[i-1].DocID {
			return 0, fmt.Errorf("query %q: document %q ranked twice", r.QueryID, r.DocID)
		}
		if i == 0 || r.QueryID != rows[i-1].QueryID {
			queries = append(queries, r.QueryID)
		}
		qids[i], docs[i], models[i] = r.QueryID, r.DocID, r.Model
		ranks[i], idxs[i], scores[i], ats[i] = int32(r.Rank), int32(r.DocIndex), r.RelevanceScore, r.ScoredAt
		if ats[i].IsZero() {
			ats[i] = now
		}
	}
	t := w.table.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s t WHERE t.query_id = ANY($1::text[])
		AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS u(q, d) WHERE u.q = t.query_id AND u.d = t.doc_id)`, t),
		queries, qids, docs); err != nil {
		return 0, fmt.Errorf("clear stale ranks: %w", err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s AS t (query_id, rank, doc_id, doc_index, relevance_score, model, scored_at)
		SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::float8[], $6::text[], $7::timestamptz[])
		ON CONFLICT (query_id, doc_id) DO UPDATE SET rank = EXCLUDED.rank, doc_index = EXCLUDED.doc_index,
			relevance_score = EXCLUDED.relevance_score, model = EXCLUDED.model, scored_at = EXCLUDED.scored_at
		WHERE (t.rank, t.doc_index, t.relevance_score, t.model)
			IS DISTINCT FROM (EXCLUDED.rank, EXCLUDED.doc_index, EXCLUDED.relevance_score, EXCLUDED.model)`, t),
		qids, ranks, docs, idxs, scores, models, ats); err != nil {
		return 0, fmt.Errorf("upsert: %w", err)
	}
	return len(queries), nil
}
