package pgvector

import (
	"context"
	"errors"

	"github.com/cobatch/cobatch/sinks"
)

func init() {
	sinks.Register(sinks.Kind{Scheme: "postgres", NeedsTable: true, Indexes: true, Open: open, Transient: IsTransient, Database: DatabaseName})
}

// open opens the writer of a job on the worker's DATABASE_URL.
func open(ctx context.Context, t sinks.Target) (sinks.Sink, error) {
	if t.DatabaseURL == "" {
		return nil, errors.New("the job writes to postgres but DATABASE_URL is not set")
	}
	if err := checkDatabase(t); err != nil {
		return nil, err
	}
	w, err := Open(ctx, Config{
		URL: t.DatabaseURL, Table: t.Table, Dims: t.Dims,
		PGType: t.PGType, EmbeddingTypes: t.EmbeddingTypes,
		Kind:    t.Op, // the table kinds are named after the operations
		RowKind: t.RowKind,
		Corpus:  t.Corpus,
	})
	if err != nil || t.Index == nil {
		return w, err
	}
	return indexingSink{w, IndexOptions{
		Method: t.Index.Method, Distance: t.Index.Distance, M: t.Index.M,
		EfConstruction: t.Index.EfConstruction, Concurrently: t.Index.Concurrently,
	}}, nil
}

// indexingSink builds the job's index once, when the job finishes: after the
// bulk load, never per chunk.
type indexingSink struct {
	*Writer
	opts IndexOptions
}

func (s indexingSink) Finish(ctx context.Context, sum sinks.Summary) error {
	if err := s.Writer.Finish(ctx, sum); err != nil {
		return err
	}
	return s.Writer.BuildIndex(ctx, s.opts)
}
