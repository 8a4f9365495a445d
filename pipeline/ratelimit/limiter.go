package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix starts every Redis key the limiter writes; the API key's
// fingerprint and the endpoint follow it, never the key itself.
const KeyPrefix = "cobatch:rl:"

// embedMaxBatch is the most texts one embed call may carry, and so the
// largest single request the embed limiter must be able to grant.
const embedMaxBatch = 96

// pollEvery bounds how long a waiter holding a reservation goes without
// checking whether a 429 has voided it.
const pollEvery = time.Second

// Limiter paces one endpoint for one API key across every goroutine of every
// process that shares the Redis: a GCRA schedule in Redis, lowered on 429s
// and probed back up on successes (AIMD). Safe for concurrent use.
//
// Bound: on Redis's clock, the units granted in any window of length
// Limit.Per never exceed Limit.Count, provided no single Wait asks for more
// than Burst units (a larger request is granted, alone, once the bucket is
// full; the bound then grows by the excess). The price of the hard bound is
// the sustained rate: (Count − Burst)/Per at most, so that a full bucket
// spent at once plus a window's worth of steady grants still fits in Count.
type Limiter struct {
	rdb      redis.UniversalClient
	key      string
	fp       string
	endpoint string
	limit    Limit
	cfg      config

	maxRate   float64 // units/s
	floorRate float64
	step      float64
	ttlMS     int64

	rate      atomic.Uint64 // float64 bits of the last rate Redis reported
	lastProbe atomic.Int64  // unix ns of the last increase probe

	// onGrant, when set (by tests), sees each grant's time on Redis's clock.
	onGrant func(at time.Time, n int)
}

// Option changes a Limiter's configuration.
type Option func(*config)

type config struct {
	burst      int           // default: see WithBurst
	cooldown   time.Duration // default 1s
	decrease   float64       // default 0.7
	floor      float64       // default 0.1
	stepFrac   float64       // default 0.05
	probeEvery time.Duration // default Per/6, within [250ms, 30s]
	logger     *slog.Logger  // default: discards
}

// WithBurst sets how many units may be granted at once, which must be at
// least the largest batch a caller asks for. Default: 96 for "embed" (its
// largest batch), otherwise 1% of Count and at least 1. It is capped at half
// of Count, since the sustained rate is (Count − Burst)/Per.
func WithBurst(units int) Option { return func(c *config) { c.burst = units } }

// WithCooldown sets the shared pause after a 429. Default 1s; each 429 adds
// a random jitter of up to the same again, and a longer Retry-After wins.
func WithCooldown(d time.Duration) Option { return func(c *config) { c.cooldown = d } }

// WithDecrease sets the multiplicative decrease on a 429 (default 0.7) and
// the floor the rate never goes below, as a fraction of the maximum
// (default 0.1).
func WithDecrease(factor, floor float64) Option {
	return func(c *config) { c.decrease, c.floor = factor, floor }
}

// WithIncrease sets the additive increase while calls succeed: step is a
// fraction of the maximum rate (default 0.05), added at most once per every
// across all processes (default Per/6, kept within 250ms and 30s).
func WithIncrease(step float64, every time.Duration) Option {
	return func(c *config) { c.stepFrac, c.probeEvery = step, every }
}

