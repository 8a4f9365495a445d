package input

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// parquetFile is an open Parquet input with the columns the options use.
type parquetFile struct {
	f      *os.File
	pf     *parquet.File
	id     int // column index, -1 when ids are derived
	text   []int
	meta   []int // -1 for a meta field the file lacks
	closer func() error
}

// openParquet opens and checks a Parquet file. parquet-go may panic on a
// damaged file; that becomes an error wrapping ErrCorrupt.
func openParquet(path, name string, opts Options) (pq *parquetFile, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("input: %s: %w: parquet: %v", name, ErrCorrupt, p)
		}
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("input: %s: %w", name, err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("input: %s: %w: parquet: %w", name, ErrCorrupt, err)
	}
	pq = &parquetFile{f: f, pf: pf, id: -1, closer: f.Close}
	schema := pf.Schema()
	if opts.IDFrom == "" {
		leaf, ok := schema.Lookup(opts.IDField)
		if !ok {
			return nil, fmt.Errorf("input: %s: parquet file has no id column %q (set -id-field, or -id-from line|hash)", name, opts.IDField)
		}
		switch leaf.Node.Type().Kind() {
		case parquet.ByteArray, parquet.FixedLenByteArray, parquet.Int32, parquet.Int64:
		default:
			return nil, fmt.Errorf("input: %s: parquet id column %q must be a string or integer column", name, opts.IDField)
		}
		pq.id = leaf.ColumnIndex
	}
	for _, t := range opts.TextFields {
		leaf, ok := schema.Lookup(t)
		if !ok {
			return nil, fmt.Errorf("input: %s: parquet file has no text column %q (set -text-field)", name, t)
		}
		if k := leaf.Node.Type().Kind(); k != parquet.ByteArray {
			return nil, fmt.Errorf("input: %s: parquet text column %q must be a string column", name, t)
		}
		pq.text = append(pq.text, leaf.ColumnIndex)
	}
	for _, mf := range opts.MetaFields {
		leaf, ok := schema.Lookup(mf)
		if !ok {
			pq.meta = append(pq.meta, -1)
			continue
		}
		pq.meta = append(pq.meta, leaf.ColumnIndex)
	}
	return pq, nil
}

func splitParquet(ctx context.Context, src source, opts Options, perChunk int, emit func(Range) error) error {
	pq, err := openParquet(src.abs, src.name, opts)
	if err != nil {
		return err
	}
	defer pq.closer()
	n := pq.pf.NumRows()
	for start := int64(0); start < n; start += int64(perChunk) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("input: %s: %w", src.name, err)
		}
		end := min(start+int64(perChunk), n)
		r := Range{Path: src.abs, Name: src.name, Format: FormatParquet, Start: start, End: end,
			FirstLine: start, Lines: int(end - start), Records: int(end - start)}
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

