package parquet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	parquetgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/cobatch/cobatch/sinks"
)

// ErrKeptMissing is returned by WriteChunk when a chunk names an id as kept
// (unchanged, so not re-embedded) but the chunk's previous part file does not
// hold it: writing the part anyway would lose the record.
var ErrKeptMissing = errors.New("kept id not in previous part")

// Config configures a Writer.
type Config struct {
	// Dir is the output root; a job writes Dir/<job>/. Required.
	Dir string
	// RowGroupRows caps the rows of one row group, which bounds the memory a
	// part writer holds (parquet-go buffers a whole row group). Default 8192.
	RowGroupRows int
	// Compression of part files: "zstd", "snappy" or "none". Default "zstd".
	Compression string
	// Corpus adds the passage columns to embedding parts (corpus.go).
	Corpus sinks.Corpus
	// Snapshots makes the writer carry unchanged embedding rows from the
	// newest finished job of Dir with the same fingerprint (previous.go).
	Snapshots bool
	// RowKind is the kind of the rows of chunks that carry Declared rows
	// (declared.go); nil for a job of a kind this package knows.
	RowKind *sinks.RowKind
}

func (c Config) withDefaults() Config {
	if c.RowGroupRows == 0 {
		c.RowGroupRows = 8192
	}
	if c.Compression == "" {
		c.Compression = "zstd"
	}
	return c
}

func (c Config) codec() (compress.Codec, error) {
	switch c.Compression {
	case "zstd":
		// Float vectors barely compress; the fastest level keeps nearly all
		// of the gain on the other columns at a fraction of the CPU.
		return &zstd.Codec{Level: zstd.SpeedFastest}, nil
	case "snappy":
		return &parquetgo.Snappy, nil
	case "none":
		return &parquetgo.Uncompressed, nil
	}
	return nil, fmt.Errorf("parquet: Compression must be zstd, snappy or none, not %q", c.Compression)
}

// Writer writes a job's results under Config.Dir. It is safe for concurrent
// use: every call works on its own files, and each file appears through an
// atomic rename.
type Writer struct {
	dir      string
	opts     []parquetgo.WriterOption
	corpus   sinks.Corpus
	prev     previous  // the job before this one in Dir (corpus.go)
	declared *declared // Config.RowKind's; nil without one
}

// New returns a Writer for cfg.
func New(cfg Config) (*Writer, error) {
	cfg = cfg.withDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("parquet: Dir is required")
	}
	if cfg.RowGroupRows < 1 {
		return nil, fmt.Errorf("parquet: RowGroupRows must be at least 1, not %d", cfg.RowGroupRows)
	}
	codec, err := cfg.codec()
	if err != nil {
		return nil, err
	}
	var d *declared
	if cfg.RowKind != nil {
		if d, err = newDeclared(cfg.RowKind); err != nil {
			return nil, err
		}
	}
	return &Writer{
		dir: cfg.Dir,
		opts: []parquetgo.WriterOption{
			parquetgo.Compression(codec),
			parquetgo.MaxRowsPerRowGroup(int64(cfg.RowGroupRows)),
		},
		corpus:   cfg.Corpus,
		prev:     previous{on: cfg.Snapshots},
		declared: d,
	}, nil
}

