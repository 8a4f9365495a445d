package cohere

import (
	"fmt"
	"reflect"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

// Decoding an embed job's output as map[string]any boxes every vector
// element in an interface; a 1024-d float row is then ~1,000 allocations.
// When the part's schema has the shape the API writes (see
// cohere/coheretest/avro.go), rows are decoded into a struct built for that
// schema instead: the vectors land straight in []float32, and only the kept
// fields go through the generic decoder.

// jobEmbeddings is the embeddings record: each type a nullable array.
type jobEmbeddings struct {
	Float   *[]float32 `avro:"float"`
	Int8    *[]int32   `avro:"int8"`
	Uint8   *[]int32   `avro:"uint8"`
	Binary  *[]int32   `avro:"binary"`
	Ubinary *[]int32   `avro:"ubinary"`
}

// typedJobReader decodes rows into typ, a struct with one field per column.
type typedJobReader struct {
	typ        reflect.Type
	text, embs int          // field indexes; -1 when absent
	textPtr    bool         // text is a nullable string
	embsPtr    bool         // embeddings is a nullable record
	others     []avro.Field // kept fields, by field index in others
	otherIdx   []int        // their indexes in typ
}

// newTypedJobReader builds a reader for schema, or reports that the schema
// is not the shape it knows (the caller then decodes generically).
func newTypedJobReader(schema avro.Schema) (*typedJobReader, bool) {
	rec, ok := schema.(*avro.RecordSchema)
	if !ok {
		return nil, false
	}
	r := &typedJobReader{text: -1, embs: -1}
	var fields []reflect.StructField
	for i, f := range rec.Fields() {
		sf := reflect.StructField{Name: fmt.Sprintf("F%d", i), Tag: reflect.StructTag(fmt.Sprintf("avro:%q", f.Name()))}
		switch f.Name() {
		case "text":
			t, nullable := nonNull(f.Type())
			if t.Type() != avro.String {
				return nil, false
			}
			sf.Type, r.textPtr, r.text = reflect.TypeFor[string](), nullable, i
			if nullable {
				sf.Type = reflect.TypeFor[*string]()
			}
		case "embeddings":
			t, nullable := nonNull(f.Type())
			if !knownEmbeddings(t) {
				return nil, false
			}
			sf.Type, r.embsPtr, r.embs = reflect.TypeFor[jobEmbeddings](), nullable, i
			if nullable {
				sf.Type = reflect.TypeFor[*jobEmbeddings]()
			}
		default:
			sf.Type = reflect.TypeFor[any]()
			r.others = append(r.others, *f)
			r.otherIdx = append(r.otherIdx, i)
		}
		fields = append(fields, sf)
	}
	r.typ = reflect.StructOf(fields)
	return r, true
}

// nonNull returns the one non-null branch of a ["null", T] union, or s.
func nonNull(s avro.Schema) (avro.Schema, bool) {
	u, ok := s.(*avro.UnionSchema)
	if !ok {
		return s, false
	}
	if !u.Nullable() || len(u.Types()) != 2 {
		return s, false
	}
	for _, t := range u.Types() {
		if t.Type() != avro.Null {
			return t, true
		}
	}
	return s, false
}

// knownEmbeddings: a record whose fields are nullable arrays of float
// ("float") or int (the byte types), nothing else.
func knownEmbeddings(s avro.Schema) bool {
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return false
	}
	for _, f := range rec.Fields() {
		t, nullable := nonNull(f.Type())
		arr, ok := t.(*avro.ArraySchema)
		if !nullable || !ok {
			return false
		}
		want := avro.Int
		switch f.Name() {
		case "float":
			want = avro.Float
		case "int8", "uint8", "binary", "ubinary":
		default:
			return false
		}
		if arr.Items().Type() != want {
			return false
		}
	}
	return true
}

func (r *typedJobReader) each(dec *ocf.Decoder, fn func(EmbedJobRow) error) error {
	for dec.HasNext() {
		v := reflect.New(r.typ)
		if err := dec.Decode(v.Interface()); err != nil {
			return fmt.Errorf("decode row: %w", err)
		}
		row := v.Elem()
		out := EmbedJobRow{Fields: make(map[string]any, len(r.others))}
		if r.text >= 0 {
			if f := row.Field(r.text); r.textPtr {
				if p := f.Interface().(*string); p != nil {
					out.Text = *p
				}
			} else {
				out.Text = f.String()
			}
		}
		if r.embs >= 0 {
			var e *jobEmbeddings
			if f := row.Field(r.embs); r.embsPtr {
				e = f.Interface().(*jobEmbeddings)
			} else {
				e = f.Addr().Interface().(*jobEmbeddings)
			}
			if e != nil {
				out.Embeddings = e.embedding()
			}
		}
		for k, f := range r.others {
			out.Fields[f.Name()] = unwrapUnions(f.Type(), row.Field(r.otherIdx[k]).Interface())
		}
		if err := fn(out); err != nil {
			return errStop{err}
		}
	}
	return nil
}

func (e *jobEmbeddings) embedding() Embedding {
	var out Embedding
	if e.Float != nil {
		out.Float = *e.Float
	}
	out.Int8 = ints(e.Int8, func(x int32) int8 { return int8(x) })
	out.Uint8 = ints(e.Uint8, func(x int32) uint8 { return uint8(x) })
	out.Binary = ints(e.Binary, func(x int32) byte { return byte(int8(x)) })
	out.Ubinary = ints(e.Ubinary, func(x int32) byte { return byte(x) })
	return out
}

func ints[T any](p *[]int32, conv func(int32) T) []T {
	if p == nil {
		return nil
	}
	out := make([]T, len(*p))
	for i, x := range *p {
		out[i] = conv(x)
	}
	return out
}
