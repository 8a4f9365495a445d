package jobstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// callResultsTTL outlives a chunk's redelivery: the queue hands a lost
// worker's chunk to another once its lease expires, and queue.RetryDelay
// (pipeline/queue) spaces retries at most 5 minutes apart. A job left alone
// for a day pays its lost calls again rather than keeping their results in
// Redis.
const callResultsTTL = 24 * time.Hour

// SaveCallResults stores one call's results for a chunk (field → bytes) and
// renews the chunk's TTL, in one round trip.
func (st *Store[S]) SaveCallResults(ctx context.Context, job string, chunk int, results map[string][]byte) error {
	if len(results) == 0 {
		return nil
	}
	key := keyspace.Calls(job, chunk)
	args := make([]any, 0, 2*len(results))
	for f, v := range results {
		args = append(args, f, v)
	}
	pipe := st.rdb.TxPipeline()
	pipe.HSet(ctx, key, args...)
	pipe.Expire(ctx, key, callResultsTTL)
	_, err := pipe.Exec(ctx)
	return err
}

// CallResults returns the results stored for fields of a chunk, in their
// order; nil where there is none.
func (st *Store[S]) CallResults(ctx context.Context, job string, chunk int, fields []string) ([][]byte, error) {
	out := make([][]byte, len(fields))
	key := keyspace.Calls(job, chunk)
	// A chunk's first delivery finds no key: one small round trip, not
	// the chunk's every field.
	if n, err := st.rdb.Exists(ctx, key).Result(); err != nil || n == 0 || len(fields) == 0 {
		return out, err
	}
	vals, err := st.rdb.HMGet(ctx, key, fields...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}
