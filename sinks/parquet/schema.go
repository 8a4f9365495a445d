package parquet

import (
	"context"
	"fmt"
	"io"
	"reflect"

	parquetgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// A layout is one kind of row (embeddings today; labels and rerank results
// later): the ordered columns of its part files and how a Go value of type R
// turns into a parquet row. Adding a row kind means adding a layout, not
// touching how part files are written.
type layout[R any] struct {
	schema  *parquetgo.Schema
	columns []column[R]
	// write, when set, writes rows through a Go struct type with the same
	// schema: parquet-go then copies whole vectors into its column buffers,
	// about five times faster than one parquet.Value per element.
	write func(ctx context.Context, pw parquetOut, rows []R) error
}

// A column is one top-level field holding exactly one leaf, so its position in
// the layout is also its parquet column index.
type column[R any] struct {
	name string
	node parquetgo.Node
	put  func(row parquetgo.Row, col int, r *R) parquetgo.Row
}

func newLayout[R any](name string, cols []column[R]) *layout[R] {
	fields := make([]field, len(cols))
	nodes := make(parquetgo.Group, len(cols))
	for i, c := range cols {
		fields[i] = field{Node: c.node, name: c.name, index: i}
		nodes[c.name] = c.node
	}
	schema := parquetgo.NewSchema(name, newGroup(nodes, fields))
	if n := len(schema.Columns()); n != len(cols) {
		panic(fmt.Sprintf("parquet: layout %s: %d leaf columns for %d fields", name, n, len(cols)))
	}
	return &layout[R]{schema: schema, columns: cols}
}

// withStruct makes l write through struct type T, filled from R by fill. It
// panics unless T's schema is l's, column encodings included, so both paths
// write the same files.
func withStruct[T, R any](l *layout[R], fill func(dst *T, src *R)) *layout[R] {
	var zero T
	if ts := parquetgo.SchemaOf(zero); !sameSchema(ts, l.schema) {
		panic(fmt.Sprintf("parquet: struct %T does not match layout:\n%s\n%s", zero, ts, l.schema))
	}
	l.write = func(ctx context.Context, out parquetOut, rows []R) error {
		pw := parquetgo.NewGenericWriter[T](out.w, append([]parquetgo.WriterOption{l.schema}, out.opts...)...)
		buf := make([]T, rowBatch)
		for len(rows) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(len(rows), len(buf))
			for i := range n {
				fill(&buf[i], &rows[i])
			}
			if _, err := pw.Write(buf[:n]); err != nil {
				return fmt.Errorf("write rows: %w", err)
			}
			rows = rows[n:]
		}
		if err := pw.Close(); err != nil {
			return fmt.Errorf("close part: %w", err)
		}
		return nil
	}
	return l
}

// parquetOut is where and how a part is written.
type parquetOut struct {
	w    io.Writer
	opts []parquetgo.WriterOption
}

func sameSchema(a, b parquetgo.Node) bool {
	if !parquetgo.EqualNodes(a, b) {
		return false
	}
	if a.Leaf() {
		return encodingOf(a) == encodingOf(b)
	}
	fa, fb := a.Fields(), b.Fields()
	for i := range fa {
		if fa[i].Name() != fb[i].Name() || !sameSchema(fa[i], fb[i]) {
			return false
		}
	}
	return true
}

func encodingOf(n parquetgo.Node) string {
	if e := n.Encoding(); e != nil {
		return e.String()
	}
	return ""
}

func (l *layout[R]) appendRow(row parquetgo.Row, r *R) parquetgo.Row {
	for i := range l.columns {
		row = l.columns[i].put(row, i, r)
	}
	return row
}

// group keeps its fields in declaration order: parquetgo.Group is a map and
// sorts them by name, which would put content_sha256 before id.
type group struct {
	parquetgo.Group
	fields []parquetgo.Field
}

