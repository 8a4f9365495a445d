package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const servicesHint = "start the services with `eval \"$(scripts/services.sh)\"` (or run `make test`)"

// redisDBs is the number of logical databases tests share out; DB 0 holds only
// the leases, so a test never sees another's keys.
const redisDBs = 16

// RedisURL returns a redis:// URL for a logical database that this test holds
// alone until it ends: leased across processes (go test runs packages in
// parallel), flushed before use and after.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_REDIS_URL")
	if base == "" {
		t.Fatalf("TEST_REDIS_URL is not set: %s", servicesHint)
	}
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	ctx := context.Background()
	admin := redis.NewClient(opt)
	t.Cleanup(func() { admin.Close() })

	token := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(5 * time.Minute)
	for {
		for db := 1; db < redisDBs; db++ {
			key := "testenv:lease:" + strconv.Itoa(db)
			ok, err := admin.SetNX(ctx, key, token, 15*time.Minute).Result()
			if err != nil {
				t.Fatalf("redis at %s: %v (%s)", opt.Addr, err, servicesHint)
			}
			if !ok {
				continue
			}
			u := dbURL(t, base, db)
			flush(t, u)
			t.Cleanup(func() {
				flush(t, u)
				admin.Del(context.Background(), key)
			})
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("no free Redis database for 5 minutes: all %d leased", redisDBs-1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dbURL(t testing.TB, base string, db int) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

func flush(t testing.TB, u string) {
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("redis url: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush redis db: %v", err)
	}
}

// RedisClient returns a client on a database of the test's own (see RedisURL).
func RedisClient(t testing.TB) (*redis.Client, string) {
	t.Helper()
	u := RedisURL(t)
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("redis url: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c, u
}
