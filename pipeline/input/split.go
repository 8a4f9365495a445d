package input

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Range is the small reference a chunk task carries: never the text itself,
// except for stdin, whose bytes cannot be read again.
type Range struct {
	// Path is absolute, or "-" for stdin.
	Path string `json:"path"`
	// Name is the path as given (after glob expansion); records and errors
	// name the file by it.
	Name   string `json:"name,omitempty"`
	Format Format `json:"format"`
	// Compression is "", "gzip" or "zstd", found by magic bytes.
	Compression string `json:"compression,omitempty"`
	// Start and End are byte offsets [Start,End) into the decompressed stream
	// for line formats, rows [Start,End) for Parquet.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// FirstLine is the 1-based line of the first record (line formats) or the
	// 0-based first row (Parquet).
	FirstLine int64 `json:"first_line"`
	// Lines is the number of input lines (or rows) the range covers. Each is
	// part of exactly one Record or is a blank line; only a CSV record with a
	// quoted field spanning lines covers more than one line.
	Lines int `json:"lines"`
	// Records is the exact number of Records, good or bad, Read yields.
	Records int `json:"records"`
	// Header is the CSV header, so that a range parses on its own.
	Header []string `json:"header,omitempty"`
	// Data holds the range's bytes, for stdin only.
	Data []byte `json:"data,omitempty"`
}

func (r Range) displayName() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Path
}

// source is one input after glob expansion.
type source struct {
	name string // as given
	abs  string // absolute, or "-"
}

// Split streams the inputs in bounded memory and emits ranges of at most
// perChunk records and at most opts.MaxChunkBytes bytes (a single longer
// record gets a range of its own). Paths may be globs; "-" is stdin, whose
// ranges carry their bytes in Data. Ranges start at a record and end after
// one: blank lines before the first record of a range, and between ranges,
// belong to none.
//
// A path that matches nothing or cannot be opened is an error naming it. A
// corrupt or truncated compressed stream, or a broken Parquet footer, is an
// error naming the file that wraps ErrCorrupt; ranges of that file already
// emitted are sound.
func Split(ctx context.Context, paths []string, opts Options, perChunk int, emit func(Range) error) error {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	if perChunk < 1 {
		return fmt.Errorf("input: records per chunk must be at least 1, got %d", perChunk)
	}
	sources, err := expand(paths)
	if err != nil {
		return err
	}
	for _, src := range sources {
		if err := splitOne(ctx, src, opts, perChunk, emit); err != nil {
			return err
		}
	}
	return nil
}

func expand(paths []string) ([]source, error) {
	if len(paths) == 0 {
		return nil, errors.New("input: no input paths")
	}
	var out []source
	stdin := false
	for _, p := range paths {
		if p == "-" {
			if stdin {
				return nil, errors.New("input: stdin (-) given twice")
			}
			stdin = true
			out = append(out, source{name: "-", abs: "-"})
			continue
		}
		matches := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return nil, fmt.Errorf("input: %s: is a directory", p)
		} else if err != nil {
			if !strings.ContainsAny(p, "*?[") {
				return nil, fmt.Errorf("input: %w", err)
			}
			matches, err = filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("input: %s: %w", p, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("input: %s: no file matches", p)
			}
		}
		for _, m := range matches {
			if len(matches) > 1 && isSpool(m) {
				continue // a glob over a directory where inputs are spooled
			}
			abs, err := filepath.Abs(m)
			if err != nil {
				return nil, fmt.Errorf("input: %s: %w", m, err)
			}
			out = append(out, source{name: m, abs: abs})
		}
	}
	return out, nil
}

