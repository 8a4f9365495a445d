package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// dropClaimedIDs claims the chunk's ids job-wide and moves those another
// chunk holds to out.Failed (see keepClaimed).
func (d *Deps) dropClaimedIDs(ctx context.Context, p ChunkPayload, items []item, out *sinks.Chunk) ([]item, error) {
	kept, failed, err := keepClaimed(ctx, d.Store, p.Job, p.Chunk, items)
	out.Failed = append(out.Failed, failed...)
	return kept, err
}

// keepClaimed claims items' ids for a chunk job-wide and returns those the
// chunk holds, with a dead letter naming the first occurrence for each of the
// others: a sink keeps one row per id, so a later record with the same id
// would overwrite it while both counted as written, and every later run
// would pay for one again. Both routes call it with the chunk's number, so
// a group's chunks (the async route) and their sync fallback agree.
func keepClaimed(ctx context.Context, st *Store, job string, chunk int, items []item) ([]item, []sinks.Failure, error) {
	claims := make([]jobstore.IDClaim, len(items))
	for i, it := range items {
		claims[i] = jobstore.IDClaim{ID: it.rec.ID, At: it.rec.File + ":" + strconv.FormatInt(it.rec.Line, 10)}
	}
	dups, err := st.ClaimIDs(ctx, job, chunk, claims)
	if err != nil || len(dups) == 0 {
		return items, nil, err
	}
	var failed []sinks.Failure
	kept := items[:0]
	for _, it := range items {
		if at, dup := dups[it.rec.ID]; dup {
			failed = append(failed, failure(it.rec, fmt.Sprintf("duplicate id %q (first at %s)", it.rec.ID, at)))
			continue
		}
		kept = append(kept, it)
	}
	return kept, failed, nil
}