// readParquet reads rows [Start,End) row group by row group, seeking inside
// a group so that only the pages holding the range are decoded.
func readParquet(ctx context.Context, r Range, opts Options, fn func(Record) error) (err error) {
	name := r.displayName()
	pq, err := openParquet(r.Path, name, opts)
	if err != nil {
		return err
	}
	defer pq.closer()
	if r.End > pq.pf.NumRows() {
		return fmt.Errorf("input: %s: %w: range ends at row %d, file has %d rows (file changed since it was split?)",
			name, ErrCorrupt, r.End, pq.pf.NumRows())
	}
	m := newRecordMaker(r, opts)
	var (
		fnErr error
		inFn  bool
	)
	defer func() {
		if inFn {
			return // a panic in fn is the caller's own
		}
		if p := recover(); p != nil {
			err = fmt.Errorf("input: %s: %w: parquet: %v", name, ErrCorrupt, p)
		}
	}()
	var groupStart int64
	for _, rg := range pq.pf.RowGroups() {
		groupEnd := groupStart + rg.NumRows()
		if groupEnd <= r.Start || groupStart >= r.End {
			groupStart = groupEnd
			continue
		}
		from, to := max(r.Start, groupStart), min(r.End, groupEnd)
		err := readRowGroup(ctx, rg, from-groupStart, to-from, func(i int64, row parquet.Row) error {
			rec := pq.record(m, opts, from+i, row)
			inFn = true
			fnErr = fn(rec)
			inFn = false
			return fnErr
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return fmt.Errorf("input: %s: %w", name, err)
		}
		groupStart = groupEnd
	}
	return nil
}

func readRowGroup(ctx context.Context, rg parquet.RowGroup, skip, count int64, fn func(int64, parquet.Row) error) error {
	rows := rg.Rows()
	defer rows.Close()
	if err := rows.SeekToRow(skip); err != nil {
		return fmt.Errorf("%w: parquet: %w", ErrCorrupt, err)
	}
	buf := make([]parquet.Row, min(count, 64))
	var done int64
	for done < count {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := rows.ReadRows(buf[:min(int64(len(buf)), count-done)])
		for _, row := range buf[:n] {
			if err := fn(done, row); err != nil {
				return err
			}
			done++
		}
		if done >= count {
			break
		}
		if err == io.EOF || (err == nil && n == 0) {
			return fmt.Errorf("%w: parquet: row group ends after %d of %d rows", ErrCorrupt, skip+done, skip+count)
		}
		if err != nil {
			return fmt.Errorf("%w: parquet: %w", ErrCorrupt, err)
		}
	}
	return nil
}

func (pq *parquetFile) record(m *recordMaker, opts Options, rowIndex int64, row parquet.Row) Record {
	cols := make(map[int][]parquet.Value, 2+len(pq.meta))
	want := func(c int) bool {
		if c == pq.id {
			return true
		}
		for _, t := range pq.text {
			if t == c {
				return true
			}
		}
		for _, t := range pq.meta {
			if t == c {
				return true
			}
		}
		return false
	}
	row.Range(func(c int, vs []parquet.Value) bool {
		if want(c) {
			cols[c] = vs
		}
		return true
	})
	rec := Record{File: m.file, Line: rowIndex}
	single := func(c int) (parquet.Value, bool) {
		vs := cols[c]
		if len(vs) != 1 || vs[0].IsNull() {
			return parquet.Value{}, false
		}
		return vs[0], true
	}
	if pq.id >= 0 {
		v, ok := single(pq.id)
		if !ok {
			return m.bad(rec, opts.IDField, missingIDReason())
		}
		switch v.Kind() {
		case parquet.Int32:
			rec.ID = strconv.FormatInt(int64(v.Int32()), 10)
		case parquet.Int64:
			rec.ID = strconv.FormatInt(v.Int64(), 10)
		default:
			if !utf8.Valid(v.ByteArray()) {
				return m.bad(rec, opts.IDField, "invalid UTF-8")
			}
			rec.ID = string(v.ByteArray())
		}
		if rec.ID == "" {
			return m.bad(rec, opts.IDField, missingIDReason())
		}
	}
	// The columns a record is made of count against MaxRecordBytes, as a
	// line does in the line formats.
	size := 0
	for _, vs := range cols {
		for _, v := range vs {
			switch v.Kind() {
			case parquet.ByteArray, parquet.FixedLenByteArray:
				size += len(v.ByteArray())
			case parquet.Boolean:
				size++
			case parquet.Int32, parquet.Float:
				size += 4
			case parquet.Int64, parquet.Double:
				size += 8
			case parquet.Int96:
				size += 12
			}
		}
	}
	if size > opts.MaxRecordBytes {
		return m.bad(rec, "", fmt.Sprintf("row exceeds %d bytes", opts.MaxRecordBytes))
	}
	var text []byte
	for i, c := range pq.text {
		f := opts.TextFields[i]
		v, ok := single(c)
		if !ok {
			return m.bad(rec, f, "missing text field")
		}
		if !utf8.Valid(v.ByteArray()) {
			return m.bad(rec, f, "invalid UTF-8")
		}
		if i > 0 {
			text = append(text, "\n\n"...)
		}
		text = append(text, v.ByteArray()...)
	}
	rec.Text = string(text)
	rec, ok := checkText(rec, m, m.textField())
	if !ok {
		return rec
	}
	if pq.id < 0 {
		rec = m.idFrom(rec, opts.IDFrom)
	}
	if len(pq.meta) > 0 {
		meta := metaWriter{}
		for i, c := range pq.meta {
			if c < 0 {
				continue
			}
			raw, err := parquetJSON(cols[c])
			if err != nil {
				return m.bad(rec, opts.MetaFields[i], err.Error())
			}
			meta.add(opts.MetaFields[i], raw)
		}
		rec.Meta = meta.bytes()
	}
	return rec
}

// parquetJSON renders a column's values for a row: null, a scalar, or an
// array when the column repeats.
func parquetJSON(vs []parquet.Value) ([]byte, error) {
	one := func(v parquet.Value) (any, error) {
		if v.IsNull() {
			return nil, nil
		}
		switch v.Kind() {
		case parquet.Boolean:
			return v.Boolean(), nil
		case parquet.Int32:
			return v.Int32(), nil
		case parquet.Int64:
			return v.Int64(), nil
		case parquet.Float, parquet.Double:
			f := v.Double()
			if v.Kind() == parquet.Float {
				f = float64(v.Float())
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, nil
			}
			return f, nil
		case parquet.ByteArray, parquet.FixedLenByteArray:
			if !utf8.Valid(v.ByteArray()) {
				return nil, errors.New("invalid UTF-8")
			}
			return string(v.ByteArray()), nil
		default:
			return v.String(), nil
		}
	}
	if len(vs) == 1 {
		x, err := one(vs[0])
		if err != nil {
			return nil, err
		}
		return json.Marshal(x)
	}
	arr := make([]any, 0, len(vs))
	for _, v := range vs {
		x, err := one(v)
		if err != nil {
			return nil, err
		}
		arr = append(arr, x)
	}
	return json.Marshal(arr)
}
