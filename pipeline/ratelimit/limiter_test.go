package ratelimit

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiters returns n limiters for the same key and endpoint, each on a
// go-redis client of its own, all logging grants to log.
func limiters(t *testing.T, b backend, n int, limit Limit, log *grantLog, opts ...Option) ([]*Limiter, *redis.Client) {
	t.Helper()
	first := b.newClient(t)
	out := make([]*Limiter, n)
	for i := range out {
		c := first
		if i > 0 {
			c = more(t, first)
		}
		out[i] = New(c, "fp0123456789abcd", "embed", limit, opts...)
		if log != nil {
			out[i].onGrant = log.hook
		}
	}
	return out, first
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-6*math.Max(1, want) }

// TestSharedThroughput: four processes' worth of limiters, two workers each,
// asking for batches of 10 against 200 units/2s. Guaranteed: at most 200 units in any 2s window
// on Redis's clock (every batch is within the burst of 10), and a sustained
// (200−10)/2s = 95 units/s, which is 95% of the limit; asserted ≥ 90%.
func TestSharedThroughput(t *testing.T) {
	t.Parallel()
	const (
		batch = 10
		run   = 6 * time.Second
	)
	limit := Limit{Count: 200, Per: 2 * time.Second}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			log := &grantLog{}
			lims, _ := limiters(t, b, 4, limit, log, WithBurst(batch))
			ctx, cancel := context.WithTimeout(t.Context(), run+500*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			// Two workers per limiter keep places queued ahead, so a stalled
			// goroutine on a loaded machine does not leave the schedule idle.
			for _, l := range append(lims, lims...) {
				wg.Go(func() {
					for {
						if _, err := l.Wait(ctx, batch); err != nil {
							if !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("Wait: %v", err)
							}
							return
						}
					}
				})
			}
			wg.Wait()

			gs := log.sorted()
			if len(gs) == 0 {
				t.Fatal("no grants")
			}
			for _, g := range gs {
				if g.n != batch {
					t.Fatalf("grant of %d units, want %d", g.n, batch)
				}
			}
			most, at := maxInWindow(gs, limit.Per)
			if most > limit.Count {
				t.Errorf("%d units granted in the %s window from %s, limit %d", most, limit.Per, at.Format(time.StampMicro), limit.Count)
			}
			got := unitsBetween(gs, gs[0].at, gs[0].at.Add(run))
			ceiling := limit.Count * int(run/limit.Per)
			if got < ceiling*9/10 {
				t.Errorf("%d units granted in %s, want ≥ 90%% of %d", got, run, ceiling)
			}
			if early := log.early.Load(); early > 0 {
				t.Errorf("%d waits returned before their grant time", early)
			}
			t.Logf("%d units in %s = %.1f%% of the limit; busiest window %d/%d", got, run, 100*float64(got)/float64(ceiling), most, limit.Count)
		})
	}
}

// TestThrottled: one report pauses every limiter for the cool-down and
// lowers the shared rate once; successes then raise it a step per interval,
// shared across processes, back to the maximum and no further.
func TestThrottled(t *testing.T) {
	t.Parallel()
	const (
		cooldown = 300 * time.Millisecond
		every    = 200 * time.Millisecond
	)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			lims, _ := limiters(t, b, 4, Limit{Count: 200, Per: 2 * time.Second}, nil,
				WithBurst(10), WithCooldown(cooldown), WithIncrease(0.05, every))
			maxRate := lims[0].MaxRate()
			if maxRate != 95 {
				t.Fatalf("MaxRate() = %v, want 95 units/s", maxRate)
			}
			for _, l := range lims {
				if _, err := l.Wait(ctx, 10); err != nil {
					t.Fatal(err)
				}
			}

			throttledAt := time.Now()
			if err := lims[0].Throttled(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if got := lims[0].Rate(); !near(got, 0.7*maxRate) {
				t.Fatalf("Rate() after a 429 = %v, want %v", got, 0.7*maxRate)
			}
			// A second 429 from the same burst only extends the pause.
			if err := lims[1].Throttled(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if got := lims[1].Rate(); !near(got, 0.7*maxRate) {
				t.Fatalf("Rate() after a second 429 within the hold-off = %v, want %v", got, 0.7*maxRate)
			}

			var wg sync.WaitGroup
			for i, l := range lims {
				wg.Go(func() {
					waited, err := l.Wait(ctx, 1)
					if err != nil {
						t.Errorf("limiter %d: Wait: %v", i, err)
						return
					}
					if waited < cooldown-10*time.Millisecond {
						t.Errorf("limiter %d waited %s, want ≥ the %s cool-down", i, waited, cooldown)
					}
					if got := l.Rate(); !near(got, 0.7*maxRate) {
						t.Errorf("limiter %d: Rate() = %v, want the shared %v", i, got, 0.7*maxRate)
					}
				})
			}
			wg.Wait()

			// Probe back up: every limiter reports successes; the rate must
			// climb in single steps of 5% of the maximum, shared, so it takes
			// the cool-down plus six intervals whatever the number of processes.
			deadline := time.Now().Add(10 * time.Second)
			last := make([]float64, len(lims))
			for i := range last {
				last[i] = 0.7 * maxRate
			}
			for lims[0].Rate() < maxRate || lims[3].Rate() < maxRate {
				if time.Now().After(deadline) {
					t.Fatalf("rate still %v after 10s of successes, want %v", lims[0].Rate(), maxRate)
				}
				for i, l := range lims {
					l.Succeeded(ctx)
					r := l.Rate()
					steps := (r/maxRate - 0.7) / 0.05
					switch {
					case r > maxRate:
						t.Fatalf("limiter %d: Rate() = %v above the maximum %v", i, r, maxRate)
					case r < last[i]:
						t.Fatalf("limiter %d: Rate() fell from %v to %v on success", i, last[i], r)
					case math.Abs(steps-math.Round(steps)) > 1e-4:
						t.Fatalf("limiter %d: Rate() = %v is not 0.7 of the maximum plus whole steps", i, r)
					}
					last[i] = r
				}
				time.Sleep(10 * time.Millisecond)
			}
			if took, least := time.Since(throttledAt), cooldown+5*every; took < least {
				t.Fatalf("rate recovered in %s, want ≥ %s (one step per interval across all limiters)", took, least)
			}
			for range 5 {
				for _, l := range lims {
					l.Succeeded(ctx)
				}
			}
			if _, err := lims[2].Wait(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if got := lims[2].Rate(); got != maxRate {
				t.Fatalf("Rate() after recovery = %v, want %v", got, maxRate)
			}
		})
	}
}

