package parquet

import (
	"context"
	"io"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

// rerankRow is the row of a rerank part file: one document's place in one
// query's ranking.
type rerankRow struct {
	QueryID        string  `parquet:"query_id"`
	Rank           int64   `parquet:"rank"`
	DocID          string  `parquet:"doc_id"`
	DocIndex       int64   `parquet:"doc_index"`
	RelevanceScore float64 `parquet:"relevance_score"`
	Model          string  `parquet:"model,dict"`
	ScoredAt       int64   `parquet:"scored_at,timestamp(microsecond)"`
}

// writeReranks replaces a rerank chunk's part with this run's rankings. A
// rerank chunk keeps nothing from an earlier run: its queries are scored
// again whole.
func (w *Writer) writeReranks(ctx context.Context, dir string, c *sinks.Chunk) error {
	return writePart(dir, c, false, len(c.Reranks), func(f io.Writer) error {
		out := make([]rerankRow, len(c.Reranks))
		for i, r := range c.Reranks {
			out[i] = rerankRow{QueryID: r.QueryID, Rank: int64(r.Rank), DocID: r.DocID, DocIndex: int64(r.DocIndex),
				RelevanceScore: r.RelevanceScore, Model: r.Model, ScoredAt: r.ScoredAt.UnixMicro()}
		}
		return writeStructs(ctx, f, out, w.opts)
	})
}

// ReadReranks calls fn with every row of every part of a rerank job under
// dir, parts in chunk order and each query's rows by rank.
func ReadReranks(dir, job string, fn func(sinks.RerankResult) error) error {
	return readJob(dir, job, func(part string) error {
		return readStructs(part, func(r *rerankRow) error {
			return fn(sinks.RerankResult{QueryID: r.QueryID, Rank: int(r.Rank), DocID: r.DocID, DocIndex: int(r.DocIndex),
				RelevanceScore: r.RelevanceScore, Model: r.Model, ScoredAt: time.UnixMicro(r.ScoredAt).UTC()})
		})
	})
}