// WriteChunk writes Dir/<job>/part-<chunk>.parquet (chunk as 6 digits)
// through a temporary file in the same directory, fsynced and renamed, so a
// retried chunk replaces the part rather than adding a second one. Ids in
// c.Kept are carried over from the chunk's previous part file. Failed records
// go to Dir/<job>/failed/part-<chunk>.jsonl the same way, and that file is
// removed when this run of the chunk has none. A chunk with no rows at all
// leaves no part file.
func (w *Writer) WriteChunk(ctx context.Context, c *sinks.Chunk) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	if c.Number < 0 {
		return fmt.Errorf("parquet: chunk number %d is negative", c.Number)
	}
	dir, err := w.jobDir(c.Job)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	switch {
	case w.declared != nil || c.Declared != nil:
		// The job's kind, not the chunk's data, picks the writer (a chunk
		// whose records were all kept or failed carries no rows);
		// writeDeclared refuses declared rows a writer has no kind for.
		return w.writeDeclared(ctx, dir, c)
	case c.Classifications != nil:
		return w.writeClassifications(ctx, dir, c)
	case c.Reranks != nil:
		return w.writeReranks(ctx, dir, c)
	case c.Chats != nil:
		return w.writeChats(ctx, dir, c)
	}
	part := filepath.Join(dir, partName(c.Number))

	rows := c.Rows
	// A re-run that finds every record of the part unchanged leaves the part
	// alone: checking costs three small columns, rewriting costs the vectors.
	unchanged := len(c.Rows) == 0 && len(c.Kept) > 0 && partHoldsExactly(part, c.Kept)
	if len(c.Kept) > 0 && !unchanged {
		kept, err := w.readKept(part, c)
		if err != nil {
			return fmt.Errorf("parquet: chunk %d: %w", c.Number, err)
		}
		rows = append(kept, c.Rows...)
	}
	return writePart(dir, c, unchanged, len(rows), func(out io.Writer) error {
		set := vectorsOf(&rows[0])
		for i := range rows {
			if s := vectorsOf(&rows[i]); s != set {
				return fmt.Errorf("row %q has embeddings %s, row %q has %s", rows[i].ID, s, rows[0].ID, set)
			}
		}
		return writeRows(ctx, out, w.layout(set), rows, w.opts)
	})
}

// writePart ends a chunk's write: its part written by write, or removed when
// the chunk has no rows (n), or left as it is when unchanged; then its dead
// letters.
func writePart(dir string, c *sinks.Chunk, unchanged bool, n int, write func(io.Writer) error) error {
	switch {
	case unchanged:
	case n == 0:
		if err := removeIfExists(filepath.Join(dir, partName(c.Number))); err != nil {
			return err
		}
	default:
		if err := writeAtomic(dir, partName(c.Number), write); err != nil {
			return fmt.Errorf("parquet: chunk %d: %w", c.Number, err)
		}
	}
	if err := writeFailures(dir, c.Number, c.Failed); err != nil {
		return fmt.Errorf("parquet: chunk %d: %w", c.Number, err)
	}
	return nil
}

// partHoldsExactly reports whether part holds the ids of kept and no others.
func partHoldsExactly(part string, kept []string) bool {
	stored, err := readKeys(part)
	if err != nil {
		return false
	}
	seen := make(map[string]bool, len(kept))
	for _, id := range kept {
		if _, ok := stored[id]; !ok {
			return false
		}
		seen[id] = true
	}
	return len(seen) == len(stored)
}

// readKept returns the rows of c.Kept from the chunk's previous part, in the
// order that part holds them, then those only the previous job's snapshot
// holds (previous.go), leaving out ids this run re-embedded.
func (w *Writer) readKept(part string, c *sinks.Chunk) ([]sinks.Embedding, error) {
	want := carrySet(c.Kept, len(c.Rows), func(i int) string { return c.Rows[i].ID })
	kept := make([]sinks.Embedding, 0, len(want))
	if len(want) == 0 {
		return kept, nil
	}
	err := readPart(part, func(e *sinks.Embedding) error {
		if want[e.ID] {
			delete(want, e.ID)
			kept = append(kept, *e)
		}
		return nil
	})
	if err == nil || errors.Is(err, os.ErrNotExist) {
		more, perr := w.carryPrevious(c.Job, want)
		if perr != nil {
			return nil, perr
		}
		kept = append(kept, more...)
	}
	return kept, checkCarried(err, c.Kept, want)
}

// carrySet is the set of kept ids that this run did not write again (the n
// ids that id gives): the rows a chunk's new part carries over from its
// previous one.
func carrySet(kept []string, n int, id func(int) string) map[string]bool {
	want := make(map[string]bool, len(kept))
	for _, k := range kept {
		want[k] = true
	}
	for i := range n {
		delete(want, id(i))
	}
	return want
}

// checkCarried turns what reading the previous part left of want into the
// error of the carry-over: a read error (a missing part is none), or a kept
// id that the part did not hold, which would otherwise vanish silently.
func checkCarried(readErr error, kept []string, left map[string]bool) error {
	if readErr != nil && !errors.Is(readErr, os.ErrNotExist) {
		return readErr
	}
	for _, id := range kept {
		if left[id] {
			return fmt.Errorf("%w: %q", ErrKeptMissing, id)
		}
	}
	return nil
}