func splitOne(ctx context.Context, src source, opts Options, perChunk int, emit func(Range) error) error {
	format, err := opts.formatFor(src.name)
	if err != nil {
		return err
	}
	if format == FormatParquet {
		if src.abs == "-" {
			return errors.New("input: parquet cannot be read from stdin")
		}
		return splitParquet(ctx, src, opts, perChunk, emit)
	}
	var s *stream
	if src.abs == "-" {
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		s, err = newStream("-", in)
	} else {
		s, err = openFile(src.abs, src.name)
	}
	if err != nil {
		return err
	}
	defer s.Close()

	c := chunker{
		base:     Range{Path: src.abs, Name: src.name, Format: format, Compression: s.compression},
		perChunk: perChunk,
		maxBytes: int64(opts.MaxChunkBytes),
		inline:   src.abs == "-",
		emit:     emit,
	}
	if c.inline {
		// Data holds the decompressed bytes, so Read has nothing to undo.
		c.base.Compression = ""
	} else if s.compression != "" {
		sp, err := openSpool(src.abs, src.name, opts)
		if err != nil {
			return err
		}
		defer func() {
			if c.spool != nil {
				c.spool.finish()
			}
		}()
		s.r = sp.tee(s.r)
		c.base.Path, c.base.Compression = sp.path, ""
		c.spool = sp
	}
	sc := newUnitScanner(format, s.r, opts.MaxRecordBytes, c.inline, 0, 1)
	if format == FormatCSV {
		header, err := csvHeader(sc, src.name, opts)
		if err != nil {
			return s.classify(err)
		}
		c.base.Header = header
	}
	// Where the next unit starts: after a break, the damage is reported
	// there.
	off, lineNo := int64(0), int64(1)
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("input: %s: %w", src.name, err)
			}
		}
		u, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if c.spool != nil && c.spool.failed() {
				return fmt.Errorf("input: %s: %w", src.name, err)
			}
			if !errors.Is(s.classify(err), ErrCorrupt) {
				return s.classify(err)
			}
			// The records before the break are sound: plan them.
			if ferr := c.flush(); ferr != nil {
				return ferr
			}
			return &DamageError{File: src.name, Line: lineNo, Offset: off, Err: s.decoderErr(err)}
		}
		off, lineNo = u.end, u.line+int64(u.lines)
		if err := c.add(u); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	if c.spool != nil {
		sp := c.spool
		c.spool = nil
		return sp.finish()
	}
	return nil
}

// csvHeader reads the header row (the first non-blank record) and checks
// that the columns the options name are there.
func csvHeader(sc unitScanner, name string, opts Options) ([]string, error) {
	var u unit
	for {
		var err error
		u, err = sc.next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !u.blank {
			break
		}
	}
	if u.bad != "" {
		return nil, fmt.Errorf("input: %s:%d: csv header: %s", name, u.line, u.bad)
	}
	cr := csv.NewReader(bytes.NewReader(u.data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("input: %s:%d: csv header: %w", name, u.line, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	has := make(map[string]bool, len(header))
	for _, h := range header {
		has[h] = true
	}
	if opts.IDFrom == "" && !has[opts.IDField] {
		return nil, fmt.Errorf("input: %s: csv header has no id column %q (set -id-field, or -id-from line|hash)", name, opts.IDField)
	}
	for _, f := range opts.TextFields {
		if !has[f] {
			return nil, fmt.Errorf("input: %s: csv header has no text column %q (set -text-field)", name, f)
		}
	}
	return header, nil
}

// chunker groups units into ranges.
type chunker struct {
	base     Range
	perChunk int
	maxBytes int64
	inline   bool // stdin: keep the bytes in Range.Data
	emit     func(Range) error
	spool    *spool // a compressed input's decompressed copy, which ranges address

	cur       *Range
	size      int64 // bytes the current range covers (inline: len(Data))
	pendLines int   // blank lines since the range's last record
	pendBytes int64
	data      bytes.Buffer
}

func (c *chunker) add(u unit) error {
	usize := u.end - u.start
	if c.inline {
		usize = int64(len(u.data)) + 2
		if u.blank {
			usize = 1
		}
	}
	if u.blank {
		if c.cur == nil {
			return nil
		}
		c.pendLines += u.lines
		c.pendBytes += usize
		if c.size+c.pendBytes > c.maxBytes {
			return c.flush()
		}
		return nil
	}
	if c.cur != nil && (c.cur.Records >= c.perChunk || c.size+c.pendBytes+usize > c.maxBytes) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if c.cur == nil {
		r := c.base
		r.Start, r.End, r.FirstLine = u.start, u.start, u.line
		c.cur = &r
	} else {
		c.cur.Lines += c.pendLines
		c.size += c.pendBytes
		if c.inline {
			for i := 0; i < c.pendLines; i++ {
				c.data.WriteByte('\n')
			}
		}
	}
	c.pendLines, c.pendBytes = 0, 0
	c.cur.End = u.end
	c.cur.Lines += u.lines
	c.cur.Records++
	c.size += usize
	if c.inline {
		c.data.Write(u.data)
		// The line reader drops one "\r" before a line's end; put one back
		// where the content itself ends in "\r", so Read sees the same text.
		if len(u.data) > 0 && u.data[len(u.data)-1] == '\r' {
			c.data.WriteByte('\r')
		}
		c.data.WriteByte('\n')
	}
	return nil
}

func (c *chunker) flush() error {
	if c.cur == nil {
		return nil
	}
	r := *c.cur
	if c.inline {
		r.Data = bytes.Clone(c.data.Bytes())
		c.data.Reset()
	}
	c.cur, c.size, c.pendLines, c.pendBytes = nil, 0, 0, 0
	if c.spool != nil {
		if err := c.spool.flush(); err != nil {
			return err
		}
	}
	return c.emit(r)
}
