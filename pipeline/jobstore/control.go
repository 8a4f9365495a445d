package jobstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// lastErrors is how many error messages a job keeps for its status.
const lastErrors = 10

// JobError is one of the last errors a job met.
type JobError struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// RecordError keeps msg among the job's last errors. It never fails the
// caller: the list is for people reading the status.
func (st *Store[S]) RecordError(ctx context.Context, id, msg string) {
	b, _ := json.Marshal(JobError{At: time.Now().UTC(), Message: msg})
	pipe := st.rdb.Pipeline()
	pipe.LPush(ctx, keyspace.Errors(id), b)
	pipe.LTrim(ctx, keyspace.Errors(id), 0, lastErrors-1)
	_, _ = pipe.Exec(context.WithoutCancel(ctx))
}

// LastErrors returns the job's last errors, newest first.
func (st *Store[S]) LastErrors(ctx context.Context, id string) ([]JobError, error) {
	raw, err := st.rdb.LRange(ctx, keyspace.Errors(id), 0, lastErrors-1).Result()
	if err != nil {
		return nil, fmt.Errorf("last errors of %s: %w", id, err)
	}
	out := make([]JobError, 0, len(raw))
	for _, r := range raw {
		var e JobError
		if json.Unmarshal([]byte(r), &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// Jobs returns the ids of the jobs Redis knows, sorted.
func (st *Store[S]) Jobs(ctx context.Context) ([]string, error) {
	ids, err := st.rdb.SMembers(ctx, keyspace.Jobs).Result()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Cancel moves a job to cancelled: workers check the state before every API
// call, so no new call starts, and a running chunk stops at its next call
// without recording anything.
func (st *Store[S]) Cancel(ctx context.Context, id string) error {
	if _, err := st.Spec(ctx, id); err != nil {
		return err
	}
	return st.SetState(ctx, id, StateCancelled, "cancelled by user", false)
}

// reopenFailed takes back, in one step, every recorded chunk that has dead
// letters: its counts leave the totals, its dead letters leave the list and
// it is no longer done. A chunk recorded without its own dead letters list
// is left alone, since its dead letters could not be taken back exactly.
var reopenFailed = redis.NewScript(`
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local c = all[i]
  local r = cjson.decode(all[i+1])
  local dl = redis.call('HGET', KEYS[4], c)
  if (tonumber(r.failed) or 0) > 0 and dl then
    for _, f in ipairs({'written', 'skipped', 'failed'}) do
      local v = tonumber(r[f]) or 0
      if v ~= 0 then redis.call('HINCRBY', KEYS[2], f, -v) end
    end
    redis.call('HINCRBY', KEYS[2], 'chunks_done', -1)
    for _, s in ipairs(cjson.decode(dl)) do redis.call('LREM', KEYS[3], 1, s) end
    redis.call('HDEL', KEYS[4], c)
    redis.call('HDEL', KEYS[1], c)
    out[#out+1] = c
    out[#out+1] = tonumber(r.written) or 0
  end
end
return out
`)

// ReopenFailed reopens the chunks of a job that dead-lettered records, and
// returns, by chunk, the records each had written: a retried chunk finds
// those unchanged in the sink and must count them written again, not skipped.
func (st *Store[S]) ReopenFailed(ctx context.Context, id string) (map[int]int64, error) {
	res, err := reopenFailed.Run(ctx, st.rdb, []string{keyspace.Done(id), keyspace.Totals(id), keyspace.Dead(id), keyspace.DeadChunks(id)}).Slice()
	if err != nil {
		return nil, fmt.Errorf("reopen failed chunks of %s: %w", id, err)
	}
	out := make(map[int]int64, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		c, _ := strconv.Atoi(fmt.Sprint(res[i]))
		n, _ := res[i+1].(int64)
		out[c] = n
	}
	return out, nil
}
