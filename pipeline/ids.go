package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
	"github.com/cobatch/cobatch/sinks"
)

// claimIDs claims ids for a chunk: an id not yet claimed becomes the
// chunk's; one the same chunk claimed before (a redelivery) stays its own;
// one another chunk claimed is returned with that chunk's file:line.
var claimIDs = redis.NewScript(`
local dups = {}
local own = ARGV[1] .. '|'
for i = 2, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if not old then
    redis.call('HSET', KEYS[1], ARGV[i], own .. ARGV[i+1])
  elseif string.sub(old, 1, #own) ~= own then
    local sep = string.find(old, '|', 1, true)
    dups[#dups+1] = ARGV[i]
    dups[#dups+1] = string.sub(old, sep + 1)
  end
end
return dups
`)

// idClaim is one record id a chunk claims, with where it stands.
type idClaim struct {
	ID, At string // At: file:line
}

// ClaimIDs claims record ids for a chunk job-wide, in one step, and returns
// those another chunk claimed first, each mapped to that chunk's file:line.
// The first chunk to claim an id keeps it whatever the number of its
// deliveries; the job's later occurrences are duplicates.
func (st *Store) ClaimIDs(ctx context.Context, job string, chunk int, claims []idClaim) (map[string]string, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+2*len(claims))
	args = append(args, strconv.Itoa(chunk))
	for _, c := range claims {
		args = append(args, c.ID, c.At)
	}
	res, err := claimIDs.Run(ctx, st.rdb, []string{keyspace.IDs(job)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim ids of chunk %d of job %s: %w", chunk, job, err)
	}
	dups := make(map[string]string, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		dups[res[i]] = res[i+1]
	}
	return dups, nil
}

// dropClaimedIDs claims the chunk's ids job-wide and moves those another
// chunk holds to out.Failed (see keepClaimed).
func (d *Deps) dropClaimedIDs(ctx context.Context, p ChunkPayload, items []item, out *sinks.Chunk) ([]item, error) {
	kept, failed, err := d.Store.keepClaimed(ctx, p.Job, p.Chunk, items)
	out.Failed = append(out.Failed, failed...)
	return kept, err
}

// keepClaimed claims items' ids for a chunk job-wide and returns those the
// chunk holds, with a dead letter naming the first occurrence for each of the
// others: a sink keeps one row per id, so a later record with the same id
// would overwrite it while both counted as written, and every later run
// would pay for one again. Both routes call it with the chunk's number, so
// a group's chunks (the async route) and their sync fallback agree.
func (st *Store) keepClaimed(ctx context.Context, job string, chunk int, items []item) ([]item, []sinks.Failure, error) {
	claims := make([]idClaim, len(items))
	for i, it := range items {
		claims[i] = idClaim{ID: it.rec.ID, At: it.rec.File + ":" + strconv.FormatInt(it.rec.Line, 10)}
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
