package parquet

import (
	"sync"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/cobatch/cobatch/sinks"
)

// Column names -store-text and -split add to embedding parts, after the
// others, as sinks/pgvector names them.
const (
	colText       = "text"
	colDocID      = "doc_id"
	colChunkIndex = "chunk_index"
	colCharStart  = "char_start"
	colCharEnd    = "char_end"
)

func corpusColumns(c sinks.Corpus) []column[sinks.Embedding] {
	type emb = sinks.Embedding
	var cols []column[emb]
	if c.Text {
		cols = append(cols, column[emb]{colText, parquetgo.String(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putString(r, c, e.Text) }})
	}
	if c.Passages {
		cols = append(cols,
			column[emb]{colDocID, parquetgo.String(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putString(r, c, e.DocID) }},
			column[emb]{colChunkIndex, parquetgo.Int(32), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putInt32(r, c, e.ChunkIndex) }},
			column[emb]{colCharStart, parquetgo.Int(32), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putInt32(r, c, e.CharStart) }},
			column[emb]{colCharEnd, parquetgo.Int(32), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putInt32(r, c, e.CharEnd) }},
		)
	}
	return cols
}

func putInt32(row parquetgo.Row, col int, v int) parquetgo.Row {
	return append(row, parquetgo.Int32Value(int32(v)).Level(0, 0, col))
}

// corpusDecoder reads a corpus column back; nil for a column it does not
// know, which the decoder skips.
func corpusDecoder(name string) func(*sinks.Embedding, []parquetgo.Value) error {
	switch name {
	case colText:
		return func(e *sinks.Embedding, v []parquetgo.Value) error { e.Text = str(v); return nil }
	case colDocID:
		return func(e *sinks.Embedding, v []parquetgo.Value) error { e.DocID = str(v); return nil }
	case colChunkIndex:
		return func(e *sinks.Embedding, v []parquetgo.Value) error { e.ChunkIndex = int(one(v).Int32()); return nil }
	case colCharStart:
		return func(e *sinks.Embedding, v []parquetgo.Value) error { e.CharStart = int(one(v).Int32()); return nil }
	case colCharEnd:
		return func(e *sinks.Embedding, v []parquetgo.Value) error { e.CharEnd = int(one(v).Int32()); return nil }
	}
	return nil
}

type layoutKey struct {
	set    vectorSet
	corpus sinks.Corpus
}

// corpusLayouts holds the layouts with corpus columns, built on first use.
var corpusLayouts sync.Map // layoutKey → *layout[sinks.Embedding]

// layout is the layout of the writer's embedding parts with vector columns
// set: the plain one (with its fast struct path) without corpus columns.
func (w *Writer) layout(set vectorSet) *layout[sinks.Embedding] {
	if w.corpus == (sinks.Corpus{}) {
		return embeddingLayout(set)
	}
	k := layoutKey{set & vecAll, w.corpus}
	if l, ok := corpusLayouts.Load(k); ok {
		return l.(*layout[sinks.Embedding])
	}
	l, _ := corpusLayouts.LoadOrStore(k, newLayout("embedding", append(embeddingColumns(k.set), corpusColumns(k.corpus)...)))
	return l.(*layout[sinks.Embedding])
}
