package ratelimit_test

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

func ExampleParseLimits() {
	limits, err := ratelimit.ParseLimits("embed=1000/1m, rerank=10/m")
	if err != nil {
		fmt.Println(err)
		return
	}
	all := ratelimit.Defaults()
	maps.Copy(all, limits)
	fmt.Println(ratelimit.For(all, "embed"), ratelimit.For(all, "rerank"), ratelimit.For(all, "tokenize"))

	_, err = ratelimit.ParseLimits("embed=2000/1m,rerank=1000")
	fmt.Println(err)
	// Output:
	// 1000/1m0s 10/1m0s 500/1m0s
	// ratelimit: entry "rerank=1000": want count/period, e.g. 2000/1m
}

func ExampleLimiter() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	lim := ratelimit.New(rdb, ratelimit.KeyFingerprint("the-api-key"), "embed", ratelimit.Limit{Count: 4000, Per: time.Minute})
	for range 3 { // three embed calls of 96 texts that the API answered
		g, err := lim.Acquire(ctx, 96)
		if err != nil {
			fmt.Println(err)
			return
		}
		g.Sent(ctx)
	}
	g, err := lim.Acquire(ctx, 96)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("limit", lim.Current())
	if err := g.Throttled(ctx, 0); err != nil { // the fourth came back 429
		fmt.Println(err)
		return
	}
	fmt.Println("after a 429:", lim.Current())
	// Output:
	// limit 4000/1m0s
	// after a 429: 2000/1m0s
}