// TestThrottledFloor: repeated 429s past the hold-off keep multiplying the
// rate down, but never below the floor.
func TestThrottledFloor(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			lims, _ := limiters(t, b, 1, Limit{Count: 100, Per: time.Second}, nil,
				WithBurst(1), WithCooldown(5*time.Millisecond), WithDecrease(0.5, 0.2))
			l := lims[0]
			want := []float64{0.5, 0.25, 0.2, 0.2}
			for i, w := range want {
				// The hold-off is twice the cool-down: at most 20ms here.
				time.Sleep(30 * time.Millisecond)
				if err := l.Throttled(t.Context(), 0); err != nil {
					t.Fatal(err)
				}
				if got := l.Rate(); !near(got, w*l.MaxRate()) {
					t.Fatalf("after 429 #%d: Rate() = %v, want %v", i+1, got, w*l.MaxRate())
				}
			}
		})
	}
}

// TestThrottledVoidsReservations: a waiter already holding a place in the
// schedule does not proceed inside a cool-down that began after it queued.
func TestThrottledVoidsReservations(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			log := &grantLog{}
			// 15 units/s: a batch of 5 behind another is due 333ms later,
			// before the cool-down (≥ 300ms from 50ms on) would end.
			lims, rdb := limiters(t, b, 2, Limit{Count: 20, Per: time.Second}, log,
				WithBurst(5), WithCooldown(300*time.Millisecond))
			if _, err := lims[0].Wait(ctx, 5); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := lims[1].Wait(ctx, 5)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			if err := lims[0].Throttled(ctx, 0); err != nil {
				t.Fatal(err)
			}
			coolS, err := rdb.HGet(ctx, lims[0].key, "cool").Result()
			if err != nil {
				t.Fatal(err)
			}
			coolUS, _ := strconv.ParseInt(coolS, 10, 64)
			coolEnd := time.UnixMicro(coolUS)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			gs := log.sorted()
			if len(gs) != 2 || gs[1].n != 5 {
				t.Fatalf("grants = %v, want two of 5 units", gs)
			}
			if gs[1].at.Before(coolEnd) {
				t.Fatalf("batch granted at %s, inside the cool-down ending %s", gs[1].at.Format(time.StampMicro), coolEnd.Format(time.StampMicro))
			}
		})
	}
}

// TestWaitLargerThanBurst: a batch above the burst still gets through, in
// turn, while small requests keep arriving, and the schedule charges it in
// full.
func TestWaitLargerThanBurst(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			log := &grantLog{}
			limit := Limit{Count: 100, Per: time.Second}
			lims, _ := limiters(t, b, 4, limit, log, WithBurst(5))
			if got := lims[0].Burst(); got != 5 {
				t.Fatalf("Burst() = %d, want 5", got)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, l := range lims[1:] {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := l.Wait(ctx, 1); err != nil {
							t.Errorf("small Wait: %v", err)
							return
						}
					}
				})
			}
			time.Sleep(100 * time.Millisecond)
			if _, err := lims[0].Wait(ctx, 40); err != nil {
				t.Fatalf("Wait(40) with burst 5: %v", err)
			}
			waited, err := lims[0].Wait(ctx, 40)
			if err != nil {
				t.Fatalf("second Wait(40): %v", err)
			}
			close(stop)
			wg.Wait()
			// 40 units at 95 units/s come due 421ms after the previous 40.
			if least := 400 * time.Millisecond; waited < least {
				t.Fatalf("second Wait(40) waited %s, want ≥ %s", waited, least)
			}
			bound := limit.Count - 5 + 40
			if most, _ := maxInWindow(log.sorted(), limit.Per); most > bound {
				t.Fatalf("%d units in a window, want ≤ %d (limit − burst + largest request)", most, bound)
			}
		})
	}
}

