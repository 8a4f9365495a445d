package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// Limiter paces one endpoint for one API key across every goroutine of every
// process that shares the Redis, with a sliding-window log of grants that
// matches the API's own window. Safe for concurrent use.
//
// Bound: at any moment, the units of every grant that is in flight or came
// back less than Limit.Per ago never exceed the limit in force. A call
// reaches the API between its grant and its return, so no window of the
// API's holds more than the limit either, whatever the calls' latency. A
// fresh limiter starts with the whole window's budget, and a grant that
// never reached the API (Grant.Unused, Grant.Throttled) gives its units back
// at once.
//
// The limit in force is the configured one until the API answers 429: the
// units the API saw in the window then become the learned limit, kept in
// Redis per API key fingerprint (see WithMemory) so the next job starts at
// it, and raised a step per interval while calls succeed (see WithIncrease).
type Limiter struct {
	rdb      redis.UniversalClient
	keys     []string // log, flight, state
	fp       string
	endpoint string
	limit    Limit
	cfg      config

	winUS, leaseUS   int64
	keyTTL, stateTTL int64 // ms
	step, floor      int
	current          atomic.Int64                                     // the limit in force as last seen in Redis
	lastProbe        atomic.Int64                                     // unix ns of this process's last increase probe
	onGrant          func(at time.Time, n int)                        // tests: each grant's time on Redis's clock
	sleep            func(ctx context.Context, d time.Duration) error // tests may advance a fake clock instead
	now              func() time.Time                                 // and read it here
	jitter           func(d time.Duration) time.Duration              // random in [0, d); tests use none
}

// Option changes a Limiter's configuration.
type Option func(*config)

type config struct {
	cooldown   time.Duration // default 250ms
	decrease   float64       // default 0.5
	floor      float64       // default 0.1
	stepFrac   float64       // default 0.02
	probeEvery time.Duration // default Per
	lease      time.Duration // default 2m
	memory     time.Duration // default 30 days
	logger     *slog.Logger  // default: discards
}

// WithCooldown sets the shared pause after a 429 that teaches the limit
// (default 250ms, plus a random jitter of up to the same again). It doubles
// with each further such 429 before the API takes a call again, up to 64
// times or the limit's period, whichever is shorter, so a key that is
// refused whatever the load is probed, not hammered.
func WithCooldown(d time.Duration) Option { return func(c *config) { c.cooldown = d } }

// WithDecrease bounds what one 429 may teach: the learned limit is the units
// the API saw in its window, but no less than factor × the limit in force
// (default 0.5) nor floor × the configured count (default 0.1).
func WithDecrease(factor, floor float64) Option {
	return func(c *config) { c.decrease, c.floor = factor, floor }
}

// WithIncrease sets how a learned limit grows back while calls succeed: by
// step × the configured count (default 0.02), at most once per every across
// all processes (default: the limit's period).
func WithIncrease(step float64, every time.Duration) Option {
	return func(c *config) { c.stepFrac, c.probeEvery = step, every }
}

// WithLease sets how long a grant may stay in flight before it is counted
// as sent at the lease's end (a process that died mid-call never reports
// back). Default 2 minutes; it should exceed the client's call timeout.
func WithLease(d time.Duration) Option { return func(c *config) { c.lease = d } }

// WithMemory sets how long a learned limit is kept in Redis after the last
// 429 that taught it. Default 30 days.
func WithMemory(d time.Duration) Option { return func(c *config) { c.memory = d } }

