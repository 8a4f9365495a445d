package pgvector

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/sinks"
)

// corpusColumns are the columns -store-text and -split add to an embed
// table, after the others: text holds what was embedded (LangChain's and
// LlamaIndex's Postgres stores read it as the row's content); doc_id,
// chunk_index, char_start and char_end place a passage in its document.
func corpusColumns(c sinks.Corpus) []column {
	var cols []column
	if c.Text {
		cols = append(cols, column{name: "text", typ: "text"})
	}
	if c.Passages {
		cols = append(cols,
			column{name: "doc_id", typ: "text"},
			column{name: "chunk_index", typ: "integer"},
			column{name: "char_start", typ: "integer"},
			column{name: "char_end", typ: "integer"},
		)
	}
	return cols
}

// corpusValue is a corpus column's value in a row.
func corpusValue(name string, e *sinks.Embedding) any {
	switch name {
	case "text":
		return e.Text
	case "doc_id":
		return e.DocID
	case "chunk_index":
		return int32(e.ChunkIndex)
	case "char_start":
		return int32(e.CharStart)
	case "char_end":
		return int32(e.CharEnd)
	}
	return nil
}

// indexDocIDs gives a table of passages an index on doc_id: every chunk
// write looks up the passages of its documents by it.
func (w *Writer) indexDocIDs(ctx context.Context) error {
	if !w.cfg.Corpus.Passages {
		return nil
	}
	name := pgx.Identifier{w.table[len(w.table)-1] + "_doc_id"}
	if _, err := w.pool.Exec(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (doc_id)", name.Sanitize(), w.table.Sanitize())); err != nil {
		return fmt.Errorf("index doc_id: %w", err)
	}
	return nil
}

// replacePassages deletes, in the chunk's transaction, the stored passages
// of the chunk's re-embedded documents that this run did not write again: a
// document that shrank from 7 passages to 5 keeps no passage 6 or 7. (A
// changed document matches none of its stored passages, so all of its
// passages are among rows; pipeline/corpus.go.)
func (w *Writer) replacePassages(ctx context.Context, tx pgx.Tx, rows []sinks.Embedding) error {
	if !w.cfg.Corpus.Passages || len(rows) == 0 {
		return nil
	}
	docs := make([]string, 0, len(rows))
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
		if d := rows[i].DocID; d != "" && (len(docs) == 0 || docs[len(docs)-1] != d) {
			docs = append(docs, d)
		}
	}
	_, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE doc_id = ANY($1) AND NOT (id = ANY($2))", w.table.Sanitize()), docs, ids)
	if err != nil {
		return fmt.Errorf("replace passages: %w", err)
	}
	return nil
}

// Prune deletes in one statement, so one transaction, the rows whose
// document (doc_id for a passage, else id) is not in keep, and returns their
// ids; with dryRun it only selects them.
func (w *Writer) Prune(ctx context.Context, job, fingerprint string, keep map[string]bool, dryRun bool) ([]string, error) {
	ids := make([]string, 0, len(keep))
	for id := range keep {
		ids = append(ids, id)
	}
	doc := "t.id"
	if w.cfg.Corpus.Passages {
		doc = "coalesce(t.doc_id, t.id)"
	}
	where := fmt.Sprintf("NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS k(id) WHERE k.id = %s)", doc)
	q := fmt.Sprintf("DELETE FROM %s AS t WHERE %s RETURNING t.id", w.table.Sanitize(), where)
	if dryRun {
		q = fmt.Sprintf("SELECT t.id FROM %s AS t WHERE %s", w.table.Sanitize(), where)
	}
	rows, err := w.pool.Query(ctx, q, ids)
	if err != nil {
		return nil, fmt.Errorf("pgvector: prune: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgvector: prune: %w", err)
	}
	slices.Sort(out)
	return out, nil
}
