package input

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Read yields every record of a range in order: exactly r.Records of them,
// good or bad. It returns an error only for what a retry may cure (I/O), a
// canceled ctx, an error from fn (returned as is), or an input that cannot
// be read at all (wrapping ErrCorrupt: a broken compressed stream or Parquet
// file, or a file that changed since it was split). Bad records come back as
// Records with Err.
//
// Split addresses the ranges of a compressed input to its decompressed copy
// (see spool.go), so Read seeks there like in a plain file. A range whose
// Compression is set (planned before spooling) decompresses the file from
// its start and discards the bytes before r.Start.
func Read(ctx context.Context, r Range, opts Options, fn func(Record) error) error {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	if r.Format == FormatParquet {
		return readParquet(ctx, r, opts, fn)
	}
	var (
		src   io.Reader
		s     *stream
		err   error
		limit = r.End - r.Start
	)
	if r.Path == "-" || r.Data != nil {
		src = bytes.NewReader(r.Data)
		limit = int64(len(r.Data))
		s = &stream{name: r.displayName()}
	} else {
		s, err = openRange(r)
		if err != nil {
			return err
		}
		defer s.Close()
		src = io.LimitReader(s.r, limit)
	}
	m := newRecordMaker(r, opts)
	sc := newUnitScanner(r.Format, src, opts.MaxRecordBytes, true, 0, r.FirstLine)
	records := 0
	var consumed int64
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("input: %s: %w", r.displayName(), err)
			}
		}
		u, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s.classify(err)
		}
		consumed = u.end
		if u.blank {
			continue
		}
		records++
		if err := fn(m.make(u)); err != nil {
			return err
		}
	}
	if consumed != limit || (r.Records > 0 && records != r.Records) {
		return fmt.Errorf("input: %s: %w: range [%d,%d) read as %d bytes and %d records, planned %d (file changed since it was split?)",
			r.displayName(), ErrCorrupt, r.Start, r.End, consumed, records, r.Records)
	}
	return nil
}

// openRange opens a range's file positioned at r.Start of its decompressed
// stream.
func openRange(r Range) (*stream, error) {
	name := r.displayName()
	f, err := os.Open(r.Path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if r.Compression == "" {
		if _, err := f.Seek(r.Start, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("input: %s: %w", name, err)
		}
		t := &ioTracker{r: f}
		return &stream{name: name, r: bufio.NewReaderSize(t, 64<<10), src: t, closers: []func() error{f.Close}}, nil
	}
	s, err := newStream(name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closers = append([]func() error{f.Close}, s.closers...)
	if s.compression != r.Compression {
		s.Close()
		return nil, fmt.Errorf("input: %s: %w: planned as %s, found %q", name, ErrCorrupt, r.Compression, s.compression)
	}
	n, err := io.CopyN(io.Discard, s.r, r.Start)
	if err != nil {
		s.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("input: %s: %w: stream ends at %d, before the range's start %d", name, ErrCorrupt, n, r.Start)
		}
		return nil, s.classify(err)
	}
	return s, nil
}
