package jobstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
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

// IDClaim is one record id a chunk claims, with where it stands.
type IDClaim struct {
	ID, At string // At: file:line
}

// ClaimIDs claims record ids for a chunk job-wide, in one step, and returns
// those another chunk claimed first, each mapped to that chunk's file:line.
// The first chunk to claim an id keeps it whatever the number of its
// deliveries; the job's later occurrences are duplicates.
func (st *Store[S]) ClaimIDs(ctx context.Context, job string, chunk int, claims []IDClaim) (map[string]string, error) {
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
