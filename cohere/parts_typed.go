package cohere

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"unsafe"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/snappy"
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
	kind   int        // fieldText, fieldEmbeddings or fieldOther; an embeddings field: fieldFloats or fieldInts
	embs   []jobField // the embeddings record's fields
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
			if null, err := isNull(rd, f.null); err != nil {
				return out, err
			} else if !null {
				out.Text = rd.ReadString()
			}
		case fieldEmbeddings:
			if null, err := isNull(rd, f.null); err != nil || null {
				if err != nil {
					return out, err
				}
				continue
			}
			for _, e := range f.embs {
				if null, err := isNull(rd, e.null); err != nil {
					return out, err
				} else if !null {
					if err := r.embedding(rd, e, &out.Embeddings); err != nil {
						return out, err
					}
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
// A field that is not a union (null < 0) reads nothing.
func isNull(rd *avro.Reader, null int64) (bool, error) {
	if null < 0 {
		return false, nil
	}
	switch i := rd.ReadLong(); {
	case rd.Error != nil:
		return false, rd.Error
	case i != 0 && i != 1:
		return false, fmt.Errorf("union branch %d of 2", i)
	default:
		return i == null, nil
	}
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

// maxArray bounds an array's length, so that a corrupt count cannot make
// the reader allocate without bound (no embedding is near it).
const maxArray = 1 << 20

// floats reads an array of floats. Avro writes them as 4-byte little-endian
// IEEE 754 values, which is how a little-endian machine holds a []float32:
// there each block is copied straight into the vector's memory.
func (r *jobReader) floats(rd *avro.Reader) ([]float32, error) {
	return readArray(rd, func(out []float32, n int) []float32 {
		out = out[:len(out)+n]
		dst := out[len(out)-n:]
		if nativeLittleEndian {
			rd.Read(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*n))
			return out
		}
		if cap(r.buf) < 4*n {
			r.buf = make([]byte, 4*n)
		}
		b := r.buf[:4*n]
		rd.Read(b)
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	})
}

func readInts(rd *avro.Reader) ([]int32, error) {
	return readArray(rd, func(out []int32, n int) []int32 {
		for range n {
			out = append(out, rd.ReadInt())
		}
		return out
	})
}

// readArray reads an array's blocks, each of n items appended by items.
func readArray[T any](rd *avro.Reader, items func(out []T, n int) []T) ([]T, error) {
	out := []T{}
	for {
		n, _ := rd.ReadBlockHeader()
		if rd.Error != nil || n == 0 {
			return out, rd.Error
		}
		if n < 0 || n > maxArray-int64(len(out)) {
			return nil, fmt.Errorf("array of more than %d items", maxArray)
		}
		out = items(slices.Grow(out, int(n)), int(n))
	}
}

func convert[T any](in []int32, conv func(int32) T) []T {
	out := make([]T, len(in))
	for i, x := range in {
		out[i] = conv(x)
	}
	return out
}

// maxBlock bounds a container block, compressed or not, so that a corrupt
// size cannot make the reader allocate without bound.
const maxBlock = 256 << 20

// readContainer reads an Avro object container file: its header, whose
// schema open turns into the reader of a block's rows, then each block,
// decompressed, handed to that reader with its row count. A block must hold
// exactly its rows: bytes left over are an error, not skipped.
func readContainer(r io.Reader, open func(avro.Schema) (func(rd *avro.Reader) error, error)) error {
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
	readRow, err := open(schema)
	if err != nil {
		return err
	}
	br := avro.NewReader(bytes.NewReader(nil), 0)
	var sync [16]byte
	for {
		if _ = rd.Peek(); errors.Is(rd.Error, io.EOF) {
			return nil
		}
		rows, size := rd.ReadLong(), rd.ReadLong()
		if rd.Error != nil {
			return rd.Error
		}
		if rows < 0 || size < 0 || size > maxBlock {
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
		br.Reset(block)
		br.Error = nil
		for range rows {
			if err := readRow(br); err != nil {
				return err
			}
			if br.Error != nil {
				return fmt.Errorf("decode row: %w", br.Error)
			}
		}
		if _ = br.Peek(); !errors.Is(br.Error, io.EOF) {
			return fmt.Errorf("block of %d rows has bytes past its last row", rows)
		}
	}
}

// codec returns the decompressor of a container's avro.codec, each bounded
// by maxBlock.
func codec(name string) (func([]byte) ([]byte, error), error) {
	switch name {
	case "", "null":
		return func(b []byte) ([]byte, error) { return b, nil }, nil
	case "deflate":
		return func(b []byte) ([]byte, error) {
			return readAtMost(flate.NewReader(bytes.NewReader(b)))
		}, nil
	case "snappy":
		return func(b []byte) ([]byte, error) {
			// The compressed bytes, then the CRC-32 of the uncompressed ones.
			if len(b) < 4 {
				return nil, errors.New("snappy block without its checksum")
			}
			body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
			if n, err := snappy.DecodedLen(body); err != nil || n > maxBlock {
				return nil, fmt.Errorf("snappy block of %d bytes: %v", n, err)
			}
			out, err := snappy.Decode(nil, body)
			if err == nil && crc32.ChecksumIEEE(out) != sum {
				err = errors.New("snappy block checksum mismatch")
			}
			return out, err
		}, nil
	case "zstandard":
		return func(b []byte) ([]byte, error) {
			d, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBlock))
			if err != nil {
				return nil, err
			}
			defer d.Close()
			return readAtMost(d)
		}, nil
	}
	return nil, fmt.Errorf("unknown codec %q", name)
}

// readAtMost reads r to its end, refusing more than maxBlock bytes.
func readAtMost(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBlock+1))
	if err == nil && len(b) > maxBlock {
		err = fmt.Errorf("block of more than %d bytes", maxBlock)
	}
	return b, err
}

// readEmbedJobRows hands every row of the container r to fn: read by hand
// when the schema has the API's shape, generically otherwise.
func readEmbedJobRows(r io.Reader, fn func(EmbedJobRow) error) error {
	return readContainer(r, func(schema avro.Schema) (func(*avro.Reader) error, error) {
		if job, ok := newJobReader(schema); ok {
			return func(rd *avro.Reader) error {
				row, err := job.row(rd)
				if err != nil {
					return fmt.Errorf("decode row: %w", err)
				}
				if err := fn(row); err != nil {
					return errStop{err}
				}
				return nil
			}, nil
		}
		return func(rd *avro.Reader) error {
			var m map[string]any
			if rd.ReadVal(schema, &m); rd.Error != nil {
				return fmt.Errorf("decode row: %w", rd.Error)
			}
			m, _ = unwrapUnions(schema, m).(map[string]any)
			row, err := embedJobRow(m)
			if err != nil {
				return errStop{fmt.Errorf("cohere: embed job output: %w", err)}
			}
			if err := fn(row); err != nil {
				return errStop{err}
			}
			return nil
		}, nil
	})
}
