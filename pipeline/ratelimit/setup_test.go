package ratelimit

import (
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/internal/testenv"
)

// backend makes go-redis clients on one server, each its own connection
// pool, as separate processes would have.
type backend struct {
	name      string
	newClient func(t testing.TB) *redis.Client
}

// backends runs every limiter test on the real Redis and on miniredis.
func backends() []backend {
	return []backend{
		{"redis", func(t testing.TB) *redis.Client {
			return clientsOn(t, testenv.RedisURL(t))
		}},
		{"miniredis", func(t testing.TB) *redis.Client {
			mr := miniredis.RunT(t)
			return clientsOn(t, "redis://"+mr.Addr())
		}},
	}
}

// clientsOn returns a client on url, closed when the test ends; more(t, c)
// makes further ones on the same server.
func clientsOn(t testing.TB, url string) *redis.Client {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redis url: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// more returns a new client, with a pool of its own, on first's server and DB.
func more(t testing.TB, first *redis.Client) *redis.Client {
	opt := *first.Options()
	c := redis.NewClient(&opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// grantLog records grants on Redis's clock.
type grantLog struct {
	mu     sync.Mutex
	grants []grant
	early  atomic.Int64 // grants whose waiter went on before their time
}

type grant struct {
	at time.Time
	n  int
}

func (g *grantLog) hook(at time.Time, n int) {
	// Wait calls the hook as it returns; Redis runs on this host's clock.
	if time.Now().Add(2 * time.Millisecond).Before(at) {
		g.early.Add(1)
	}
	g.mu.Lock()
	g.grants = append(g.grants, grant{at, n})
	g.mu.Unlock()
}

func (g *grantLog) sorted() []grant {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := append([]grant(nil), g.grants...)
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// maxInWindow is the most units granted in any half-open window of length
// per, and where that window starts.
func maxInWindow(gs []grant, per time.Duration) (int, time.Time) {
	best, at, sum, j := 0, time.Time{}, 0, 0
	for i := range gs {
		for j < len(gs) && gs[j].at.Before(gs[i].at.Add(per)) {
			sum += gs[j].n
			j++
		}
		if sum > best {
			best, at = sum, gs[i].at
		}
		sum -= gs[i].n
	}
	return best, at
}

// unitsBetween sums the units granted in [from, to).
func unitsBetween(gs []grant, from, to time.Time) int {
	sum := 0
	for _, g := range gs {
		if !g.at.Before(from) && g.at.Before(to) {
			sum += g.n
		}
	}
	return sum
}
