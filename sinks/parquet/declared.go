package parquet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"time"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/cobatch/cobatch/sinks"
)

// declared is how the rows of a declared kind (sinks.RowKind) are stored:
// through a Go struct type built from its columns, from which parquet-go
// derives the schema and by which it encodes and decodes, so that a new
// kind needs no code here.
type declared struct {
	kind   *sinks.RowKind
	typ    reflect.Type // struct of id, one field per column, fingerprint, content_sha256
	schema *parquetgo.Schema
}

// declaredFields is the struct field of each column type. Every declared
// column is optional: a nil value is null. A JSON value is text in a plain
// string column, as classify's labels are; a time is a timestamp in
// microseconds, as classified_at is.
var declaredFields = map[sinks.ColumnType]struct {
	typ reflect.Type
	tag string
}{
	sinks.TypeText:   {reflect.TypeFor[*string](), "optional"},
	sinks.TypeInt:    {reflect.TypeFor[*int64](), "optional"},
	sinks.TypeFloat:  {reflect.TypeFor[*float64](), "optional"},
	sinks.TypeBool:   {reflect.TypeFor[*bool](), "optional"},
	sinks.TypeJSON:   {reflect.TypeFor[*string](), "optional"},
	sinks.TypeVector: {reflect.TypeFor[[]float32](), "optional,list"},
	sinks.TypeTime:   {reflect.TypeFor[*int64](), "optional,timestamp(microsecond)"},
}

func newDeclared(k *sinks.RowKind) (*declared, error) {
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	str := reflect.TypeFor[string]()
	field := func(name string, typ reflect.Type, col, opts string) reflect.StructField {
		if opts != "" {
			col += "," + opts
		}
		return reflect.StructField{Name: name, Type: typ, Tag: reflect.StructTag(fmt.Sprintf("parquet:%q", col))}
	}
	fields := []reflect.StructField{field("ID", str, sinks.ColumnID, "")}
	for i, c := range k.Columns {
		f := declaredFields[c.Type]
		fields = append(fields, field(fmt.Sprintf("C%d", i), f.typ, c.Name, f.tag))
	}
	// As the other kinds: the fingerprint repeats one value per job.
	fields = append(fields, field("Fingerprint", str, sinks.ColumnFingerprint, "dict"),
		field("ContentSHA256", str, sinks.ColumnContentSHA256, ""))
	typ := reflect.StructOf(fields)
	return &declared{kind: k, typ: typ, schema: parquetgo.SchemaOf(reflect.Zero(typ).Interface())}, nil
}

// value returns a pointer to the struct of row r.
func (d *declared) value(r *sinks.Row) (any, error) {
	if err := d.kind.Check(r); err != nil {
		return nil, err
	}
	p := reflect.New(d.typ)
	v := p.Elem()
	v.Field(0).SetString(r.ID)
	for i, c := range d.kind.Columns {
		x := r.Values[i]
		if x == nil {
			continue
		}
		f := v.Field(i + 1)
		switch c.Type {
		case sinks.TypeVector:
			f.Set(reflect.ValueOf(x))
			continue
		case sinks.TypeJSON:
			x = string(x.(json.RawMessage))
		case sinks.TypeTime:
			x = x.(time.Time).UnixMicro()
		}
		ptr := reflect.New(f.Type().Elem())
		ptr.Elem().Set(reflect.ValueOf(x))
		f.Set(ptr)
	}
	n := len(d.kind.Columns)
	v.Field(n + 1).SetString(r.Fingerprint)
	v.Field(n + 2).SetString(hex.EncodeToString(r.ContentSHA256[:]))
	return p.Interface(), nil
}

// row turns a decoded struct back into a row.
func (d *declared) row(v reflect.Value) (sinks.Row, error) {
	n := len(d.kind.Columns)
	r := sinks.Row{ID: v.Field(0).String(), Fingerprint: v.Field(n + 1).String(), Values: make([]any, n)}
	for i, c := range d.kind.Columns {
		f := v.Field(i + 1)
		if f.IsNil() {
			continue
		}
		switch c.Type {
		case sinks.TypeVector:
			r.Values[i] = f.Interface()
		case sinks.TypeJSON:
			r.Values[i] = json.RawMessage(f.Elem().String())
		case sinks.TypeTime:
			r.Values[i] = time.UnixMicro(f.Elem().Int()).UTC()
		default:
			r.Values[i] = f.Elem().Interface()
		}
	}
	return r, decodeSHA256(&r.ContentSHA256, []byte(v.Field(n+2).String()))
}

func (d *declared) write(ctx context.Context, out io.Writer, rows []sinks.Row, opts []parquetgo.WriterOption) error {
	pw := parquetgo.NewWriter(out, append([]parquetgo.WriterOption{d.schema}, opts...)...)
	for i := range rows {
		if i%rowBatch == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := d.value(&rows[i])
		if err != nil {
			return err
		}
		if err := pw.Write(v); err != nil {
			return fmt.Errorf("write rows: %w", err)
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close part: %w", err)
	}
	return nil
}

// read calls fn with every row of a part of the kind.
func (d *declared) read(part string, fn func(sinks.Row) error) error {
	pf, f, err := openPart(part)
	if err != nil {
		return err
	}
	defer f.Close()
	r := parquetgo.NewReader(pf, d.schema)
	defer r.Close()
	for {
		p := reflect.New(d.typ)
		if err := r.Read(p.Interface()); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		row, err := d.row(p.Elem())
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// writeDeclared writes a chunk of the job's declared kind: this run's rows
// plus the kept ones carried over from the previous part, as for
// classifications.
func (w *Writer) writeDeclared(ctx context.Context, dir string, c *sinks.Chunk) error {
	d := w.declared
	if d == nil {
		return fmt.Errorf("parquet: chunk %d: rows of a declared kind, but the writer was given none (Config.RowKind)", c.Number)
	}
	return writeCarried(dir, c, c.Declared, func(r *sinks.Row) string { return r.ID }, d.read,
		func(f io.Writer, rows []sinks.Row) error { return d.write(ctx, f, rows, w.opts) })
}

// ReadRows calls fn with every row of every part of a job of the declared
// kind under dir, parts in chunk order. A value reads back as the Go type
// of its column (sinks.ColumnType), a time in UTC, a null as nil.
func ReadRows(dir, job string, kind *sinks.RowKind, fn func(sinks.Row) error) error {
	d, err := newDeclared(kind)
	if err != nil {
		return err
	}
	return readJob(dir, job, func(part string) error { return d.read(part, fn) })
}
