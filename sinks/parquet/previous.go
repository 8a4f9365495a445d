package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cobatch/cobatch/pipeline/passage"
	"github.com/cobatch/cobatch/sinks"
)

// A nightly job with a date-stamped id writes a new directory each night.
// What the night before embedded is found in the newest finished job of the
// same Dir with the same fingerprint: its parts are a complete snapshot (the
// rows it kept were carried into them), so unchanged records are copied from
// there instead of being embedded again, and every job's directory is in turn
// a complete snapshot readable on its own.

// previous holds, per job, the snapshot that job carries rows from.
type previous struct {
	on     bool // embed jobs only: other rows are not carried over
	mu     sync.Mutex
	jobs   map[string]*snapshot
	pruned map[string]bool // jobs that pruned: their vanished rows are not carried
}

// snapshot is a finished job's rows, by id: where each is and its key.
type snapshot struct {
	job  string // "" when there is none
	dir  string
	rows map[string]stored
	// err is the error building the index met; every lookup returns it.
	err error
}

type stored struct {
	key  sinks.Key
	part string // file name within dir
}

// snapshotFor returns the snapshot job carries from: the newest finished
// other job under w.dir whose manifest has fingerprint fp. It is read once
// per job, at its first lookup.
func (w *Writer) snapshotFor(job, fp string) (*snapshot, error) {
	w.prev.mu.Lock()
	defer w.prev.mu.Unlock()
	if s, ok := w.prev.jobs[job]; ok {
		return s, s.err
	}
	s := &snapshot{rows: map[string]stored{}}
	if w.prev.on {
		s = loadSnapshot(w.dir, job, fp)
	}
	if w.prev.jobs == nil {
		w.prev.jobs = map[string]*snapshot{}
	}
	w.prev.jobs[job] = s
	return s, s.err
}

func loadSnapshot(root, job, fp string) *snapshot {
	s := &snapshot{rows: map[string]stored{}}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return s
	}
	if err != nil {
		s.err = fmt.Errorf("parquet: previous jobs: %w", err)
		return s
	}
	var best *Manifest
	for _, e := range entries {
		if !e.IsDir() || e.Name() == job {
			continue
		}
		m, err := ReadManifest(root, e.Name())
		if err != nil || m.Fingerprint != fp || m.Job != e.Name() {
			continue // not finished, another model, or not a job of ours
		}
		if best == nil || m.FinishedAt.After(best.FinishedAt) {
			best = m
		}
	}
	if best == nil {
		return s
	}
	s.job, s.dir = best.Job, filepath.Join(root, best.Job)
	for _, p := range best.Parts {
		keys, err := readKeys(filepath.Join(s.dir, p.File))
		if err != nil {
			s.err = fmt.Errorf("parquet: previous job %s: %s: %w", best.Job, p.File, err)
			return s
		}
		for id, k := range keys {
			s.rows[id] = stored{key: k, part: p.File}
		}
	}
	return s
}

// lookupPrevious adds to same the keys the previous snapshot holds unchanged.
func (w *Writer) lookupPrevious(job string, keys []sinks.Key, same map[string]bool) error {
	if len(keys) == 0 {
		return nil
	}
	s, err := w.snapshotFor(job, keys[0].Fingerprint)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if same[k.ID] {
			continue
		}
		if r, ok := s.rows[k.ID]; ok && r.key.ContentSHA256 == k.ContentSHA256 && r.key.Fingerprint == k.Fingerprint {
			same[k.ID] = true
		}
	}
	return nil
}

// carryPrevious reads from the previous snapshot the kept rows the chunk's
// own part did not hold (left), removing them from left.
func (w *Writer) carryPrevious(job string, left map[string]bool) ([]sinks.Embedding, error) {
	w.prev.mu.Lock()
	s := w.prev.jobs[job]
	w.prev.mu.Unlock()
	if s == nil || s.job == "" || len(left) == 0 {
		return nil, nil
	}
	byPart := map[string]bool{}
	for id := range left {
		if r, ok := s.rows[id]; ok {
			byPart[r.part] = true
		}
	}
	var out []sinks.Embedding
	for part := range byPart {
		err := readPart(filepath.Join(s.dir, part), func(e *sinks.Embedding) error {
			if left[e.ID] {
				delete(left, e.ID)
				out = append(out, *e)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("previous job %s: %s: %w", s.job, part, err)
		}
	}
	return out, nil
}

// previousJob names the snapshot job carried rows from, if this worker
// looked it up.
func (w *Writer) previousJob(job string) string {
	w.prev.mu.Lock()
	defer w.prev.mu.Unlock()
	if s := w.prev.jobs[job]; s != nil {
		return s.job
	}
	return ""
}

// Prune lists the rows of the previous snapshot whose document is not in
// keep: this job's parts already leave them out (they hold only rows of
// this run's input), and its manifest names them (Manifest.Pruned). dryRun
// changes nothing here, as nothing is deleted from an earlier job.
func (w *Writer) Prune(ctx context.Context, job, fingerprint string, keep map[string]bool, dryRun bool) ([]string, error) {
	s, err := w.snapshotFor(job, fingerprint)
	if err != nil {
		return nil, err
	}
	var out []string
	for id := range s.rows {
		if !keep[id] && !keep[documentOf(id)] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	if !dryRun {
		w.prev.mu.Lock()
		if w.prev.pruned == nil {
			w.prev.pruned = map[string]bool{}
		}
		w.prev.pruned[job] = true
		w.prev.mu.Unlock()
	}
	return out, ctx.Err()
}

// documentOf is the document a passage id (DOC#NNNN) belongs to, else the
// id itself.
func documentOf(id string) string {
	if d, _, ok := passage.ParseID(id); ok {
		return d
	}
	return id
}

// carryVanished writes, when the job did not prune, the previous snapshot's
// rows that none of the job's parts holds (documents gone from the input)
// into one more part, numbered after the job's chunks: without -prune a
// snapshot keeps them, as a table does.
func (w *Writer) carryVanished(ctx context.Context, dir string, s sinks.Summary) error {
	w.prev.mu.Lock()
	pruned := w.prev.pruned[s.Job]
	w.prev.mu.Unlock()
	if !w.prev.on || pruned {
		return nil
	}
	snap, err := w.snapshotFor(s.Job, s.Fingerprint)
	if err != nil || snap.job == "" {
		return err
	}
	left := make(map[string]bool, len(snap.rows))
	for id := range snap.rows {
		left[id] = true
	}
	parts, err := listParts(dir, "part-", ".parquet")
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.chunk >= s.Chunks {
			continue // an earlier finalize's carried part: written again below
		}
		keys, err := readKeys(filepath.Join(dir, p.name))
		if err != nil {
			return fmt.Errorf("parquet: %s: %w", p.name, err)
		}
		for id := range keys {
			delete(left, id)
		}
	}
	if len(left) == 0 {
		return removeIfExists(filepath.Join(dir, partName(s.Chunks)))
	}
	rows, err := w.carryPrevious(s.Job, left)
	if err != nil || len(rows) == 0 {
		return err
	}
	l := w.layout(vectorsOf(&rows[0]))
	return writeAtomic(dir, partName(s.Chunks), func(out io.Writer) error {
		return writeRows(ctx, out, l, rows, w.opts)
	})
}
