package parquet

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/cobatch/cobatch/sinks"
)

// vectorSet says which vector columns a chunk's rows carry.
type vectorSet uint8

const (
	vecFloat vectorSet = 1 << iota
	vecInt8
	vecUint8
	vecBinary
	vecAll = vecFloat | vecInt8 | vecUint8 | vecBinary
)

func vectorsOf(e *sinks.Embedding) vectorSet {
	var s vectorSet
	if e.Float != nil {
		s |= vecFloat
	}
	if e.Int8 != nil {
		s |= vecInt8
	}
	if e.Uint8 != nil {
		s |= vecUint8
	}
	if e.Binary != nil {
		s |= vecBinary
	}
	return s
}

func (s vectorSet) String() string {
	var names []string
	for _, v := range []struct {
		bit  vectorSet
		name string
	}{{vecFloat, "float"}, {vecInt8, "int8"}, {vecUint8, "uint8"}, {vecBinary, "binary"}} {
		if s&v.bit != 0 {
			names = append(names, v.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Column names of embedding part files.
const (
	colID              = "id"
	colEmbedding       = "embedding"
	colEmbeddingInt8   = "embedding_int8"
	colEmbeddingUint8  = "embedding_uint8"
	colEmbeddingBinary = "embedding_binary"
	colModel           = "model"
	colInputType       = "input_type"
	colFingerprint     = "fingerprint"
	colContentSHA256   = "content_sha256"
	colMetadata        = "metadata"
	colEmbeddedAt      = "embedded_at"
)

// Columns repeating one value per job are dictionary encoded: a part then
// stores each such string once instead of once per row.
func dictString() parquetgo.Node {
	return parquetgo.Encoded(parquetgo.String(), &parquetgo.RLEDictionary)
}

func embeddingColumns(set vectorSet) []column[sinks.Embedding] {
	type emb = sinks.Embedding
	cols := []column[emb]{
		{colID, parquetgo.String(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putString(r, c, e.ID) }},
	}
	if set&vecFloat != 0 {
		cols = append(cols, column[emb]{colEmbedding, parquetgo.List(parquetgo.Leaf(parquetgo.FloatType)),
			func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putFloats(r, c, e.Float) }})
	}
	if set&vecInt8 != 0 {
		cols = append(cols, column[emb]{colEmbeddingInt8, parquetgo.List(parquetgo.Int(8)),
			func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putInt8s(r, c, e.Int8) }})
	}
	if set&vecUint8 != 0 {
		cols = append(cols, column[emb]{colEmbeddingUint8, parquetgo.List(parquetgo.Uint(8)),
			func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putUint8s(r, c, e.Uint8) }})
	}
	if set&vecBinary != 0 {
		cols = append(cols, column[emb]{colEmbeddingBinary, parquetgo.Leaf(parquetgo.ByteArrayType),
			func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putBytes(r, c, e.Binary) }})
	}
	return append(cols,
		column[emb]{colModel, dictString(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putString(r, c, e.Model) }},
		column[emb]{colInputType, dictString(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putString(r, c, e.InputType) }},
		column[emb]{colFingerprint, dictString(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row { return putString(r, c, e.Fingerprint) }},
		column[emb]{colContentSHA256, parquetgo.String(), func(r parquetgo.Row, c int, e *emb) parquetgo.Row {
			var h [64]byte
			hex.Encode(h[:], e.ContentSHA256[:])
			return putBytes(r, c, h[:])
		}},
		column[emb]{colMetadata, parquetgo.Optional(parquetgo.String()), func(r parquetgo.Row, c int, e *emb) parquetgo.Row {
			if string(e.Metadata) == "null" {
				return putOptionalBytes(r, c, nil)
			}
			return putOptionalBytes(r, c, e.Metadata)
		}},
		column[emb]{colEmbeddedAt, parquetgo.Timestamp(parquetgo.Microsecond), func(r parquetgo.Row, c int, e *emb) parquetgo.Row {
			return putInt64(r, c, e.EmbeddedAt.UnixMicro())
		}},
	)
}

// Built once: there are only 16 combinations of vector columns.
var embeddingLayouts = func() (l [vecAll + 1]*layout[sinks.Embedding]) {
	for s := range l {
		l[s] = newLayout("embedding", embeddingColumns(vectorSet(s)))
	}
	return l
}()

func embeddingLayout(set vectorSet) *layout[sinks.Embedding] { return embeddingLayouts[set&vecAll] }

// embeddingDecoder turns rows of an embedding part file back into values,
// whatever subset of vector columns the file holds.
type embeddingDecoder struct {
	set []func(e *sinks.Embedding, vals []parquetgo.Value) error // by column index; nil skips
}

func newEmbeddingDecoder(schema *parquetgo.Schema) (*embeddingDecoder, error) {
	fields := schema.Fields()
	if len(schema.Columns()) != len(fields) {
		return nil, fmt.Errorf("parquet: not an embedding part: %d leaf columns for %d fields", len(schema.Columns()), len(fields))
	}
	d := &embeddingDecoder{set: make([]func(*sinks.Embedding, []parquetgo.Value) error, len(fields))}
	seen := map[string]bool{}
	for i, f := range fields {
		seen[f.Name()] = true
		switch f.Name() {
		case colID:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error { e.ID = str(v); return nil }
		case colEmbedding:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				e.Float = make([]float32, 0, len(v))
				for _, x := range v {
					if !x.IsNull() {
						e.Float = append(e.Float, x.Float())
					}
				}
				return nil
			}
		case colEmbeddingInt8:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				e.Int8 = make([]int8, 0, len(v))
				for _, x := range v {
					if !x.IsNull() {
						e.Int8 = append(e.Int8, int8(x.Int32()))
					}
				}
				return nil
			}
		case colEmbeddingUint8:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				e.Uint8 = make([]uint8, 0, len(v))
				for _, x := range v {
					if !x.IsNull() {
						e.Uint8 = append(e.Uint8, uint8(x.Int32()))
					}
				}
				return nil
			}
		case colEmbeddingBinary:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				e.Binary = append([]byte{}, one(v).ByteArray()...)
				return nil
			}
		case colModel:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error { e.Model = str(v); return nil }
		case colInputType:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error { e.InputType = str(v); return nil }
		case colFingerprint:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error { e.Fingerprint = str(v); return nil }
		case colContentSHA256:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				return decodeSHA256(&e.ContentSHA256, one(v).ByteArray())
			}
		case colMetadata:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				if x := one(v); !x.IsNull() && len(x.ByteArray()) > 0 {
					e.Metadata = append([]byte{}, x.ByteArray()...)
				}
				return nil
			}
		case colEmbeddedAt:
			d.set[i] = func(e *sinks.Embedding, v []parquetgo.Value) error {
				e.EmbeddedAt = time.UnixMicro(one(v).Int64()).UTC()
				return nil
			}
		default:
			d.set[i] = corpusDecoder(f.Name())
		}
	}
	if !seen[colID] {
		return nil, fmt.Errorf("parquet: not an embedding part: no %q column", colID)
	}
	return d, nil
}

func (d *embeddingDecoder) decode(row parquetgo.Row, e *sinks.Embedding) (err error) {
	*e = sinks.Embedding{}
	row.Range(func(col int, vals []parquetgo.Value) bool {
		if col < len(d.set) && d.set[col] != nil {
			err = d.set[col](e, vals)
		}
		return err == nil
	})
	return err
}

func one(v []parquetgo.Value) parquetgo.Value {
	if len(v) == 0 {
		return parquetgo.NullValue()
	}
	return v[0]
}

func str(v []parquetgo.Value) string { return string(one(v).ByteArray()) }

func decodeSHA256(dst *[32]byte, h []byte) error {
	if len(h) == 0 {
		return nil
	}
	if len(h) != 64 {
		return fmt.Errorf("parquet: content_sha256 %q: want 64 hex digits", h)
	}
	if _, err := hex.Decode(dst[:], h); err != nil {
		return fmt.Errorf("parquet: content_sha256: %w", err)
	}
	return nil
}
