package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// clock is miniredis's clock, moved only by the limiters' waits: the tests
// that use it are deterministic, whatever the machine's load.
type clock struct {
	mu  sync.Mutex
	mr  *miniredis.Miniredis
	now time.Time
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.mr.SetTime(c.now)
}

func (c *clock) since(t0 time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(t0)
}

// fakeClocked returns n limiters, each on a client of its own, on a
// miniredis whose clock only moves when a limiter sleeps (or the test
// advances it), and the clock's start.
func fakeClocked(t *testing.T, n int, limit Limit, opts ...Option) ([]*Limiter, *clock, time.Time) {
	t.Helper()
	mr := miniredis.RunT(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{mr: mr, now: t0}
	mr.SetTime(t0)
	first := clientsOn(t, "redis://"+mr.Addr())
	out := make([]*Limiter, n)
	for i := range out {
		rdb := first
		if i > 0 {
			rdb = more(t, first)
		}
		out[i] = New(rdb, "fp0123456789abcd", "embed", limit, opts...)
		out[i].sleep = func(ctx context.Context, d time.Duration) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			c.advance(d)
			return nil
		}
		out[i].now = func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
		out[i].jitter = func(time.Duration) time.Duration { return 0 }
	}
	return out, c, t0
}

func acquire(t *testing.T, l *Limiter, n int) *Grant {
	t.Helper()
	g, err := l.Acquire(t.Context(), n)
	if err != nil {
		t.Fatalf("Acquire(%d): %v", n, err)
	}
	return g
}

// TestWholeWindowAtStart: a fresh window grants its whole budget at once;
// the next grant waits until the first calls have been back a full window.
func TestWholeWindowAtStart(t *testing.T) {
	t.Parallel()
	lims, clk, t0 := fakeClocked(t, 2, Limit{Count: 200, Per: 2 * time.Second})
	var gs []*Grant
	for i := range 4 {
		gs = append(gs, acquire(t, lims[i%2], 50))
	}
	if d := clk.since(t0); d != 0 {
		t.Fatalf("the first 200 units waited %s, want none", d)
	}
	clk.advance(30 * time.Millisecond) // the calls' latency
	for _, g := range gs {
		g.Sent(t.Context())
	}
	acquire(t, lims[0], 50)
	if d, want := clk.since(t0), 30*time.Millisecond+2*time.Second; d != want {
		t.Fatalf("the 5th grant came %s after the start, want %s (a window after the calls came back)", d, want)
	}
}