// writeCarried writes the part of a chunk whose kind keeps unchanged
// records (classify, chat, a declared kind): this run's rows plus the kept
// ones carried over from the previous part, which read yields with the
// others, as for embeddings; then the chunk's dead letters.
func writeCarried[R any](dir string, c *sinks.Chunk, rows []R, id func(*R) string,
	read func(part string, fn func(R) error) error, write func(io.Writer, []R) error) error {
	part := filepath.Join(dir, partName(c.Number))
	unchanged := len(rows) == 0 && len(c.Kept) > 0 && partHoldsExactly(part, c.Kept)
	if len(c.Kept) > 0 && !unchanged {
		want := carrySet(c.Kept, len(rows), func(i int) string { return id(&rows[i]) })
		kept := make([]R, 0, len(want))
		var err error
		if len(want) > 0 {
			err = read(part, func(r R) error {
				if k := id(&r); want[k] {
					delete(want, k)
					kept = append(kept, r)
				}
				return nil
			})
		}
		if err := checkCarried(err, c.Kept, want); err != nil {
			return fmt.Errorf("parquet: chunk %d: %w", c.Number, err)
		}
		rows = append(kept, rows...)
	}
	return writePart(dir, c, unchanged, len(rows), func(f io.Writer) error { return write(f, rows) })
}

// rowBatch is how many rows are encoded before each hand-over to parquet-go;
// a row of a 1536-d float vector is ~37 KB of parquet values.
const rowBatch = 64

// rowBufs holds *[]parquetgo.Row: a pointer, so that Put does not allocate.
var rowBufs = sync.Pool{New: func() any { b := make([]parquetgo.Row, rowBatch); return &b }}

func writeRows[R any](ctx context.Context, out io.Writer, l *layout[R], rows []R, opts []parquetgo.WriterOption) error {
	if l.write != nil {
		return l.write(ctx, parquetOut{w: out, opts: opts}, rows)
	}
	pw := parquetgo.NewWriter(out, append([]parquetgo.WriterOption{l.schema}, opts...)...)
	bp := rowBufs.Get().(*[]parquetgo.Row)
	buf := *bp
	defer func() {
		for i := range buf {
			buf[i] = buf[i][:0]
		}
		rowBufs.Put(bp)
	}()
	for len(rows) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(rows), len(buf))
		for i := range n {
			buf[i] = l.appendRow(buf[i][:0], &rows[i])
		}
		if _, err := pw.WriteRows(buf[:n]); err != nil {
			return fmt.Errorf("write rows: %w", err)
		}
		rows = rows[n:]
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close part: %w", err)
	}
	return nil
}

// Lookup reports which of keys the chunk's part file already holds with the
// same ContentSHA256 and Fingerprint; an absent part holds none. Only the id,
// hash and fingerprint columns are read.
func (w *Writer) Lookup(ctx context.Context, job string, chunk int, keys []sinks.Key) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	dir, err := w.jobDir(job)
	if err != nil {
		return nil, err
	}
	stored, err := readKeys(filepath.Join(dir, partName(chunk)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("parquet: chunk %d: %w", chunk, err)
	}
	same := make(map[string]bool)
	for _, k := range keys {
		if s, ok := stored[k.ID]; ok && s.ContentSHA256 == k.ContentSHA256 && s.Fingerprint == k.Fingerprint {
			same[k.ID] = true
		}
	}
	// Records the chunk's own part lacks may be in the previous job's
	// snapshot (previous.go): a nightly job pays only for what changed.
	if err := w.lookupPrevious(job, keys, same); err != nil {
		return nil, err
	}
	return same, nil
}

// Close releases the writer. Files are complete when each call returns, so
// there is nothing to flush.
func (w *Writer) Close() error { return nil }

func (w *Writer) jobDir(job string) (string, error) {
	return jobDir(w.dir, job)
}

// jobDir refuses job names that would escape Dir or hide the job.
func jobDir(root, job string) (string, error) {
	if job == "" || job == "." || job == ".." || job != filepath.Base(job) || filepath.Base(filepath.FromSlash(job)) != job {
		return "", fmt.Errorf("parquet: invalid job name %q", job)
	}
	return filepath.Join(root, job), nil
}

func partName(chunk int) string { return fmt.Sprintf("part-%06d.parquet", chunk) }

// writeAtomic makes dir/name appear complete or not at all: a crash leaves at
// worst a hidden temporary file, never a truncated part.
func writeAtomic(dir, name string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}
