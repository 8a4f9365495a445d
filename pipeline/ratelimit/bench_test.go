package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/internal/testenv"
)

// callCounter counts the commands a client sends, scripts included.
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// BenchmarkLimiterEfficiency runs 8 workers, each on a client of its own as
// separate processes would be, asking for batches of 10 against 500 units/s
// on the real Redis for 3s, and reports the units granted as a fraction of
// the limit (achieved/ceiling), the busiest 1s window as a fraction of the
// limit (busiest/limit: above 1 means the API would have answered 429), and
// Redis commands per grant. The baseline, measured in the same run, is
// redis_rate's GCRA at the same rate and burst polled with its RetryAfter.
func BenchmarkLimiterEfficiency(b *testing.B) {
	const (
		workers = 8
		batch   = 10
		run     = 3 * time.Second
	)
	limit := Limit{Count: 500, Per: time.Second}

	measure := func(b *testing.B, wait func(rdb *redis.Client) func(ctx context.Context) error) {
		for b.Loop() {
			first := clientsOn(b, testenv.RedisURL(b))
			calls := &callCounter{}
			var mu sync.Mutex
			var grants []grant
			ctx, cancel := context.WithTimeout(context.Background(), run)
			var wg sync.WaitGroup
			for i := range workers {
				c := first
				if i > 0 {
					c = more(b, first)
				}
				c.AddHook(calls)
				w := wait(c)
				wg.Go(func() {
					for {
						if err := w(ctx); err != nil {
							if !errors.Is(err, context.DeadlineExceeded) {
								b.Errorf("wait: %v", err)
							}
							return
						}
						now := time.Now()
						mu.Lock()
						grants = append(grants, grant{now, batch})
						mu.Unlock()
					}
				})
			}
			start := time.Now()
			wg.Wait()
			cancel()
			log := &grantLog{grants: grants}
			gs := log.sorted()
			if len(gs) == 0 {
				b.Fatal("no grants")
			}
			got := unitsBetween(gs, start, start.Add(run))
			most, _ := maxInWindow(gs, limit.Per)
			b.ReportMetric(float64(got)/(limit.PerSecond()*run.Seconds()), "achieved/ceiling")
			b.ReportMetric(float64(most)/float64(limit.Count), "busiest/limit")
			b.ReportMetric(float64(calls.n.Load())/float64(len(gs)), "calls/grant")
		}
	}

	b.Run("ratelimit", func(b *testing.B) {
		measure(b, func(rdb *redis.Client) func(context.Context) error {
			l := New(rdb, "bench", "embed", limit)
			return func(ctx context.Context) error {
				g, err := l.Acquire(ctx, batch)
				if err == nil {
					g.Sent(ctx)
				}
				return err
			}
		})
	})
	b.Run("redis_rate_baseline", func(b *testing.B) {
		measure(b, func(rdb *redis.Client) func(context.Context) error {
			rl := redis_rate.NewLimiter(rdb)
			lim := redis_rate.Limit{Rate: limit.Count, Burst: batch, Period: limit.Per}
			return func(ctx context.Context) error {
				for {
					res, err := rl.AllowN(ctx, "bench:baseline", lim, batch)
					if err != nil {
						return err
					}
					if res.Allowed > 0 {
						return nil
					}
					if err := sleep(ctx, res.RetryAfter); err != nil {
						return err
					}
				}
			}
		})
	})
}
