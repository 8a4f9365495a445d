package parquet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cobatch/cobatch/sinks"
)

// File names inside a job directory.
const (
	ManifestFile = "_manifest.json"
	FailedFile   = "failed.jsonl"
	failedDir    = "failed"
)

// Manifest is the content of _manifest.json, written when a job finishes.
type Manifest struct {
	Job         string   `json:"job"`
	Model       string   `json:"model"`
	Fingerprint string   `json:"fingerprint"`
	Counts      Counts   `json:"counts"`
	TokensIn    int64    `json:"tokens_in"`
	Chunks      int      `json:"chunks"`
	Schema      []Column `json:"schema"`
	Parts       []Part   `json:"parts"`
	FailedFile  string   `json:"failed_file"`
	// Previous is the job whose snapshot this one carried unchanged rows
	// from (previous.go); Pruned, the ids of that snapshot this one left
	// out because its input no longer holds their documents (-prune).
	Previous   string    `json:"previous,omitempty"`
	Pruned     []string  `json:"pruned,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// Counts reconciles a job: Total = Written + Skipped + Failed, and Rows (the
// rows held by the parts) = Written + Skipped.
type Counts struct {
	Written int64 `json:"written"`
	Skipped int64 `json:"skipped"`
	Failed  int64 `json:"failed"`
	Total   int64 `json:"total"`
	Rows    int64 `json:"rows"`
}

// Column describes one column of the part files, e.g. {"embedding", "LIST<FLOAT>"}.
type Column struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable,omitempty"`
}

// Part is one part file of the job.
type Part struct {
	File  string `json:"file"`
	Chunk int    `json:"chunk"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Finish writes Dir/<job>/_manifest.json and Dir/<job>/failed.jsonl (every
// failed/part-*.jsonl in chunk order; empty when nothing failed), each through
// a temporary file and a rename.
func (w *Writer) Finish(ctx context.Context, s sinks.Summary) error {
	dir, err := w.jobDir(s.Job)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	m := Manifest{
		Job:         s.Job,
		Model:       s.Model,
		Fingerprint: s.Fingerprint,
		Counts:      Counts{Written: s.Written, Skipped: s.Skipped, Failed: s.Failed, Total: s.Total},
		TokensIn:    s.TokensIn,
		Chunks:      s.Chunks,
		Schema:      []Column{},
		Parts:       []Part{},
		FailedFile:  FailedFile,
		StartedAt:   s.StartedAt.UTC(),
		FinishedAt:  s.FinishedAt.UTC(),
		Previous:    w.previousJob(s.Job),
		Pruned:      s.Pruned,
	}
	// Stale parts of a longer earlier run go first: the rows carried forward
	// are then written as the part after this run's last chunk.
	if s.AllChunks {
		if err := pruneParts(dir, s.Chunks); err != nil {
			return err
		}
	}
	if err := w.carryVanished(ctx, dir, s); err != nil {
		return err
	}
	parts, err := listParts(dir, "part-", ".parquet")
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("parquet: %w", err)
		}
		pf, f, err := openPart(filepath.Join(dir, p.name))
		if err != nil {
			return fmt.Errorf("parquet: %w", err)
		}
		if len(m.Schema) == 0 {
			for _, fld := range pf.Schema().Fields() {
				m.Schema = append(m.Schema, Column{Name: fld.Name(), Type: describe(fld), Nullable: fld.Optional()})
			}
		}
		m.Parts = append(m.Parts, Part{File: p.name, Chunk: p.chunk, Rows: pf.NumRows(), Bytes: pf.Size()})
		m.Counts.Rows += pf.NumRows()
		f.Close()
	}
	if err := w.concatFailures(ctx, dir); err != nil {
		return err
	}
	if err := removeTemps(dir, filepath.Join(dir, failedDir)); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("parquet: manifest: %w", err)
	}
	err = writeAtomic(dir, ManifestFile, func(out io.Writer) error {
		_, err := out.Write(append(data, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("parquet: manifest: %w", err)
	}
	return nil
}

// ReadManifest reads the manifest of a finished job.
func ReadManifest(dir, job string) (*Manifest, error) {
	jd, err := jobDir(dir, job)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(jd, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parquet: manifest: %w", err)
	}
	return &m, nil
}

func failedPartName(chunk int) string { return fmt.Sprintf("part-%06d.jsonl", chunk) }

// writeFailures replaces the chunk's dead-letter file with this run's
// failures, so a retried chunk that now succeeds leaves no stale failures.
func writeFailures(dir string, chunk int, failed []sinks.Failure) error {
	fdir := filepath.Join(dir, failedDir)
	if len(failed) == 0 {
		return removeIfExists(filepath.Join(fdir, failedPartName(chunk)))
	}
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return err
	}
	return writeAtomic(fdir, failedPartName(chunk), func(out io.Writer) error {
		enc := json.NewEncoder(out)
		for i := range failed {
			if err := enc.Encode(&failed[i]); err != nil {
				return fmt.Errorf("failure %d: %w", i, err)
			}
		}
		return nil
	})
}

func (w *Writer) concatFailures(ctx context.Context, dir string) error {
	fdir := filepath.Join(dir, failedDir)
	parts, err := listParts(fdir, "part-", ".jsonl")
	if err != nil {
		return err
	}
	err = writeAtomic(dir, FailedFile, func(out io.Writer) error {
		for _, p := range parts {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := copyFile(out, filepath.Join(fdir, p.name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("parquet: %s: %w", FailedFile, err)
	}
	return nil
}

func copyFile(out io.Writer, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // replaced by a concurrent retry that had no failures
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(out, f)
	return err
}

// removeTemps deletes the temporary files that writes interrupted by a crash
// left behind. A write still running when the job finishes then fails its
// rename and is retried, which rewrites the same content.
func removeTemps(dirs ...string) error {
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("parquet: %w", err)
		}
		for _, e := range entries {
			if name := e.Name(); strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") && !e.IsDir() {
				if err := removeIfExists(filepath.Join(dir, name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
