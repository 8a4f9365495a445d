package input

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Compression names as carried in Range.Compression.
const (
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
)

// maxZstdWindow bounds the history a zstd frame may make the decoder keep.
const maxZstdWindow = 64 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// ioTracker remembers the error of the raw source, so a failure surfacing
// through a decompressor can be told apart: an I/O error may pass on retry,
// a decompression error will not.
type ioTracker struct {
	r   io.Reader
	err error
}

func (t *ioTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// stream is a decompressed byte stream over one input.
type stream struct {
	name        string
	r           io.Reader
	compression string
	src         *ioTracker
	closers     []func() error
}

// classify turns a read error into what callers act on: ErrCorrupt for a
// broken compressed stream, the raw error for I/O.
func (s *stream) classify(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if s.compression == "" || (s.src != nil && s.src.err != nil) {
		return fmt.Errorf("input: %s: %w", s.name, err)
	}
	return fmt.Errorf("input: %s: %w: %w", s.name, ErrCorrupt, s.decoderErr(err))
}

// decoderErr prefixes a decompressor's error with the compression.
func (s *stream) decoderErr(err error) error {
	return fmt.Errorf("%s: %w", s.compression, err)
}

func (s *stream) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// newStream wraps raw in the decompressor its magic bytes call for.
func newStream(name string, raw io.Reader) (*stream, error) {
	src := &ioTracker{r: raw}
	br := bufio.NewReaderSize(src, 64<<10)
	s := &stream{name: name, src: src, r: br}
	head, err := br.Peek(4)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("input: %s: %w", name, err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, s.withCompression(CompressionGzip).classify(err)
		}
		s.compression = CompressionGzip
		s.r = bufio.NewReaderSize(countingReader{zr}, 64<<10)
		s.closers = append(s.closers, zr.Close)
	case bytes.HasPrefix(head, zstdMagic):
		// A frame may ask for a window up to 2 GiB; one that asks for more
		// than maxZstdWindow is refused rather than allocated.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, s.withCompression(CompressionZstd).classify(err)
		}
		s.compression = CompressionZstd
		s.r = bufio.NewReaderSize(countingReader{zr}, 64<<10)
		s.closers = append(s.closers, func() error { zr.Close(); return nil })
	}
	return s, nil
}

func (s *stream) withCompression(c string) *stream {
	s.compression = c
	return s
}

// openFile opens path as a decompressed stream; name is how errors call it.
func openFile(path, name string) (*stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("input: %s: is a directory", name)
	}
	s, err := newStream(name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closers = append([]func() error{f.Close}, s.closers...)
	return s, nil
}

// line is one physical line of a stream.
type line struct {
	data    []byte // content without the trailing "\n" (or "\r\n"); nil unless kept
	n       int64  // bytes consumed, newline included
	tooLong bool   // content longer than the limit; data holds at most limit+1 bytes
	blank   bool   // only spaces, tabs, \r, \v, \f
}

// lineReader splits a stream into lines in bounded memory: a line longer
// than max is skipped through, never buffered whole.
type lineReader struct {
	br   *bufio.Reader
	max  int
	keep bool
	buf  []byte
}

func newLineReader(r io.Reader, max int, keep bool) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &lineReader{br: br, max: max, keep: keep}
}

func isBlankByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// next returns the next line, or io.EOF when the stream is done.
func (lr *lineReader) next() (line, error) {
	var l line
	l.blank = true
	lr.buf = lr.buf[:0]
	var size int64 // content bytes, a "\r" before "\n" included
	for {
		frag, err := lr.br.ReadSlice('\n')
		l.n += int64(len(frag))
		content := frag
		if len(content) > 0 && content[len(content)-1] == '\n' {
			content = content[:len(content)-1]
		}
		size += int64(len(content))
		if l.blank {
			for _, c := range content {
				if !isBlankByte(c) {
					l.blank = false
					break
				}
			}
		}
		if lr.keep && len(lr.buf) <= lr.max {
			room := lr.max + 1 - len(lr.buf)
			if room > len(content) {
				room = len(content)
			}
			lr.buf = append(lr.buf, content[:room]...)
		}
		switch {
		case err == nil:
			return lr.finish(l, size), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if l.n == 0 {
				return l, io.EOF
			}
			return lr.finish(l, size), nil
		default:
			return l, err
		}
	}
}

func (lr *lineReader) finish(l line, size int64) line {
	// The limit counts a trailing "\r" so that Split, which does not keep
	// content, and Read agree on which lines are too long.
	l.tooLong = size > int64(lr.max)
	if lr.keep {
		d := lr.buf
		if !l.tooLong && len(d) > 0 && d[len(d)-1] == '\r' {
			d = d[:len(d)-1]
		}
		l.data = d
	}
	return l
}