// WithLogger sets where 429 reports and background failures are logged.
// Records carry the key fingerprint and endpoint only. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New returns the limiter for endpoint under the API key whose fingerprint
// (see KeyFingerprint) is apiKeyFP. Limiters built with the same fingerprint
// and endpoint on the same Redis share one window, whatever process they
// live in. New panics if limit's Count or Per is not positive: ParseLimits
// rejects such limits before they get here.
func New(rdb redis.UniversalClient, apiKeyFP, endpoint string, limit Limit, opts ...Option) *Limiter {
	if err := limit.validate(); err != nil {
		panic("ratelimit: New: " + err.Error())
	}
	cfg := config{
		cooldown:   250 * time.Millisecond,
		decrease:   0.5,
		floor:      0.1,
		stepFrac:   0.02,
		probeEvery: limit.Per,
		lease:      2 * time.Minute,
		memory:     30 * 24 * time.Hour,
		logger:     slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.cooldown <= 0 {
		cfg.cooldown = 250 * time.Millisecond
	}
	if cfg.decrease <= 0 || cfg.decrease >= 1 {
		cfg.decrease = 0.5
	}
	if cfg.floor <= 0 || cfg.floor > 1 {
		cfg.floor = 0.1
	}
	if cfg.stepFrac <= 0 {
		cfg.stepFrac = 0.02
	}
	if cfg.probeEvery <= 0 {
		cfg.probeEvery = limit.Per
	}
	if cfg.lease <= 0 {
		cfg.lease = 2 * time.Minute
	}
	if cfg.memory <= 0 {
		cfg.memory = 30 * 24 * time.Hour
	}
	logKey, flightKey, stateKey := keyspace.Limiter(apiKeyFP, endpoint)
	l := &Limiter{
		rdb:      rdb,
		keys:     []string{logKey, flightKey, stateKey},
		fp:       apiKeyFP,
		endpoint: endpoint,
		limit:    limit,
		cfg:      cfg,
		winUS:    limit.Per.Microseconds(),
		leaseUS:  cfg.lease.Microseconds(),
		keyTTL:   (limit.Per + cfg.lease + time.Minute).Milliseconds(),
		stateTTL: cfg.memory.Milliseconds(),
		step:     max(1, int(float64(limit.Count)*cfg.stepFrac)),
		floor:    max(1, int(float64(limit.Count)*cfg.floor)),
		sleep:    sleep,
		now:      time.Now,
		jitter:   func(d time.Duration) time.Duration { return rand.N(d) },
	}
	l.current.Store(int64(limit.Count))
	return l
}

// Keys returns the Redis keys of the limiter: log, flight and state.
func (l *Limiter) Keys() []string { return append([]string(nil), l.keys...) }

// Limit is the configured limit.
func (l *Limiter) Limit() Limit { return l.limit }

// Current is the limit in force as this process last saw it in Redis: the
// configured one, or lower once learned from 429s. It costs no round trip.
func (l *Limiter) Current() Limit { return Limit{Count: int(l.current.Load()), Per: l.limit.Per} }

// MaxRate is the configured limit in units/s: a fresh window's whole budget
// is granted at once, and a full window sustains Count/Per.
func (l *Limiter) MaxRate() float64 { return l.limit.PerSecond() }

// Rate is the limit in force in units/s (see Current).
func (l *Limiter) Rate() float64 { return l.Current().PerSecond() }

func (l *Limiter) setCurrent(s string) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		l.current.Store(n)
	}
}

// Grant is n units granted to one call. Report how the call ended with
// exactly one of Sent, Unused or Throttled; later reports do nothing. A
// grant never reported is counted as sent when its lease ends.
type Grant struct {
	// Waited is how long Acquire waited for the units.
	Waited time.Duration

	l      *Limiter
	member string
	lgen   string
	n      int
	done   atomic.Bool
}

// Acquire blocks until n units may be spent now and returns their grant,
// counted as in flight until it is reported. If ctx ends first it returns
// ctx.Err() and holds nothing. n ≤ 0 returns a grant of nothing at once.
func (l *Limiter) Acquire(ctx context.Context, n int) (*Grant, error) {
	return l.AcquireUpTo(ctx, n, n)
}

