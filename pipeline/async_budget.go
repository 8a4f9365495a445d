package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// A remote job is billed as a whole when it completes, so the budget cannot
// be checked call by call as on the sync route (mayCall). Instead each group
// reserves a bound on what its remote job will cost before the job is
// created: the dataset's bytes ÷ 4 as input tokens, and for chat the reply
// bound per record (Spec.replyBound) as output tokens. A group whose bound
// does not fit beside what was spent and what other running groups reserved
// waits for them to be billed; when nothing else is running and it still
// does not fit, the job stops before creating it.

// reservedLua sums the open reservations of the groups whose hashes are
// KEYS[from..]: reserved, not yet billed, and still in a remote phase.
const reservedLua = `
local function reserved(from)
  local pending = 0
  for i = from, #KEYS do
    local v = redis.call('HMGET', KEYS[i], 'reserve', 'billed', 'phase')
    if v[1] and not v[2] and (v[3] == 'validating' or v[3] == 'processing') then
      pending = pending + tonumber(v[1])
    end
  end
  return pending
end
`

// openReservations sums the open reservations of KEYS (groups' hashes),
// read at one instant; as a string, since Redis would truncate a number.
var openReservations = redis.NewScript(reservedLua + `
return tostring(reserved(1))
`)

// reserved is what a job's groups hold reserved for their remote jobs
// (USD): sync calls of the job may spend only beside it (mayCall).
func (st *Store) reserved(ctx context.Context, job string) (float64, error) {
	_, n, err := st.asyncRouteOf(ctx, job)
	if err != nil || n == 0 {
		return 0, err
	}
	keys := make([]string, n)
	for g := range n {
		keys[g] = keyspace.Group(job, g)
	}
	s, err := openReservations.Run(ctx, st.rdb, keys).Text()
	if err != nil {
		return 0, fmt.Errorf("budget reservations of %s: %w", job, err)
	}
	return strconv.ParseFloat(s, 64)
}

// reserveGroup is the atomic check and reservation: 1 reserved (or reserved
// before, by an earlier delivery), 0 wait for the groups still running, -1
// over the budget. A group's reservation counts until its remote job's bill
// is in the job's stats (billGroup) or it leaves the remote phases. What
// was spent is read here too: a bill added between a separate read and
// this check would be counted neither as spent nor as reserved.
//
// KEYS[1]: the job's stats; KEYS[2]: the group's hash; KEYS[3..]: the
// job's other groups' hashes. ARGV: the group's bound, the price per
// million input tokens (or per 1,000 search units), the price per million
// output tokens, -max-cost (USD).
var reserveGroup = redis.NewScript(reservedLua + `
if redis.call('HEXISTS', KEYS[2], 'reserve') == 1 then return 1 end
local x = redis.call('HMGET', KEYS[1], ARGV[5], ARGV[6], ARGV[7])
local spent = (tonumber(x[1]) or 0) / 1e6 * tonumber(ARGV[2]) + (tonumber(x[2]) or 0) / 1e3 * tonumber(ARGV[2])
  + (tonumber(x[3]) or 0) / 1e6 * tonumber(ARGV[3])
local pending = reserved(3)
if spent + pending + tonumber(ARGV[1]) <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], 'reserve', ARGV[1])
  return 1
end
if pending > 0 then return 0 end
return -1
`)

// billScript adds a remote job's bill to the job's stats once and, in the
// same step, ends the group's reservation: a failure leaves both undone,
// for the poll task to retry. 1: billed now; 0: billed before.
//
// KEYS[1]: the job's stats; KEYS[2]: the group's hash. ARGV: stat, amount,
// stat, amount, ...
var billScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], 'billed', 1) == 0 then return 0 end
for i = 1, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
`)

// billGroup adds a remote job's bill to the job's stats unless it was
// added before; billed says whether this call added it.
func (st *Store) billGroup(ctx context.Context, job string, g int, stats map[string]int64) (billed bool, err error) {
	var args []any
	for k, v := range stats {
		if v != 0 {
			args = append(args, k, v)
		}
	}
	n, err := billScript.Run(ctx, st.rdb, []string{keyspace.Stats(job), keyspace.Group(job, g)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("bill group %d of %s: %w", g, job, err)
	}
	return n == 1, nil
}

// groupBound is the most a group's remote job is expected to cost.
func groupBound(spec Spec, s spent, st GroupState) float64 {
	return Cost(s.price, (st.SentBytes+3)/4, 0) + Cost(s.priceOut, st.Sent*spec.replyBound(), 0)
}

// mayCreate is checked before a group's remote job is created: ok when its
// bound fits the budget (or the job has none). Not ok with a nil error:
// poll again later. A group that can never fit aborts the job.
func (w *Worker) mayCreate(ctx context.Context, spec Spec, st GroupState) (bool, error) {
	s, err := w.Store.spending(ctx, spec.ID)
	if err != nil {
		return false, err
	}
	if s.state == StateAborted || s.state == StateCancelled {
		return false, errStopped
	}
	if s.maxCost <= 0 {
		return true, nil
	}
	if st.SentBytes == 0 && st.DatasetID != "" {
		// Its size is recorded before the group moves on (sentAndOn in
		// async_upload.go): without it the bound would be $0 and reserve
		// nothing. Retried rather than created unchecked.
		return false, fmt.Errorf("budget of group %d: dataset %s has no recorded size", st.Group, st.DatasetID)
	}
	_, n, err := w.Store.asyncRouteOf(ctx, spec.ID)
	if err != nil {
		return false, err
	}
	keys := []string{keyspace.Stats(spec.ID), keyspace.Group(spec.ID, st.Group)}
	for g := range n {
		if g != st.Group {
			keys = append(keys, keyspace.Group(spec.ID, g))
		}
	}
	bound := groupBound(spec, s, st)
	r, err := reserveGroup.Run(ctx, w.Store.rdb, keys, bound, s.price, s.priceOut, s.maxCost,
		StatTokens, StatSearchUnits, StatOutputTokens).Int()
	if err != nil {
		return false, fmt.Errorf("budget of group %d: %w", st.Group, err)
	}
	switch r {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	if s, err = w.Store.spending(ctx, spec.ID); err != nil {
		return false, err
	}
	spentUSD := Cost(s.price, s.tokens, s.units) + Cost(s.priceOut, s.outTokens, 0)
	reason := fmt.Sprintf("budget: spent %s of -max-cost %s; the %s of group %d (%d records, up to ~%s) would exceed it (records written so far are kept; raise -max-cost and run the same command to resume)",
		USD(spentUSD), USD(s.maxCost), RemoteKind(st.Route), st.Group, st.Sent, USD(bound))
	return false, w.abort(ctx, spec.ID, reason)
}
