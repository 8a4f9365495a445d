package input

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// decompressed counts the bytes every decompressor of the process has
// produced: what reading compressed inputs costs (see bench_test.go).
var decompressed atomic.Int64

type countingReader struct{ r io.Reader }

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	decompressed.Add(int64(n))
	return n, err
}

// A compressed input is decompressed once, by Split, into a spool file that
// its ranges then address like a plain file: a range's Read seeks instead of
// decompressing the file from its start, so a file costs its size, not its
// size squared over the range size.
//
// The spool's name derives from the input's path, size and modification
// time, so planning the same file again rewrites the same spool. It is
// written in place, never truncated first: the bytes a range already
// planned addresses stay what they were while a worker may be reading them.

// SpoolPath is where Split keeps the decompressed copy of the compressed
// input at abs.
func SpoolPath(abs string, opts Options) (string, error) {
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("input: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano())
	dir := opts.SpoolDir
	if dir == "" {
		dir = filepath.Dir(abs)
	}
	return filepath.Join(dir, "."+filepath.Base(abs)+"."+hex.EncodeToString(h.Sum(nil))[:12]+".spool"), nil
}

// isSpool reports whether path is named like a spool file.
func isSpool(path string) bool {
	base := filepath.Base(path)
	return strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".spool")
}

// RemoveSpools deletes the spool files of the given inputs (globs allowed,
// as for Split), once no range of them is left to read.
func RemoveSpools(paths []string, opts Options) error {
	sources, err := expand(paths)
	if err != nil {
		return err
	}
	var errs []error
	for _, src := range sources {
		if src.abs == "-" {
			continue
		}
		p, err := SpoolPath(src.abs, opts)
		if err != nil {
			continue // the input is gone: its spool's name is unknown
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("input: %w", err))
		}
	}
	return errors.Join(errs...)
}

// spool copies what a stream yields into its spool file.
type spool struct {
	f    *os.File
	w    *bufio.Writer
	path string
	n    int64
	err  error // the first write error
}

func openSpool(abs, name string, opts Options) (*spool, error) {
	p, err := SpoolPath(abs, opts)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("input: %s: its decompressed copy: %w (set -spool-dir)", name, err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 1<<20), path: p}, nil
}

// tee returns r whose bytes are also written to the spool.
func (s *spool) tee(r io.Reader) io.Reader { return &spoolTee{r: r, s: s} }

type spoolTee struct {
	r io.Reader
	s *spool
}

func (t *spoolTee) Read(p []byte) (int, error) {
	if t.s.err != nil {
		return 0, t.s.err
	}
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.s.w.Write(p[:n]); werr != nil {
			t.s.err = fmt.Errorf("write %s: %w", t.s.path, werr)
			return 0, t.s.err
		}
		t.s.n += int64(n)
	}
	return n, err
}

// failed reports whether writing the spool failed: the stream's error is
// then not the input's fault.
func (s *spool) failed() bool { return s.err != nil }

// flush makes every byte read so far readable by a range.
func (s *spool) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("input: write %s: %w", s.path, err)
	}
	return nil
}

// finish flushes, cuts what an earlier, longer write left, and closes.
func (s *spool) finish() error {
	err := s.flush()
	if err == nil {
		err = s.f.Truncate(s.n)
	}
	return errors.Join(err, s.f.Close())
}