// AcquireUpTo is Acquire for a call that can carry fewer units than n: once
// the window has room for least units it grants up to n of them (Units says
// how many). A call sized to the grant fills every window to the limit,
// where calls of a fixed size leave the window's last few units idle.
func (l *Limiter) AcquireUpTo(ctx context.Context, n, least int) (*Grant, error) {
	start := time.Now()
	if n <= 0 {
		g := &Grant{l: l}
		g.done.Store(true)
		return g, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := acquireScript.Run(ctx, l.rdb, l.keys,
			l.winUS, n, l.limit.Count, l.leaseUS, l.keyTTL, l.stateTTL, max(least, 1)).StringSlice()
		if err != nil {
			return nil, l.ctxErr(ctx, fmt.Errorf("ratelimit: acquire: %w", err))
		}
		if len(res) != 5 {
			return nil, fmt.Errorf("ratelimit: acquire: unexpected reply %v", res)
		}
		l.setCurrent(res[2])
		if res[0] == "1" {
			_, units, _ := strings.Cut(res[1], ":")
			granted, err := strconv.Atoi(units)
			if err != nil || granted <= 0 || granted > n {
				return nil, fmt.Errorf("ratelimit: acquire: unexpected grant %q", res[1])
			}
			if l.onGrant != nil {
				at, _ := strconv.ParseInt(res[4], 10, 64)
				l.onGrant(time.UnixMicro(at), granted)
			}
			return &Grant{Waited: time.Since(start), l: l, member: res[1], lgen: res[3], n: granted}, nil
		}
		waitUS, err := strconv.ParseInt(res[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: acquire: wait %q: %w", res[1], err)
		}
		if err := l.sleep(ctx, time.Duration(waitUS)*time.Microsecond); err != nil {
			return nil, err
		}
	}
}

// Units is the number of units granted.
func (g *Grant) Units() int { return g.n }

// Sent reports a call the API took and answered (anything but a 429 or a
// failure before the API counted it): its units stay in the window until a
// window from now. While the limit in force is a learned one, it also asks
// Redis, at most twice per increase interval per process, to raise it a
// step.
func (g *Grant) Sent(ctx context.Context) {
	if !g.done.CompareAndSwap(false, true) {
		return
	}
	g.l.finish(ctx, g.member, true)
	g.l.Succeeded(ctx)
}

// Unused reports a call that never counted against the API's limit: it was
// not sent, or failed before the API took it (a connection reset, a 5xx).
// Its units are free again at once.
func (g *Grant) Unused(ctx context.Context) {
	if !g.done.CompareAndSwap(false, true) {
		return
	}
	g.l.finish(ctx, g.member, false)
}

// Throttled reports that the API answered the call 429: its units are free
// again (the API did not count it), and, unless the limit in force changed
// since the grant, the limit is learned from what the window held (see
// Limiter). A Retry-After longer than the window pauses every grant.
func (g *Grant) Throttled(ctx context.Context, retryAfter time.Duration) error {
	if !g.done.CompareAndSwap(false, true) {
		return nil
	}
	return g.l.throttled(ctx, g.member, g.lgen, retryAfter)
}

// finish runs on a context of its own, since the caller's may have ended
// with the call, and only best effort: a report that is lost leaves the
// grant to its lease, which only ever costs capacity.
func (l *Limiter) finish(ctx context.Context, member string, sent bool) {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	s := "0"
	if sent {
		s = "1"
	}
	if err := doneScript.Run(cctx, l.rdb, l.keys, l.winUS, member, s, l.keyTTL).Err(); err != nil {
		l.cfg.logger.Debug("ratelimit: report grant", "key_fp", l.fp, "endpoint", l.endpoint, "err", err)
	}
}

func (l *Limiter) throttled(ctx context.Context, member, lgen string, retryAfter time.Duration) error {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	cool := l.cfg.cooldown + l.jitter(l.cfg.cooldown)
	res, err := throttleScript.Run(cctx, l.rdb, l.keys,
		l.winUS, member, lgen, l.limit.Count, strconv.FormatFloat(l.cfg.decrease, 'f', -1, 64),
		l.floor, retryAfter.Microseconds(), l.keyTTL, l.stateTTL,
		cool.Microseconds(), min(64*l.cfg.cooldown, l.limit.Per).Microseconds()).StringSlice()
	if err != nil {
		return fmt.Errorf("ratelimit: throttled: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("ratelimit: throttled: unexpected reply %v", res)
	}
	l.setCurrent(res[0])
	l.cfg.logger.Info("rate limited", "key_fp", l.fp, "endpoint", l.endpoint,
		"limit", l.Current().String(), "retry_after", retryAfter)
	return nil
}

// Succeeded reports a call the API accepted. While the limit in force is a
// learned one it asks Redis, at most twice per increase interval per
// process, to raise it a step; at the configured limit it costs nothing.
func (l *Limiter) Succeeded(ctx context.Context) {
	if l.current.Load() >= int64(l.limit.Count) {
		return
	}
	now := l.now().UnixNano()
	last := l.lastProbe.Load()
	if now-last < int64(l.cfg.probeEvery/2) || !l.lastProbe.CompareAndSwap(last, now) {
		return
	}
	res, err := probeScript.Run(ctx, l.rdb, l.keys[2:], l.limit.Count, l.step,
		l.cfg.probeEvery.Microseconds(), l.stateTTL).Text()
	if err != nil {
		l.cfg.logger.Debug("ratelimit: increase probe", "key_fp", l.fp, "endpoint", l.endpoint, "err", err)
		return
	}
	l.setCurrent(res)
}

func (l *Limiter) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

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
