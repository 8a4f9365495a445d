package cohere

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"
)

// Decoding an embed job's output generically boxes every vector element in
// an interface, and even a struct decoder reads a float array element by
// element through reflection. When the part's schema has the shape the API
// writes (see cohere/coheretest/avro.go), its rows are read by hand instead:
// each float array's bytes are copied into a []float32 in one pass, and only
// the kept fields go through the generic decoder.

// jobReader reads the rows of a schema of the embed job output's shape.
type jobReader struct {
	fields []jobField
	buf    []byte // scratch for float arrays
}

// jobField is one column: how to read it, and for a union, which branch is
// null (-1 when it is not a union).
type jobField struct {
	name   string
	schema avro.Schema
	null   int64
	kind   int // fieldText, fieldEmbeddings or fieldOther
	embs   []jobField
}

const (
	fieldOther = iota
	fieldText
	fieldEmbeddings
	fieldFloats
	fieldInts
)

// newJobReader builds a reader for schema, or reports that the schema is not
// the shape it knows (the caller then decodes generically).
func newJobReader(schema avro.Schema) (*jobReader, bool) {
	rec, ok := schema.(*avro.RecordSchema)
	if !ok {
		return nil, false
	}
	r := &jobReader{}
	for _, f := range rec.Fields() {
		jf := jobField{name: f.Name(), schema: f.Type(), null: -1}
		switch f.Name() {
		case "text":
			t, null := nonNull(f.Type())
			if t.Type() != avro.String {
				return nil, false
			}
			jf.kind, jf.null = fieldText, null
		case "embeddings":
			t, null := nonNull(f.Type())
			embs, ok := knownEmbeddings(t)
			if !ok {
				return nil, false
			}
			jf.kind, jf.null, jf.embs = fieldEmbeddings, null, embs
		}
		r.fields = append(r.fields, jf)
	}
	return r, true
}

// nonNull returns the one non-null branch of a ["null", T] union and the
// null branch's index, or s and -1.
func nonNull(s avro.Schema) (avro.Schema, int64) {
	u, ok := s.(*avro.UnionSchema)
	if !ok || !u.Nullable() || len(u.Types()) != 2 {
		return s, -1
	}
	if u.Types()[0].Type() == avro.Null {
		return u.Types()[1], 0
	}
	return u.Types()[0], 1
}

// knownEmbeddings: a record whose fields are nullable arrays of float
// ("float") or int (the byte types), nothing else.
func knownEmbeddings(s avro.Schema) ([]jobField, bool) {
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, false
	}
	var out []jobField
	for _, f := range rec.Fields() {
		t, null := nonNull(f.Type())
		arr, ok := t.(*avro.ArraySchema)
		if null < 0 || !ok {
			return nil, false
		}
		jf := jobField{name: f.Name(), null: null, kind: fieldInts}
		want := avro.Int
		switch f.Name() {
		case "float":
			want, jf.kind = avro.Float, fieldFloats
		case "int8", "uint8", "binary", "ubinary":
		default:
			return nil, false
		}
		if arr.Items().Type() != want {
			return nil, false
		}
		out = append(out, jf)
	}
	return out, true
}

// row reads one row from rd.
func (r *jobReader) row(rd *avro.Reader) (EmbedJobRow, error) {
	out := EmbedJobRow{Fields: map[string]any{}}
	for _, f := range r.fields {
		switch f.kind {
		case fieldText:
			if !isNull(rd, f.null) {
				out.Text = rd.ReadString()
			}
		case fieldEmbeddings:
			if isNull(rd, f.null) {
				continue
			}
			for _, e := range f.embs {
				if isNull(rd, e.null) {
					continue
				}
				if err := r.embedding(rd, e, &out.Embeddings); err != nil {
					return out, err
				}
			}
		default:
			out.Fields[f.name] = unwrapUnions(f.schema, rd.ReadNext(f.schema))
		}
		if rd.Error != nil {
			return out, rd.Error
		}
	}
	return out, nil
}

// isNull reads a nullable union's branch index: true for the null branch.
func isNull(rd *avro.Reader, null int64) bool {
	return null >= 0 && rd.ReadLong() == null
}

func (r *jobReader) embedding(rd *avro.Reader, f jobField, e *Embedding) error {
	if f.kind == fieldFloats {
		v, err := r.floats(rd)
		e.Float = v
		return err
	}
	ints, err := readInts(rd)
	switch f.name {
	case "int8":
		e.Int8 = convert(ints, func(x int32) int8 { return int8(x) })
	case "uint8":
		e.Uint8 = convert(ints, func(x int32) uint8 { return uint8(x) })
	case "binary":
		e.Binary = convert(ints, func(x int32) byte { return byte(int8(x)) })
	case "ubinary":
		e.Ubinary = convert(ints, func(x int32) byte { return byte(x) })
	}
	return err
}