// WithLogger sets where 429 reports and background failures are logged.
// Records carry the key fingerprint and endpoint only. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New returns the limiter for endpoint under the API key whose fingerprint
// (see KeyFingerprint) is apiKeyFP. Limiters built with the same fingerprint
// and endpoint on the same Redis share one schedule, whatever process they
// live in. New panics if limit's Count or Per is not positive: ParseLimits
// rejects such limits before they get here.
func New(rdb redis.UniversalClient, apiKeyFP, endpoint string, limit Limit, opts ...Option) *Limiter {
	if err := limit.validate(); err != nil {
		panic("ratelimit: New: " + err.Error())
	}
	cfg := config{
		burst:      defaultBurst(endpoint, limit),
		cooldown:   time.Second,
		decrease:   0.7,
		floor:      0.1,
		stepFrac:   0.05,
		probeEvery: min(max(limit.Per/6, 250*time.Millisecond), 30*time.Second),
		logger:     slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.burst = max(1, min(cfg.burst, limit.Count/2))
	if cfg.cooldown <= 0 {
		cfg.cooldown = time.Second
	}
	if cfg.decrease <= 0 || cfg.decrease >= 1 {
		cfg.decrease = 0.7
	}
	if cfg.floor <= 0 || cfg.floor > 1 {
		cfg.floor = 0.1
	}
	if cfg.stepFrac <= 0 {
		cfg.stepFrac = 0.05
	}
	if cfg.probeEvery <= 0 {
		cfg.probeEvery = time.Second
	}

	// With Count = 1 the burst is 1 too, and half a unit per period still
	// keeps the bound: fewer than 1.5 units, so 1, in any window.
	units := max(float64(limit.Count-cfg.burst), float64(limit.Count)/2)
	l := &Limiter{
		rdb:      rdb,
		key:      KeyPrefix + apiKeyFP + ":" + endpoint + ":state",
		fp:       apiKeyFP,
		endpoint: endpoint,
		limit:    limit,
		cfg:      cfg,
		maxRate:  units / limit.Per.Seconds(),
		ttlMS:    max(10*limit.Per, 10*time.Minute).Milliseconds(),
	}
	l.floorRate = l.maxRate * cfg.floor
	l.step = l.maxRate * cfg.stepFrac
	l.rate.Store(math.Float64bits(l.maxRate))
	return l
}

func defaultBurst(endpoint string, limit Limit) int {
	if endpoint == "embed" {
		return embedMaxBatch
	}
	return max(1, limit.Count/100)
}

// Limit is the configured limit.
func (l *Limiter) Limit() Limit { return l.limit }

// Burst is the most units granted at once (after capping, see WithBurst).
func (l *Limiter) Burst() int { return l.cfg.burst }

// MaxRate is the highest sustained rate in units/s: (Count − Burst)/Per.
func (l *Limiter) MaxRate() float64 { return l.maxRate }

// Rate is the current shared rate in units/s as last seen in Redis by this
// process; it costs no round trip.
func (l *Limiter) Rate() float64 { return math.Float64frombits(l.rate.Load()) }

func (l *Limiter) setRate(s string) {
	if r, err := strconv.ParseFloat(s, 64); err == nil && r > 0 {
		l.rate.Store(math.Float64bits(r))
	}
}

type reservation struct {
	reserved bool
	wait     time.Duration
	gen      string
	newTAT   string
	prevTAT  string
	at       int64 // grant time, µs on Redis's clock
}

// Wait blocks until n units may be spent now, and reports how long it
// waited. Requests queue in arrival order, so a large batch is not starved
// by small ones. If ctx ends first it returns ctx.Err() and hands its place
// back when nobody has queued behind it. n ≤ 0 returns at once.
func (l *Limiter) Wait(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	if n <= 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for {
		r, err := l.reserve(ctx, n)
		if err != nil {
			return time.Since(start), l.ctxErr(ctx, err)
		}
		if !r.reserved { // cool-down: nothing reserved, ask again after it
			if err := sleep(ctx, r.wait); err != nil {
				return time.Since(start), err
			}
			continue
		}
		valid, err := l.await(ctx, r)
		if err != nil {
			return time.Since(start), err
		}
		if valid {
			if l.onGrant != nil {
				l.onGrant(time.UnixMicro(r.at), n)
			}
			return time.Since(start), nil
		}
		// A 429 voided the reservation: queue again behind the cool-down.
	}
}

// await sleeps until the reservation's time, checking at least every
// pollEvery that no 429 has voided it. It reports whether it still holds.
func (l *Limiter) await(ctx context.Context, r reservation) (bool, error) {
	remaining := r.wait
	for remaining > 0 {
		d := min(remaining, pollEvery)
		if err := sleep(ctx, d); err != nil {
			l.cancel(ctx, r)
			return false, err
		}
		remaining -= d
		gen, err := l.rdb.HGet(ctx, l.key, "gen").Result()
		if errors.Is(err, redis.Nil) {
			gen, err = "0", nil
		}
		if err != nil {
			if ctx.Err() != nil {
				l.cancel(ctx, r)
			}
			return false, l.ctxErr(ctx, err)
		}
		if gen != r.gen {
			return false, nil
		}
	}
	return true, nil
}

func (l *Limiter) reserve(ctx context.Context, n int) (reservation, error) {
	res, err := reserveScript.Run(ctx, l.rdb, []string{l.key},
		n, formatRate(l.maxRate), l.cfg.burst, l.ttlMS).Slice()
	if err != nil {
		return reservation{}, fmt.Errorf("ratelimit: reserve: %w", err)
	}
	if len(res) != 7 {
		return reservation{}, fmt.Errorf("ratelimit: reserve: unexpected reply %v", res)
	}
	s := make([]string, len(res))
	for i, v := range res {
		s[i] = fmt.Sprint(v)
	}
	waitUS, err := strconv.ParseInt(s[1], 10, 64)
	if err != nil {
		return reservation{}, fmt.Errorf("ratelimit: reserve: wait %q: %w", s[1], err)
	}
	l.setRate(s[2])
	r := reservation{
		reserved: s[0] == "1",
		wait:     time.Duration(waitUS) * time.Microsecond,
		gen:      s[3],
		newTAT:   s[4],
		prevTAT:  s[5],
	}
	if r.reserved {
		r.at, _ = strconv.ParseInt(s[6], 10, 64)
	}
	return r, nil
}

// cancel returns an abandoned reservation. It runs on a context of its own
// because the caller's has ended, and only best effort: a place that cannot
// be returned is lost capacity, never extra.
func (l *Limiter) cancel(ctx context.Context, r reservation) {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer stop()
	if err := cancelScript.Run(cctx, l.rdb, []string{l.key}, r.newTAT, r.prevTAT, r.gen).Err(); err != nil {
		l.cfg.logger.Debug("ratelimit: cancel reservation", "key_fp", l.fp, "endpoint", l.endpoint, "err", err)
	}
}

// Throttled reports a 429. Every limiter sharing the schedule pauses for
// max(retryAfter, the cool-down plus jitter), reservations already handed
// out are voided, and the shared rate drops by the decrease factor (once per
// burst of 429s: further reports within the hold-off only extend the pause).
func (l *Limiter) Throttled(ctx context.Context, retryAfter time.Duration) error {
	cool := l.cfg.cooldown + rand.N(l.cfg.cooldown)
	cool = max(cool, retryAfter)
	holdoff := 2 * cool
	res, err := throttleScript.Run(ctx, l.rdb, []string{l.key},
		cool.Microseconds(), formatRate(l.maxRate), formatRate(l.floorRate),
		strconv.FormatFloat(l.cfg.decrease, 'f', -1, 64), holdoff.Microseconds(),
		l.cfg.burst, l.ttlMS).StringSlice()
	if err != nil {
		return fmt.Errorf("ratelimit: throttled: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("ratelimit: throttled: unexpected reply %v", res)
	}
	l.setRate(res[1])
	remaining, _ := strconv.ParseInt(res[0], 10, 64)
	l.cfg.logger.Info("rate limited: pausing", "key_fp", l.fp, "endpoint", l.endpoint,
		"cooldown", time.Duration(remaining)*time.Microsecond, "rate", l.Rate())
	return nil
}

// Succeeded reports a call the API accepted. While the shared rate is below
// the maximum it asks Redis, at most twice per increase interval per
// process, to add one step; at the maximum it costs nothing.
func (l *Limiter) Succeeded(ctx context.Context) {
	if l.Rate() >= l.maxRate {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastProbe.Load()
	if now-last < int64(l.cfg.probeEvery/2) || !l.lastProbe.CompareAndSwap(last, now) {
		return
	}
	res, err := probeScript.Run(ctx, l.rdb, []string{l.key},
		formatRate(l.maxRate), formatRate(l.step), l.cfg.probeEvery.Microseconds(), l.ttlMS).Text()
	if err != nil {
		l.cfg.logger.Debug("ratelimit: increase probe", "key_fp", l.fp, "endpoint", l.endpoint, "err", err)
		return
	}
	l.setRate(res)
}

func (l *Limiter) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'f', 9, 64) }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
