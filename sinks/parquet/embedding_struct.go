package parquet

import (
	"encoding/hex"

	"github.com/cobatch/cobatch/sinks"
)

// Struct types for the single-vector layouts, the common case, so that they
// take parquet-go's fast path (see withStruct). withStruct checks at start-up
// that each matches embeddingColumns exactly. uint8 has none: a []uint8 field
// is a BYTE_ARRAY to parquet-go, not a LIST.

type floatRow struct {
	ID            string    `parquet:"id"`
	Embedding     []float32 `parquet:"embedding,list"`
	Model         string    `parquet:"model,dict"`
	InputType     string    `parquet:"input_type,dict"`
	Fingerprint   string    `parquet:"fingerprint,dict"`
	ContentSHA256 string    `parquet:"content_sha256"`
	Metadata      string    `parquet:"metadata,optional"`
	EmbeddedAt    int64     `parquet:"embedded_at,timestamp(microsecond)"`
}

type int8Row struct {
	ID            string `parquet:"id"`
	EmbeddingInt8 []int8 `parquet:"embedding_int8,list"`
	Model         string `parquet:"model,dict"`
	InputType     string `parquet:"input_type,dict"`
	Fingerprint   string `parquet:"fingerprint,dict"`
	ContentSHA256 string `parquet:"content_sha256"`
	Metadata      string `parquet:"metadata,optional"`
	EmbeddedAt    int64  `parquet:"embedded_at,timestamp(microsecond)"`
}

type binaryRow struct {
	ID              string `parquet:"id"`
	EmbeddingBinary []byte `parquet:"embedding_binary"`
	Model           string `parquet:"model,dict"`
	InputType       string `parquet:"input_type,dict"`
	Fingerprint     string `parquet:"fingerprint,dict"`
	ContentSHA256   string `parquet:"content_sha256"`
	Metadata        string `parquet:"metadata,optional"`
	EmbeddedAt      int64  `parquet:"embedded_at,timestamp(microsecond)"`
}

// metadataString maps "no metadata" to "", which an optional string column
// stores as NULL, as the row path does.
func metadataString(m []byte) string {
	if string(m) == "null" {
		return ""
	}
	return string(m)
}

func init() {
	withStruct(embeddingLayouts[vecFloat], func(d *floatRow, e *sinks.Embedding) {
		*d = floatRow{ID: e.ID, Embedding: e.Float, Model: e.Model, InputType: e.InputType, Fingerprint: e.Fingerprint,
			ContentSHA256: hex.EncodeToString(e.ContentSHA256[:]), Metadata: metadataString(e.Metadata), EmbeddedAt: e.EmbeddedAt.UnixMicro()}
	})
	withStruct(embeddingLayouts[vecInt8], func(d *int8Row, e *sinks.Embedding) {
		*d = int8Row{ID: e.ID, EmbeddingInt8: e.Int8, Model: e.Model, InputType: e.InputType, Fingerprint: e.Fingerprint,
			ContentSHA256: hex.EncodeToString(e.ContentSHA256[:]), Metadata: metadataString(e.Metadata), EmbeddedAt: e.EmbeddedAt.UnixMicro()}
	})
	withStruct(embeddingLayouts[vecBinary], func(d *binaryRow, e *sinks.Embedding) {
		*d = binaryRow{ID: e.ID, EmbeddingBinary: e.Binary, Model: e.Model, InputType: e.InputType, Fingerprint: e.Fingerprint,
			ContentSHA256: hex.EncodeToString(e.ContentSHA256[:]), Metadata: metadataString(e.Metadata), EmbeddedAt: e.EmbeddedAt.UnixMicro()}
	})
}
