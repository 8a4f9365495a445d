package parquet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/cobatch/cobatch/sinks"
)

// ReadJob calls fn with every row of every part of job under dir, parts in
// chunk order and rows in the order each part holds them. It stops at the
// first error, fn's included. A job with no parts yet reads as empty.
func ReadJob(dir, job string, fn func(sinks.Embedding) error) error {
	return readJob(dir, job, func(part string) error {
		return readPart(part, func(e *sinks.Embedding) error { return fn(*e) })
	})
}

type partFile struct {
	name  string
	chunk int
}

// listParts returns dir's files named prefix<chunk>suffix by chunk number, so
// that chunk 1000000 (seven digits) still sorts after 999999.
func listParts(dir, prefix, suffix string) ([]partFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	var parts []partFile
	for _, e := range entries {
		name := e.Name()
		num, ok := strings.CutPrefix(name, prefix)
		if !ok || e.IsDir() {
			continue
		}
		if num, ok = strings.CutSuffix(num, suffix); !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			continue
		}
		parts = append(parts, partFile{name: name, chunk: n})
	}
	slices.SortFunc(parts, func(a, b partFile) int { return a.chunk - b.chunk })
	return parts, nil
}

func openPart(path string) (*parquetgo.File, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquetgo.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	return pf, f, nil
}

// readPart decodes every row of an embedding part file. The *Embedding
// handed to fn is reused: fn must copy it to keep it.
func readPart(path string, fn func(*sinks.Embedding) error) error {
	pf, f, err := openPart(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec, err := newEmbeddingDecoder(pf.Schema())
	if err != nil {
		return err
	}
	buf := make([]parquetgo.Row, rowBatch)
	var e sinks.Embedding
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				if err := dec.decode(row, &e); err != nil {
					rows.Close()
					return err
				}
				if err := fn(&e); err != nil {
					rows.Close()
					return err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rows.Close()
				return fmt.Errorf("read rows: %w", rerr)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// readKeys reads the id, content_sha256 and fingerprint columns of a part,
// page by page, without decoding its vectors.
func readKeys(path string) (map[string]sinks.Key, error) {
	pf, f, err := openPart(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var idx [3]int
	for i, name := range []string{colID, colContentSHA256, colFingerprint} {
		leaf, ok := pf.Schema().Lookup(name)
		if !ok {
			return nil, fmt.Errorf("no %q column", name)
		}
		idx[i] = leaf.ColumnIndex
	}
	keys := make(map[string]sinks.Key, pf.NumRows())
	for _, rg := range pf.RowGroups() {
		var cols [3][]string
		for i, c := range idx {
			if cols[i], err = readStrings(rg.ColumnChunks()[c], rg.NumRows()); err != nil {
				return nil, err
			}
		}
		for r, id := range cols[0] {
			k := sinks.Key{ID: id, Fingerprint: cols[2][r]}
			if err := decodeSHA256(&k.ContentSHA256, []byte(cols[1][r])); err != nil {
				return nil, err
			}
			keys[id] = k
		}
	}
	return keys, nil
}

// readStrings reads a required string column chunk, one value per row.
func readStrings(cc parquetgo.ColumnChunk, rows int64) ([]string, error) {
	pages := cc.Pages()
	defer pages.Close()
	out := make([]string, 0, rows)
	vals := make([]parquetgo.Value, 256)
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read page: %w", err)
		}
		r := p.Values()
		for {
			n, err := r.ReadValues(vals)
			for _, v := range vals[:n] {
				out = append(out, string(v.ByteArray()))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquetgo.Release(p)
				return nil, fmt.Errorf("read values: %w", err)
			}
		}
		parquetgo.Release(p)
	}
	if int64(len(out)) != rows {
		return nil, fmt.Errorf("column has %d values for %d rows", len(out), rows)
	}
	return out, nil
}