func newGroup(nodes parquetgo.Group, fields []field) group {
	g := group{Group: nodes, fields: make([]parquetgo.Field, len(fields))}
	for i := range fields {
		g.fields[i] = fields[i]
	}
	return g
}

func (g group) Fields() []parquetgo.Field { return g.fields }

func (g group) String() string { return parquetgo.NewSchema("", g).String() }

func (g group) GoType() reflect.Type {
	sf := make([]reflect.StructField, len(g.fields))
	for i, f := range g.fields {
		sf[i] = reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: f.GoType(),
			Tag:  reflect.StructTag(fmt.Sprintf("parquet:%q", f.Name())),
		}
	}
	return reflect.StructOf(sf)
}

type field struct {
	parquetgo.Node
	name  string
	index int
}

func (f field) Name() string { return f.name }

func (f field) Value(base reflect.Value) reflect.Value {
	for base.Kind() == reflect.Pointer || base.Kind() == reflect.Interface {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return base.Field(f.index)
}

// The put helpers encode one top-level column. Levels follow from the shapes
// used here: required leaves (0,0); optional leaves def 1 when present;
// required LIST of required elements rep 0 then 1, def 1, and an empty list
// is a single null at def 0.

func putString(row parquetgo.Row, col int, s string) parquetgo.Row {
	return append(row, parquetgo.ByteArrayValue([]byte(s)).Level(0, 0, col))
}

func putBytes(row parquetgo.Row, col int, b []byte) parquetgo.Row {
	return append(row, parquetgo.ByteArrayValue(b).Level(0, 0, col))
}

func putOptionalBytes(row parquetgo.Row, col int, b []byte) parquetgo.Row {
	if len(b) == 0 {
		return append(row, parquetgo.NullValue().Level(0, 0, col))
	}
	return append(row, parquetgo.ByteArrayValue(b).Level(0, 1, col))
}

func putInt64(row parquetgo.Row, col int, v int64) parquetgo.Row {
	return append(row, parquetgo.Int64Value(v).Level(0, 0, col))
}

func putFloats(row parquetgo.Row, col int, v []float32) parquetgo.Row {
	if len(v) == 0 {
		return append(row, parquetgo.NullValue().Level(0, 0, col))
	}
	row = append(row, parquetgo.FloatValue(v[0]).Level(0, 1, col))
	for _, f := range v[1:] {
		row = append(row, parquetgo.FloatValue(f).Level(1, 1, col))
	}
	return row
}

func putInt8s(row parquetgo.Row, col int, v []int8) parquetgo.Row {
	if len(v) == 0 {
		return append(row, parquetgo.NullValue().Level(0, 0, col))
	}
	row = append(row, parquetgo.Int32Value(int32(v[0])).Level(0, 1, col))
	for _, x := range v[1:] {
		row = append(row, parquetgo.Int32Value(int32(x)).Level(1, 1, col))
	}
	return row
}

func putUint8s(row parquetgo.Row, col int, v []uint8) parquetgo.Row {
	if len(v) == 0 {
		return append(row, parquetgo.NullValue().Level(0, 0, col))
	}
	row = append(row, parquetgo.Int32Value(int32(v[0])).Level(0, 1, col))
	for _, x := range v[1:] {
		row = append(row, parquetgo.Int32Value(int32(x)).Level(1, 1, col))
	}
	return row
}

// describe renders a column's type for the manifest, e.g. "LIST<FLOAT>".
func describe(n parquetgo.Node) string {
	var s string
	switch {
	case n.Leaf():
		s = n.Type().String()
	case isList(n):
		s = "LIST<" + describe(n.Fields()[0].Fields()[0]) + ">"
	default:
		s = "GROUP"
	}
	return s
}

func isList(n parquetgo.Node) bool {
	lt := n.Type().LogicalType()
	if lt == nil || len(n.Fields()) != 1 || len(n.Fields()[0].Fields()) != 1 {
		return false
	}
	_, ok := lt.Value.(*format.ListType)
	return ok
}
