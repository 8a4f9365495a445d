package parquet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
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
	part := filepath.Join(dir, partName(c.Number))
	if len(c.Reranks) == 0 {
		if err := removeIfExists(part); err != nil {
			return err
		}
	} else {
		out := make([]rerankRow, len(c.Reranks))
		for i, r := range c.Reranks {
			out[i] = rerankRow{QueryID: r.QueryID, Rank: int64(r.Rank), DocID: r.DocID, DocIndex: int64(r.DocIndex),
				RelevanceScore: r.RelevanceScore, Model: r.Model, ScoredAt: r.ScoredAt.UnixMicro()}
		}
		if err := writeAtomic(dir, partName(c.Number), func(f io.Writer) error {
			return writeStructs(ctx, f, out, w.opts)
		}); err != nil {
			return fmt.Errorf("parquet: chunk %d: %w", c.Number, err)
		}
	}
	if err := writeFailures(dir, c.Number, c.Failed); err != nil {
		return fmt.Errorf("parquet: chunk %d: %w", c.Number, err)
	}
	return nil
}

// ReadReranks calls fn with every row of every part of a rerank job under
// dir, parts in chunk order and each query's rows by rank.
func ReadReranks(dir, job string, fn func(sinks.RerankResult) error) error {
	return readJobStructs(dir, job, func(r *rerankRow) error {
		return fn(sinks.RerankResult{QueryID: r.QueryID, Rank: int(r.Rank), DocID: r.DocID, DocIndex: int(r.DocIndex),
			RelevanceScore: r.RelevanceScore, Model: r.Model, ScoredAt: time.UnixMicro(r.ScoredAt).UTC()})
	})
}
