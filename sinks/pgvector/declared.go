package pgvector

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/sinks"
)

// declaredTypes is the column type of each declared column type
// (sinks.ColumnType), as format_type prints it.
var declaredTypes = map[sinks.ColumnType]string{
	sinks.TypeText:   "text",
	sinks.TypeInt:    "bigint",
	sinks.TypeFloat:  "double precision",
	sinks.TypeBool:   "boolean",
	sinks.TypeJSON:   "jsonb",
	sinks.TypeVector: "real[]",
	sinks.TypeTime:   "timestamp with time zone",
}

// declaredTable is the table of a declared kind: id text primary key, the
// declared columns, then fingerprint and content_sha256 as in the other
// tables, for Lookup.
func declaredTable(k *sinks.RowKind) (resultTable, error) {
	if err := k.Validate(); err != nil {
		return resultTable{}, err
	}
	cols := []column{{name: sinks.ColumnID, typ: "text"}}
	for _, c := range k.Columns {
		cols = append(cols, column{name: c.Name, typ: declaredTypes[c.Type]})
	}
	cols = append(cols, column{name: sinks.ColumnFingerprint, typ: "text"}, column{name: sinks.ColumnContentSHA256, typ: "bytea"})
	return resultTable{cols: cols, key: []string{sinks.ColumnID}}, nil
}

// upsertDeclared writes rows of the declared kind keyed by id, by COPY
// through the staging table. It returns the number of records.
func (w *Writer) upsertDeclared(ctx context.Context, tx pgx.Tx, in []sinks.Row) (int, error) {
	k := w.cfg.RowKind
	rows, err := lastByID(in, func(r sinks.Row) string { return r.ID }, k.Name+" row")
	if err != nil {
		return 0, err
	}
	for i := range rows {
		if err := k.Check(&rows[i]); err != nil {
			return 0, err
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	vals := make([]any, len(w.cols))
	err = w.stageUpsert(ctx, tx, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := &rows[i]
		vals[0] = r.ID
		copy(vals[1:], r.Values)
		vals[len(vals)-2], vals[len(vals)-1] = r.Fingerprint, r.ContentSHA256[:]
		return vals, nil
	}))
	if err != nil {
		return 0, fmt.Errorf("%s rows: %w", k.Name, err)
	}
	return len(rows), nil
}
