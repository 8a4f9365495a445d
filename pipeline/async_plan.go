package pipeline

import (
	"context"
	"fmt"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// GroupLimits bound the dataset a group of chunks becomes.
type GroupLimits struct {
	// MaxBytes bounds a dataset's estimated size (default 1.4 GB: the API
	// takes 1.5 GB, and the estimate is made before the file is built).
	MaxBytes int64
	// MaxRecords bounds a dataset's records (default 500,000). Cohere
	// documents no record limit for embed jobs or batches; the bound keeps
	// what one failed remote job costs to redo within reason.
	MaxRecords int
}

// DefaultGroupLimits are the limits a zero GroupLimits stands for.
var DefaultGroupLimits = GroupLimits{MaxBytes: 1400 << 20, MaxRecords: 500_000}

func (l GroupLimits) withDefaults() GroupLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultGroupLimits.MaxBytes
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = DefaultGroupLimits.MaxRecords
	}
	return l
}

// estimateBytes overestimates what a range adds to a dataset file: the text
// re-encoded as JSON plus each line's fields. Parquet ranges count rows, not
// bytes, so they are charged a generous size per record.
func estimateBytes(r input.Range) int64 {
	const perRecord = 256
	if r.Format == input.FormatParquet {
		return int64(r.Records) * (4096 + perRecord)
	}
	return (r.End-r.Start)*5/4 + int64(r.Records)*perRecord
}

// groupRanges cuts the job's chunks into runs of consecutive chunks, each
// within the limits (a chunk over them alone still makes a group).
func groupRanges(ranges []input.Range, l GroupLimits) []jobstore.AsyncGroup {
	var groups []jobstore.AsyncGroup
	var size int64
	var records int
	for i, r := range ranges {
		est := estimateBytes(r)
		n := len(groups)
		if n == 0 || size+est > l.MaxBytes || records+r.Records > l.MaxRecords {
			groups = append(groups, jobstore.AsyncGroup{Number: n, First: i})
			size, records = 0, 0
		}
		g := &groups[len(groups)-1]
		g.Ranges = append(g.Ranges, r)
		size += est
		records += r.Records
	}
	return groups
}

// planAsync plans a job that may take the async route: the ranges are
// collected first, since the route depends on the record count, then either
// enqueued as chunks (the sync route) or grouped into datasets, each with
// an upload task.
func (p *Planner) planAsync(ctx context.Context, spec Spec, res PlanResult) (PlanResult, error) {
	var ranges []input.Range
	err := p.split(ctx, spec, &res, func(r input.Range) error {
		ranges = append(ranges, r)
		res.Lines += int64(r.Lines)
		res.Records += int64(r.Records)
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Chunks = len(ranges)
	route, n, err := p.Store.AsyncRoute(ctx, spec.ID)
	if err != nil {
		return res, err
	}
	if route == "" {
		route = spec.asyncRoute(res.Records)
	}
	if route == "" {
		for i, r := range ranges {
			ok, err := p.enqueueChunk(ctx, spec.ID, i, r)
			if err != nil {
				return res, err
			}
			if ok {
				res.Enqueued++
			}
		}
	} else {
		if n == 0 {
			groups := groupRanges(ranges, p.Groups.withDefaults())
			if err := p.Store.SaveGroups(ctx, spec.ID, route, groups); err != nil {
				return res, err
			}
			n = len(groups)
		}
		for g := range n {
			k, err := p.resumeGroup(ctx, spec.ID, g)
			if err != nil {
				return res, err
			}
			res.Enqueued += k
		}
	}
	return res, p.planned(ctx, spec.ID, res)
}

// resumeGroup (re)starts a group whose chunks are not all done, from its
// recorded phase, and returns how many chunks it enqueued.
func (p *Planner) resumeGroup(ctx context.Context, job string, g int) (int, error) {
	def, err := p.Store.Group(ctx, job, g)
	if err != nil {
		return 0, err
	}
	var undone []int
	for i := range def.Ranges {
		done, err := p.Store.ChunkDone(ctx, job, def.First+i)
		if err != nil {
			return 0, err
		}
		if !done {
			undone = append(undone, i)
		}
	}
	if len(undone) == 0 {
		return 0, nil
	}
	st, err := p.Store.GroupState(ctx, job, g)
	if err != nil {
		return 0, err
	}
	switch st.Phase {
	case jobstore.PhaseFallback:
		// The remote job failed before: its chunks go the sync route again.
		k := 0
		for _, i := range undone {
			ok, err := p.enqueueChunk(ctx, job, def.First+i, def.Ranges[i])
			if err != nil {
				return k, err
			}
			if ok {
				k++
			}
		}
		return k, nil
	case jobstore.PhaseDone, jobstore.PhaseFailed, jobstore.PhaseCancelled:
		// A finished group whose chunks are not done belongs to an earlier
		// run (restarted, aborted or cancelled): it runs again.
		if err := p.Store.ResetGroup(ctx, job, g); err != nil {
			return 0, err
		}
	}
	// The upload task resumes from the recorded phase.
	if err := p.Queue.EnqueueUpload(ctx, job, g); err != nil {
		return 0, fmt.Errorf("enqueue upload of group %d: %w", g, err)
	}
	return len(undone), nil
}

// requeueChunk hands a chunk of the async route to the sync route, unless
// it is done; prewritten counts its records the async route wrote.
func (w *Worker) requeueChunk(ctx context.Context, job string, chunk int, r input.Range, prewritten int64) error {
	done, err := w.Store.ChunkDone(ctx, job, chunk)
	if err != nil || done {
		return err
	}
	if _, err := w.Queue.EnqueueChunk(ctx, ChunkPayload{Job: job, Chunk: chunk, Range: r, Prewritten: prewritten}); err != nil {
		return fmt.Errorf("enqueue chunk %d: %w", chunk, err)
	}
	return nil
}