// maxArray bounds an array's announced length, so a corrupt count cannot
// make the reader allocate without bound (no embedding is near it).
const maxArray = 1 << 20

// floats reads an array of floats: each block's 4-byte little-endian values
// copied out in one read.
func (r *jobReader) floats(rd *avro.Reader) ([]float32, error) {
	out := []float32{}
	for {
		n, _ := rd.ReadBlockHeader()
		if rd.Error != nil || n == 0 {
			return out, rd.Error
		}
		if n < 0 || int64(len(out))+n > maxArray {
			return nil, fmt.Errorf("float array of %d items", n)
		}
		if need := 4 * int(n); cap(r.buf) < need {
			r.buf = make([]byte, need)
		}
		b := r.buf[:4*n]
		rd.Read(b)
		out = slices.Grow(out, int(n))
		for i := range int(n) {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
}

func readInts(rd *avro.Reader) ([]int32, error) {
	out := []int32{}
	for {
		n, _ := rd.ReadBlockHeader()
		if rd.Error != nil || n == 0 {
			return out, rd.Error
		}
		if n < 0 || int64(len(out))+n > maxArray {
			return nil, fmt.Errorf("int array of %d items", n)
		}
		out = slices.Grow(out, int(n))
		for range n {
			out = append(out, rd.ReadInt())
		}
	}
}

func convert[T any](in []int32, conv func(int32) T) []T {
	out := make([]T, len(in))
	for i, x := range in {
		out[i] = conv(x)
	}
	return out
}

// readContainer reads an Avro object container file: its header, then each
// block, decompressed, handed to fn with its row count.
func readContainer(r io.Reader, fn func(schema avro.Schema, rows int64, block []byte) error) error {
	rd := avro.NewReader(r, 1<<16)
	var h ocf.Header
	rd.ReadVal(ocf.HeaderSchema, &h)
	if rd.Error != nil {
		return fmt.Errorf("read header: %w", rd.Error)
	}
	if h.Magic != [4]byte{'O', 'b', 'j', 1} {
		return errors.New("not an Avro object container file")
	}
	schema, err := avro.ParseBytes(h.Meta["avro.schema"])
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	decompress, err := codec(string(h.Meta["avro.codec"]))
	if err != nil {
		return err
	}
	var sync [16]byte
	for {
		if _ = rd.Peek(); errors.Is(rd.Error, io.EOF) {
			return nil
		}
		rows, size := rd.ReadLong(), rd.ReadLong()
		if rd.Error != nil {
			return rd.Error
		}
		if rows < 0 || size < 0 || size > 1<<30 {
			return fmt.Errorf("block of %d rows in %d bytes", rows, size)
		}
		raw := make([]byte, size)
		rd.Read(raw)
		rd.Read(sync[:])
		if rd.Error != nil {
			return rd.Error
		}
		if sync != h.Sync {
			return errors.New("block sync marker does not match the header's")
		}
		block, err := decompress(raw)
		if err != nil {
			return fmt.Errorf("decompress block: %w", err)
		}
		if err := fn(schema, rows, block); err != nil {
			return err
		}
	}
}

// codec returns the decompressor of a container's avro.codec.
func codec(name string) (func([]byte) ([]byte, error), error) {
	switch name {
	case "", "null":
		return func(b []byte) ([]byte, error) { return b, nil }, nil
	case "deflate":
		return (&ocf.DeflateCodec{}).Decode, nil
	case "snappy":
		return (&ocf.SnappyCodec{}).Decode, nil
	case "zstandard":
		dec, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		return func(b []byte) ([]byte, error) { return dec.DecodeAll(b, nil) }, nil
	}
	return nil, fmt.Errorf("unknown codec %q", name)
}

// readEmbedJobRows hands every row of the container r to fn: read by hand
// when the schema has the API's shape, generically otherwise.
func readEmbedJobRows(r io.Reader, fn func(EmbedJobRow) error) error {
	rd := avro.NewReader(bytes.NewReader(nil), 1<<16)
	var job *jobReader
	typed, decided := false, false
	return readContainer(r, func(schema avro.Schema, rows int64, block []byte) error {
		if !decided {
			job, typed = newJobReader(schema)
			decided = true
		}
		rd.Reset(block)
		for range rows {
			var row EmbedJobRow
			if typed {
				var err error
				if row, err = job.row(rd); err != nil {
					return fmt.Errorf("decode row: %w", err)
				}
			} else {
				var m map[string]any
				if rd.ReadVal(schema, &m); rd.Error != nil {
					return fmt.Errorf("decode row: %w", rd.Error)
				}
				m, _ = unwrapUnions(schema, m).(map[string]any)
				var err error
				if row, err = embedJobRow(m); err != nil {
					return errStop{fmt.Errorf("cohere: embed job output: %w", err)}
				}
			}
			if err := fn(row); err != nil {
				return errStop{err}
			}
		}
		return nil
	})
}