// TestAcquireUpToFillsTheWindow: a call that can be cut takes what room the
// window has, down to its least; below that it waits for least units.
func TestAcquireUpToFillsTheWindow(t *testing.T) {
	t.Parallel()
	lims, clk, t0 := fakeClocked(t, 1, Limit{Count: 200, Per: 2 * time.Second})
	l := lims[0]
	upTo := func(n, least int) *Grant {
		t.Helper()
		g, err := l.AcquireUpTo(t.Context(), n, least)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, b := acquire(t, l, 95), acquire(t, l, 95)
	if g := upTo(95, 10); g.Units() != 10 || clk.since(t0) != 0 {
		t.Fatalf("granted %d units after %s, want the window's last 10 at once", g.Units(), clk.since(t0))
	} else {
		g.Unused(t.Context())
	}
	clk.advance(30 * time.Millisecond)
	a.Sent(t.Context()) // its 95 leave the window at 2.03s
	clk.advance(30 * time.Millisecond)
	b.Sent(t.Context()) // at 2.06s
	// 10 free, fewer than least: wait for a's 95, then take 95.
	for i, want := range []time.Duration{2030 * time.Millisecond, 2060 * time.Millisecond} {
		if g := upTo(95, 24); g.Units() != 95 || clk.since(t0) != want {
			t.Fatalf("grant %d: %d units after %s, want 95 after %s", i, g.Units(), clk.since(t0), want)
		}
	}
}

// TestInFlightHeld: a grant still in flight keeps its units, however long
// the call takes, until it comes back; then they count a window more.
func TestInFlightHeld(t *testing.T) {
	t.Parallel()
	lims, clk, t0 := fakeClocked(t, 1, Limit{Count: 100, Per: time.Second})
	l := lims[0]
	slow := acquire(t, l, 100)
	sleeps := 0
	sleep := l.sleep
	l.sleep = func(ctx context.Context, d time.Duration) error {
		sleeps++
		if sleeps == 3 { // the call comes back 3 windows after its grant
			slow.Sent(ctx)
		}
		return sleep(ctx, d)
	}
	acquire(t, l, 1)
	// Waits of one window each while the call is out (it might come back at
	// any moment), the third sees it back at 2s and waits until 3s.
	if d, want := clk.since(t0), 3*time.Second; d != want {
		t.Fatalf("granted %s after the start, want %s", d, want)
	}
}

// TestUnusedGivesBack: a grant whose call never counted, or came back 429,
// frees its units at once; a second report of a grant does nothing.
func TestUnusedGivesBack(t *testing.T) {
	t.Parallel()
	lims, clk, t0 := fakeClocked(t, 1, Limit{Count: 100, Per: time.Second})
	l := lims[0]
	a, b := acquire(t, l, 50), acquire(t, l, 50)
	a.Unused(t.Context())
	a.Sent(t.Context()) // ignored: a is already reported
	c := acquire(t, l, 50)
	if err := b.Throttled(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if d := clk.since(t0); d != 0 {
		t.Fatalf("waited %s, want none: the unused grant's units were not given back", d)
	}
	// b's 429 taught the limit: the window then held nothing sent, so the
	// limit falls to half the configured one, and c (50, in flight) fills it.
	if got := l.Current().Count; got != 50 {
		t.Fatalf("limit after the 429 = %d, want 50", got)
	}
	c.Sent(t.Context())
	acquire(t, l, 50)
	if d, want := clk.since(t0), time.Second; d != want {
		t.Fatalf("granted %s after the start, want %s", d, want)
	}
}

// TestLeaseLapses: a grant never reported (its process died) counts as sent
// when its lease ends.
func TestLeaseLapses(t *testing.T) {
	t.Parallel()
	lims, clk, t0 := fakeClocked(t, 1, Limit{Count: 100, Per: time.Second}, WithLease(5*time.Second))
	acquire(t, lims[0], 100)
	acquire(t, lims[0], 1)
	if d, want := clk.since(t0), 6*time.Second; d != want {
		t.Fatalf("granted %s after the start, want %s (lease 5s + window 1s)", d, want)
	}
}

// TestLearnsFrom429: the limit configured twice too high is learned from the
// first 429 (what the window held), a 429 of a call granted before that
// does not lower it again, the next job starts at it, and successes raise it
// a step per period back to the configured one.
func TestLearnsFrom429(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lims, clk, _ := fakeClocked(t, 2, Limit{Count: 400, Per: time.Second})
	l, next := lims[0], lims[1]
	var sent []*Grant
	for range 4 {
		sent = append(sent, acquire(t, l, 50))
	}
	late, refused := acquire(t, l, 50), acquire(t, l, 50)
	clk.advance(10 * time.Millisecond)
	for _, g := range sent {
		g.Sent(ctx)
	}
	if err := refused.Throttled(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := l.Current().Count; got != 200 {
		t.Fatalf("learned limit %d, want 200 (the units the API had seen)", got)
	}
	late.Sent(ctx)
	if err := late.Throttled(ctx, 0); err != nil { // already reported: ignored
		t.Fatal(err)
	}
	older := acquire(t, l, 1) // granted after the learn
	_ = older
	stale := &Grant{l: l, member: "0:1", lgen: "0", n: 1}
	if err := stale.Throttled(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := l.Current().Count; got != 200 {
		t.Fatalf("limit %d after a 429 granted under the old limit, want 200 still", got)
	}
	older.Unused(ctx)

	// The next job, another process: it starts at the learned limit.
	g := acquire(t, next, 1)
	if got := next.Current().Count; got != 200 {
		t.Fatalf("next job's limit %d, want the learned 200", got)
	}
	g.Unused(ctx)
	ttl := clk.mr.TTL(l.keys[2])
	if ttl < 29*24*time.Hour {
		t.Fatalf("the learned limit is kept for %s, want 30 days", ttl)
	}

	// Successes raise it by 2% of 400 once per period.
	for i := 1; i <= 30; i++ {
		clk.advance(time.Second)
		g := acquire(t, next, 1)
		g.Sent(ctx)
		want := min(200+8*i, 400)
		if got := next.Current().Count; got != want {
			t.Fatalf("after %d periods of successes the limit is %d, want %d", i, got, want)
		}
	}
	if clk.mr.HGet(l.keys[2], "learned") != "" {
		t.Fatal("the learned limit is still stored at the configured one")
	}
}

// TestStormBacksOff: a key refused whatever the load is probed ever more
// slowly, every process alike: each 429 that teaches the limit doubles the
// shared pause, up to 64 cool-downs; a call the API takes resets it.
func TestStormBacksOff(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lims, clk, t0 := fakeClocked(t, 2, Limit{Count: 1000, Per: 10 * time.Second}, WithCooldown(100*time.Millisecond))
	var pauses []time.Duration
	for i := range 9 {
		g := acquire(t, lims[i%2], 1)
		if err := g.Throttled(ctx, 0); err != nil {
			t.Fatal(err)
		}
		at := clk.since(t0)
		g = acquire(t, lims[(i+1)%2], 1)
		pauses = append(pauses, clk.since(t0)-at)
		if i < 8 {
			g.Unused(ctx) // and is refused again
		} else {
			g.Sent(ctx)
		}
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 6400 * ms, 6400 * ms}
	if !slices.Equal(pauses, want) {
		t.Fatalf("pauses after each 429: %v, want %v", pauses, want)
	}
	g := acquire(t, lims[0], 1)
	if err := g.Throttled(ctx, 0); err != nil {
		t.Fatal(err)
	}
	at := clk.since(t0)
	acquire(t, lims[1], 1)
	if d := clk.since(t0) - at; d != 100*ms {
		t.Fatalf("pause after a success and a 429: %s, want 100ms", d)
	}
}

// TestRetryAfterPauses: a Retry-After longer than the window pauses every
// grant; a shorter one is left to the window, which already holds the calls.
func TestRetryAfterPauses(t *testing.T) {
	t.Parallel()
	lims, clk, t0 := fakeClocked(t, 2, Limit{Count: 100, Per: time.Second})
	g := acquire(t, lims[0], 10)
	if err := g.Throttled(t.Context(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	acquire(t, lims[1], 10)
	if d, want := clk.since(t0), 5*time.Second; d != want {
		t.Fatalf("granted %s after the 429, want %s", d, want)
	}
}

// TestAcquireCancel: a wait that ends with its context holds nothing.
func TestAcquireCancel(t *testing.T) {
	t.Parallel()
	lims, clk, _ := fakeClocked(t, 1, Limit{Count: 10, Per: time.Second})
	l := lims[0]
	acquire(t, l, 10)
	ctx, cancel := context.WithCancel(t.Context())
	l.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	if _, err := l.Acquire(ctx, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v, want context.Canceled", err)
	}
	if n := len(clk.mr.Keys()); n != 2 { // state and the one grant in flight
		t.Fatalf("keys %q", clk.mr.Keys())
	}
	if ms, _ := clk.mr.ZMembers(l.keys[1]); len(ms) != 1 {
		t.Fatalf("in flight: %q, want the one grant", ms)
	}
}

// TestRedisState: three keys under one hash tag, with TTLs, and nothing of
// the API key in them.
func TestRedisState(t *testing.T) {
	t.Parallel()
	const apiKey = "sk-very-secret-api-key"
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			rdb := b.newClient(t)
			fp := KeyFingerprint(apiKey)
			l := New(rdb, fp, "rerank", Defaults()["rerank"])
			sent, refused := acquire(t, l, 1), acquire(t, l, 1)
			sent.Sent(ctx)
			if err := refused.Throttled(ctx, 0); err != nil {
				t.Fatal(err)
			}
			tag := "cobatch:{limiter:" + fp + ":rerank}:"
			want := []string{tag + "flight", tag + "log", tag + "state"}
			if got := l.Keys(); strings.Join(got, " ") != strings.Join([]string{tag + "log", tag + "flight", tag + "state"}, " ") {
				t.Fatalf("Keys() = %q", got)
			}
			keys, err := rdb.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(keys)
			// flight is empty again, so Redis dropped it.
			if strings.Join(keys, " ") != strings.Join(want[1:], " ") {
				t.Fatalf("keys = %q, want %q", keys, want[1:])
			}
			for _, k := range keys {
				if ttl, err := rdb.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
					t.Fatalf("PTTL(%s) = %s, %v; want a TTL", k, ttl, err)
				}
			}
			state, err := rdb.HGetAll(ctx, tag+"state").Result()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range state {
				if strings.Contains(k+v, "secret") {
					t.Fatalf("state field %s=%s holds the API key", k, v)
				}
			}
			if state["lgen"] != "1" || state["learned"] != "500" {
				t.Fatalf("state %v, want lgen 1 and learned 500 (half of 1000: one call seen)", state)
			}
		})
	}
}

// TestSharedWindow: four processes' worth of limiters, two callers each,
// calls of 10 units taking 0–20 ms against 200 units/s for 3 s, on the real
// Redis and on miniredis with real time. Guaranteed: at every moment the
// units granted and either in flight or back less than a window ago are at
// most 200, so no window of the API's (which sees each call between its
// grant and its return) holds more. Throughput: ≥ 90% of the run's budget
// (the design gives Per/(Per+latency) of it, plus the first window whole).
func TestSharedWindow(t *testing.T) {
	t.Parallel()
	const (
		batch = 10
		run   = 3 * time.Second
	)
	limit := Limit{Count: 200, Per: time.Second}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			first := b.newClient(t)
			type span struct{ from, to time.Time } // grant, back + window
			var mu sync.Mutex
			var spans []span
			ctx, cancel := context.WithTimeout(t.Context(), run)
			defer cancel()
			// Every client before any is used: go-redis writes to a
			// client's options as it serves calls, and more copies them.
			rdbs := []*redis.Client{first}
			for range 7 {
				rdbs = append(rdbs, more(t, first))
			}
			var wg sync.WaitGroup
			for _, rdb := range rdbs {
				l := New(rdb, "fp-shared", "embed", limit)
				var at time.Time
				l.onGrant = func(t time.Time, _ int) { at = t }
				wg.Go(func() {
					for {
						g, err := l.Acquire(ctx, batch)
						if err != nil {
							if !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("Acquire: %v", err)
							}
							return
						}
						from := at
						time.Sleep(rand.N(20 * time.Millisecond)) // the call
						back := time.Now()
						g.Sent(context.Background())
						mu.Lock()
						spans = append(spans, span{from, back.Add(limit.Per)})
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(spans) == 0 {
				t.Fatal("no grants")
			}
			type edge struct {
				at time.Time
				d  int
			}
			var edges []edge
			for _, s := range spans {
				edges = append(edges, edge{s.from, batch}, edge{s.to, -batch})
			}
			sort.Slice(edges, func(i, j int) bool {
				if !edges[i].at.Equal(edges[j].at) {
					return edges[i].at.Before(edges[j].at)
				}
				return edges[i].d < edges[j].d // a unit leaving frees its place first
			})
			most, sum := 0, 0
			for _, e := range edges {
				sum += e.d
				most = max(most, sum)
			}
			if most > limit.Count {
				t.Errorf("%d units counted at once, limit %d", most, limit.Count)
			}
			// How much of the budget a loaded machine's goroutines manage to
			// take is a benchmark's question (BenchmarkLimiterEfficiency);
			// here the whole first window must have been granted.
			got := len(spans) * batch
			budget := limit.Count * int(run/limit.Per)
			if got < limit.Count {
				t.Errorf("%d units granted in %s, want at least the first window's %d", got, run, limit.Count)
			}
			t.Logf("%d units in %s = %.2f of the budget; most at once %d/%d", got, run, float64(got)/float64(budget), most, limit.Count)
		})
	}
}

func TestNewLimits(t *testing.T) {
	t.Parallel()
	l := New(nil, "fp", "embed", Limit{2000, time.Minute})
	if l.MaxRate() != 2000.0/60 || l.Rate() != l.MaxRate() || l.Current() != l.Limit() {
		t.Fatalf("MaxRate, Rate, Current = %v, %v, %v", l.MaxRate(), l.Rate(), l.Current())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New with a zero limit did not panic")
		}
	}()
	New(nil, "fp", "embed", Limit{})
}
