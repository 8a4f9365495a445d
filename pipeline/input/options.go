package input

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Format names an input file format.
type Format string

// The formats Split and Read understand.
const (
	FormatAuto    Format = "auto"
	FormatJSONL   Format = "jsonl"
	FormatCSV     Format = "csv"
	FormatParquet Format = "parquet"
	FormatText    Format = "text"
)

// Ways to make an id for records that carry none (Options.IDFrom).
const (
	IDFromLine = "line"
	IDFromHash = "hash"
)

// Defaults applied by Options.WithDefaults.
const (
	DefaultIDField        = "id"
	DefaultTextField      = "text"
	DefaultMaxRecordBytes = 1 << 20 // 1 MiB
	DefaultMaxChunkBytes  = 8 << 20 // 8 MiB
)

// ErrCorrupt marks an input that cannot be read at all past some point: a
// truncated or corrupt gzip/zstd stream, or a Parquet file whose footer or
// pages are broken. Retrying does not cure it; callers dead-letter the range
// or abort the job.
var ErrCorrupt = errors.New("corrupt input")

// DamageError is the error Split returns for a compressed input whose
// stream breaks: the ranges it emitted hold every complete record before the
// break, and Line and Offset say where the first unreadable byte is.
type DamageError struct {
	File   string
	Line   int64 // the line after the last complete one
	Offset int64 // in the decompressed stream, just after the last complete line
	Err    error // the decoder's error, prefixed with the compression
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("input: %s: %v at line %d (byte %d of the decompressed stream): %v", e.File, ErrCorrupt, e.Line, e.Offset, e.Err)
}

func (e *DamageError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// DamageLine is the line where err, from Split, says an input breaks, or 0.
func DamageLine(err error) int64 {
	var d *DamageError
	if errors.As(err, &d) {
		return d.Line
	}
	return 0
}

// Options says how to turn input files into records. The zero value is usable
// after WithDefaults.
type Options struct {
	// Format of every input: "jsonl", "csv", "parquet", "text", or ""/"auto"
	// (default) to choose by extension: .jsonl/.ndjson/.json, .csv, .parquet,
	// .txt/.text, looking through a trailing .gz or .zst. Stdin in auto mode
	// is read as JSONL.
	Format Format `json:"format,omitempty"`
	// IDField is the field or column holding the record id. Default "id".
	// Numeric JSON ids become their decimal text.
	IDField string `json:"id_field,omitempty"`
	// TextFields are the fields whose string values make the text. Default
	// ["text"]. Several are joined with a blank line ("\n\n") in this order.
	TextFields []string `json:"text_fields,omitempty"`
	// MetaFields are carried with each record as a JSON object {field: value}:
	// JSON values are kept as JSON, CSV values become strings, Parquet values
	// their natural JSON type. A missing field is left out of the object.
	// Ignored for the text format.
	MetaFields []string `json:"meta_fields,omitempty"`
	// IDFrom says where ids come from when records carry none:
	//   ""     the IDField is required; a record without it is a bad record
	//          (for the text format "" means "line");
	//   "line" "<file base name>:<line>" (Parquet: "<base>:<row>");
	//   "hash" hex of the first 16 bytes of the text's SHA-256.
	IDFrom string `json:"id_from,omitempty"`
	// MaxRecordBytes caps a line, a trailing "\r" included. Default 1 MiB.
	// A longer line is a bad record "line exceeds N bytes"; it is skipped
	// without being buffered and reading continues at the next line. A CSV
	// quoted field must also close within this many bytes, or its first line
	// is a bad record and reading resumes at the line after it.
	MaxRecordBytes int `json:"max_record_bytes,omitempty"`
	// MaxChunkBytes caps the bytes one range covers (line formats). Default
	// 8 MiB. A single record longer than this gets a range of its own.
	MaxChunkBytes int `json:"max_chunk_bytes,omitempty"`
	// SpoolDir holds the decompressed copy Split makes of each gzip or zstd
	// input, which its ranges address (so each file is decompressed once).
	// Default: the input's own directory, which every worker sees. The
	// copies stay until RemoveSpools; a worker elsewhere must see SpoolDir
	// at the same path.
	SpoolDir string `json:"spool_dir,omitempty"`
	// Stdin is what the path "-" reads. Default os.Stdin.
	Stdin io.Reader `json:"-"`
}

// WithDefaults returns o with every unset field at its documented default.
func (o Options) WithDefaults() Options {
	if o.Format == "" {
		o.Format = FormatAuto
	}
	if o.IDField == "" {
		o.IDField = DefaultIDField
	}
	if len(o.TextFields) == 0 {
		o.TextFields = []string{DefaultTextField}
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxChunkBytes == 0 {
		o.MaxChunkBytes = DefaultMaxChunkBytes
	}
	return o
}

// Validate reports the first problem with o, after defaults are applied.
func (o Options) Validate() error {
	o = o.WithDefaults()
	switch o.Format {
	case FormatAuto, FormatJSONL, FormatCSV, FormatParquet, FormatText:
	default:
		return fmt.Errorf("input: format %q is not one of auto, jsonl, csv, parquet, text", o.Format)
	}
	switch o.IDFrom {
	case "", IDFromLine, IDFromHash:
	default:
		return fmt.Errorf("input: id-from %q is not one of line, hash", o.IDFrom)
	}
	for _, f := range o.TextFields {
		if strings.TrimSpace(f) == "" {
			return errors.New("input: text fields must not be empty names")
		}
	}
	for _, f := range o.MetaFields {
		if strings.TrimSpace(f) == "" {
			return errors.New("input: meta fields must not be empty names")
		}
	}
	if o.MaxRecordBytes < 1 {
		return fmt.Errorf("input: max record bytes must be at least 1, got %d", o.MaxRecordBytes)
	}
	if o.MaxChunkBytes < 1 {
		return fmt.Errorf("input: max chunk bytes must be at least 1, got %d", o.MaxChunkBytes)
	}
	return nil
}

// DetectFormat chooses a format by file extension, looking through .gz and
// .zst. It returns "" when the extension says nothing.
func DetectFormat(path string) Format {
	p := strings.ToLower(path)
	for _, ext := range []string{".gz", ".zst", ".zstd"} {
		p = strings.TrimSuffix(p, ext)
	}
	switch filepath.Ext(p) {
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL
	case ".csv":
		return FormatCSV
	case ".parquet":
		return FormatParquet
	case ".txt", ".text":
		return FormatText
	}
	return ""
}

// formatFor resolves the format of one input.
func (o Options) formatFor(path string) (Format, error) {
	if o.Format != FormatAuto {
		return o.Format, nil
	}
	if path == "-" {
		return FormatJSONL, nil
	}
	if f := DetectFormat(path); f != "" {
		return f, nil
	}
	return "", fmt.Errorf("input: %s: cannot tell the format from the extension (set the format)", path)
}

// RecordError is the Err of a bad record: it names the file, the line (or
// row) and, when one is to blame, the field.
type RecordError struct {
	File   string
	Line   int64
	Field  string
	Reason string
}

func (e *RecordError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s:%d: field %q: %s", e.File, e.Line, e.Field, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}
