package parquet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/cobatch/cobatch/sinks"
)

// classifyRow is the row of a classify part file. labels is a JSON object
// {label: confidence} in a plain string column: it reads as text in every
// engine, and DuckDB's json functions or Arrow's parsers take it from there.
type classifyRow struct {
	ID            string   `parquet:"id"`
	Label         string   `parquet:"label,dict"`
	Confidence    *float32 `parquet:"confidence,optional"`
	Labels        string   `parquet:"labels"`
	Model         string   `parquet:"model,dict"`
	Fingerprint   string   `parquet:"fingerprint,dict"`
	ContentSHA256 string   `parquet:"content_sha256"`
	Metadata      string   `parquet:"metadata,optional"`
	ClassifiedAt  int64    `parquet:"classified_at,timestamp(microsecond)"`
	// Route and LabelsPredicted: see sinks.Classification.
	Route           string   `parquet:"route,dict,optional"`
	LabelsPredicted []string `parquet:"labels_predicted,list"`
}

func toClassifyRow(c *sinks.Classification) (classifyRow, error) {
	labels, err := json.Marshal(c.Labels)
	if err != nil {
		return classifyRow{}, fmt.Errorf("record %q: labels: %w", c.ID, err)
	}
	return classifyRow{
		ID: c.ID, Label: c.Label, Confidence: c.Confidence, Labels: string(labels),
		Model: c.Model, Fingerprint: c.Fingerprint, ContentSHA256: hex.EncodeToString(c.ContentSHA256[:]),
		Metadata: metadataString(c.Metadata), ClassifiedAt: c.ClassifiedAt.UnixMicro(),
		Route: c.Route, LabelsPredicted: c.LabelsPredicted,
	}, nil
}

func (r *classifyRow) classification() (sinks.Classification, error) {
	c := sinks.Classification{
		ID: r.ID, Label: r.Label, Confidence: r.Confidence, Model: r.Model, Fingerprint: r.Fingerprint,
		ClassifiedAt: time.UnixMicro(r.ClassifiedAt).UTC(),
		Route:        r.Route, LabelsPredicted: slices.Clone(r.LabelsPredicted),
	}
	if r.Metadata != "" {
		c.Metadata = json.RawMessage(r.Metadata)
	}
	if err := json.Unmarshal([]byte(r.Labels), &c.Labels); err != nil {
		return c, fmt.Errorf("record %q: labels: %w", r.ID, err)
	}
	return c, decodeSHA256(&c.ContentSHA256, []byte(r.ContentSHA256))
}

// writeClassifications writes a classify chunk's part: this run's rows plus
// the kept ones carried over from the previous part, as for embeddings.
func (w *Writer) writeClassifications(ctx context.Context, dir string, c *sinks.Chunk) error {
	return writeCarried(dir, c, c.Classifications, func(r *sinks.Classification) string { return r.ID }, readClassifications,
		func(f io.Writer, rows []sinks.Classification) error {
			out := make([]classifyRow, len(rows))
			for i := range rows {
				var err error
				if out[i], err = toClassifyRow(&rows[i]); err != nil {
					return err
				}
			}
			return writeStructs(ctx, f, out, w.opts)
		})
}

// readClassifications calls fn with every row of a classify part.
var readClassifications = readAs((*classifyRow).classification)

// ReadClassifications calls fn with every row of every part of a classify
// job under dir, parts in chunk order.
func ReadClassifications(dir, job string, fn func(sinks.Classification) error) error {
	return readJob(dir, job, func(part string) error { return readClassifications(part, fn) })
}

// writeStructs writes rows as one part through parquet-go's struct path.
func writeStructs[T any](ctx context.Context, out io.Writer, rows []T, opts []parquetgo.WriterOption) error {
	pw := parquetgo.NewGenericWriter[T](out, opts...)
	for lo := 0; lo < len(rows); lo += rowBatch * 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := pw.Write(rows[lo:min(lo+rowBatch*16, len(rows))]); err != nil {
			return fmt.Errorf("write rows: %w", err)
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close part: %w", err)
	}
	return nil
}

// readStructs decodes every row of a part file into T; the *T handed to fn
// is reused.
func readStructs[T any](path string, fn func(*T) error) error {
	pf, f, err := openPart(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := parquetgo.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, rowBatch)
	for {
		n, rerr := r.Read(buf)
		for i := range buf[:n] {
			if err := fn(&buf[i]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read rows: %w", rerr)
		}
	}
}

// readAs returns a reader of the parts of T rows that calls fn with each
// row as conv turns it into an R.
func readAs[T, R any](conv func(*T) (R, error)) func(part string, fn func(R) error) error {
	return func(part string, fn func(R) error) error {
		return readStructs(part, func(t *T) error {
			r, err := conv(t)
			if err != nil {
				return err
			}
			return fn(r)
		})
	}
}

// readJob calls read with the path of every part of job under dir, in
// chunk order. A job with no parts yet reads as empty.
func readJob(dir, job string, read func(part string) error) error {
	jd, err := jobDir(dir, job)
	if err != nil {
		return err
	}
	parts, err := listParts(jd, "part-", ".parquet")
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := read(filepath.Join(jd, p.name)); err != nil {
			return fmt.Errorf("parquet: %s: %w", p.name, err)
		}
	}
	return nil
}
