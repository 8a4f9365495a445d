package jobstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

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

// Reserved is what a job's groups hold reserved for their remote jobs
// (USD): sync calls of the job may spend only beside it (pipeline/budget.go).
func (st *Store[S]) Reserved(ctx context.Context, job string) (float64, error) {
	_, n, err := st.AsyncRoute(ctx, job)
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
// is in the job's stats (BillGroup) or it leaves the remote phases. What
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

// ReserveGroup reserves bound (USD) for group g of a job, as reserveGroup
// decides: 1 reserved, 0 wait for the groups still running, -1 over the
// budget.
func (st *Store[S]) ReserveGroup(ctx context.Context, job string, g int, bound float64, p Pricing) (int, error) {
	_, groups, err := st.AsyncRoute(ctx, job)
	if err != nil {
		return 0, err
	}
	keys := []string{keyspace.Stats(job), keyspace.Group(job, g)}
	for o := range groups {
		if o != g {
			keys = append(keys, keyspace.Group(job, o))
		}
	}
	r, err := reserveGroup.Run(ctx, st.rdb, keys, bound, p.Price, p.PriceOut, p.MaxCost, StatTokens, StatSearchUnits, StatOutputTokens).Int()
	if err != nil {
		return 0, fmt.Errorf("budget of group %d: %w", g, err)
	}
	return r, nil
}

// addOnce adds to the job's stats once per marker of a group, and sets the
// marker in the same step: a failure leaves both undone, for the task to
// retry. 1: added now; 0: added before.
//
// KEYS[1]: the job's stats; KEYS[2]: the group's hash. ARGV: the marker,
// then stat, amount, stat, amount, ...
var addOnce = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], ARGV[1], 1) == 0 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
`)

// BillGroup adds a remote job's bill to the job's stats unless it was
// added before; billed says whether this call added it. The bill ends the
// group's reservation (reserveGroup reads its marker, "billed").
func (st *Store[S]) BillGroup(ctx context.Context, job string, g int, stats map[string]int64) (billed bool, err error) {
	billed, err = st.AddStatsOnce(ctx, job, g, "billed", stats)
	if err != nil {
		return false, fmt.Errorf("bill group %d of %s: %w", g, job, err)
	}
	return billed, nil
}

// AddStatsOnce adds stats to the job's once per marker of group g, however
// often the task that adds them runs; added says whether this call did.
func (st *Store[S]) AddStatsOnce(ctx context.Context, job string, g int, marker string, stats map[string]int64) (added bool, err error) {
	args := []any{marker}
	for k, v := range stats {
		if v != 0 {
			args = append(args, k, v)
		}
	}
	n, err := addOnce.Run(ctx, st.rdb, []string{keyspace.Stats(job), keyspace.Group(job, g)}, args...).Int()
	return n == 1, err
}

// Pricing is the budget workers enforce for a job, in USD: its prices per
// million input tokens (or per 1,000 search units) and per million output
// tokens, and its -max-cost (0: none).
type Pricing struct {
	Price, PriceOut, MaxCost float64
}

// SetBudget stores the budget workers enforce for a job.
func (st *Store[S]) SetBudget(ctx context.Context, id string, p Pricing) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	err := st.rdb.HSet(ctx, keyspace.Job(id), "price", f(p.Price), "max_cost", f(p.MaxCost), "price_out", f(p.PriceOut)).Err()
	if err != nil {
		return fmt.Errorf("store budget of %s: %w", id, err)
	}
	return nil
}

// Spent is what the budget check before each call reads of a job: its state, budget and spending.
type Spent struct {
	State string
	Pricing
	Tokens, Units, Calls int64
	OutTokens            int64 // chat: billed output tokens
}

// Spending reads a job's state, budget and spending in one round trip.
func (st *Store[S]) Spending(ctx context.Context, job string) (Spent, error) {
	pipe := st.rdb.Pipeline()
	j := pipe.HMGet(ctx, keyspace.Job(job), "state", "max_cost", "price", "price_out")
	x := pipe.HMGet(ctx, keyspace.Stats(job), StatTokens, StatSearchUnits, StatCalls, StatOutputTokens)
	if _, err := pipe.Exec(ctx); err != nil {
		return Spent{}, err
	}
	str := func(v any) string { s, _ := v.(string); return s }
	f := func(v any) float64 { x, _ := strconv.ParseFloat(str(v), 64); return x }
	n := func(v any) int64 { i, _ := strconv.ParseInt(str(v), 10, 64); return i }
	jv, xv := j.Val(), x.Val()
	return Spent{State: str(jv[0]), Pricing: Pricing{MaxCost: f(jv[1]), Price: f(jv[2]), PriceOut: f(jv[3])},
		Tokens: n(xv[0]), Units: n(xv[1]), Calls: n(xv[2]), OutTokens: n(xv[3])}, nil
}