// TestWaitCancel: Wait honours its context at every stage and hands back a
// place nobody queued behind.
func TestWaitCancel(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			lims, rdb := limiters(t, b, 1, Limit{Count: 4, Per: time.Second}, nil,
				WithBurst(1), WithCooldown(5*time.Second))
			l := lims[0]
			ctx := t.Context()

			done, cancelDone := context.WithCancel(ctx)
			cancelDone()
			if waited, err := l.Wait(done, 1); !errors.Is(err, context.Canceled) || waited != 0 {
				t.Fatalf("Wait on a cancelled context = %s, %v; want 0, context.Canceled", waited, err)
			}
			if waited, err := l.Wait(done, 0); err != nil || waited != 0 {
				t.Fatalf("Wait(0) = %s, %v; want 0, nil", waited, err)
			}

			if _, err := l.Wait(ctx, 1); err != nil {
				t.Fatal(err)
			}
			tat, err := rdb.HGet(ctx, l.key, "tat").Result()
			if err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			waited, err := l.Wait(short, 1) // due in 333ms
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait past its deadline: %v, want context.DeadlineExceeded", err)
			}
			if waited > time.Second {
				t.Fatalf("cancelled Wait took %s", waited)
			}
			if got, err := rdb.HGet(ctx, l.key, "tat").Result(); err != nil || got != tat {
				t.Fatalf("tat after the cancelled Wait = %q, %v; want it handed back to %q", got, err, tat)
			}

			if err := l.Throttled(ctx, 0); err != nil {
				t.Fatal(err)
			}
			inCool, cancelCool := context.WithCancel(ctx)
			time.AfterFunc(50*time.Millisecond, cancelCool)
			waited, err = l.Wait(inCool, 1)
			if !errors.Is(err, context.Canceled) || waited > time.Second {
				t.Fatalf("Wait cancelled in a 5s cool-down = %s, %v; want < 1s, context.Canceled", waited, err)
			}
		})
	}
}

// TestRedisState: one key per (fingerprint, endpoint) under the documented
// prefix, with a TTL, and nothing of the API key in it.
func TestRedisState(t *testing.T) {
	t.Parallel()
	const apiKey = "sk-very-secret-api-key"
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			rdb := b.newClient(t)
			fp := KeyFingerprint(apiKey)
			l := New(rdb, fp, "rerank", Defaults()["rerank"], WithCooldown(time.Millisecond))
			if _, err := l.Wait(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := l.Throttled(ctx, 0); err != nil {
				t.Fatal(err)
			}
			l.Succeeded(ctx)
			keys, err := rdb.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			want := "cobatch:rl:" + fp + ":rerank:state"
			if len(keys) != 1 || keys[0] != want {
				t.Fatalf("keys = %q, want [%q]", keys, want)
			}
			if ttl, err := rdb.PTTL(ctx, want).Result(); err != nil || ttl < 10*time.Minute-time.Second {
				t.Fatalf("PTTL = %s, %v; want about 10m", ttl, err)
			}
			state, err := rdb.HGetAll(ctx, want).Result()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range state {
				if strings.Contains(k+v, "secret") {
					t.Fatalf("state field %s=%s holds the API key", k, v)
				}
			}
			if state["gen"] != "1" {
				t.Fatalf("gen = %q after one 429, want 1", state["gen"])
			}
		})
	}
}

func TestNewBurstAndRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		endpoint  string
		limit     Limit
		opts      []Option
		wantBurst int
		wantRate  float64 // units/s
	}{
		{"embed default", "embed", Limit{2000, time.Minute}, nil, 96, 1904.0 / 60},
		{"rerank default", "rerank", Limit{1000, time.Minute}, nil, 10, 990.0 / 60},
		{"embed-jobs default", "embed-jobs", Limit{50, time.Minute}, nil, 1, 49.0 / 60},
		{"embed burst capped at half", "embed", Limit{100, time.Minute}, nil, 50, 50.0 / 60},
		{"explicit burst", "embed", Limit{200, 2 * time.Second}, []Option{WithBurst(10)}, 10, 95},
		{"burst at least 1", "x", Limit{5, time.Second}, []Option{WithBurst(0)}, 1, 4},
		{"count of one", "x", Limit{1, time.Minute}, nil, 1, 0.5 / 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := New(nil, "fp", tc.endpoint, tc.limit, tc.opts...)
			if l.Burst() != tc.wantBurst || !near(l.MaxRate(), tc.wantRate) || l.Rate() != l.MaxRate() {
				t.Fatalf("Burst, MaxRate, Rate = %d, %v, %v; want %d, %v, %v", l.Burst(), l.MaxRate(), l.Rate(), tc.wantBurst, tc.wantRate, tc.wantRate)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New with a zero limit did not panic")
		}
	}()
	New(nil, "fp", "embed", Limit{})
}
