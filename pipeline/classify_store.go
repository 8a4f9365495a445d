package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// Centroids returns the label centroids of a classify job on the embed
// route, nil when they are not stored yet.
func (st *Store) Centroids(ctx context.Context, id string) (map[string][]float32, error) {
	b, err := st.rdb.Get(ctx, keyspace.Centroids(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load centroids of job %s: %w", id, err)
	}
	var c map[string][]float32
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode centroids of job %s: %w", id, err)
	}
	return c, nil
}

// SaveCentroids stores a job's label centroids once.
func (st *Store) SaveCentroids(ctx context.Context, id string, c map[string][]float32) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode centroids: %w", err)
	}
	if err := st.rdb.Set(ctx, keyspace.Centroids(id), b, 0).Err(); err != nil {
		return fmt.Errorf("store centroids of job %s: %w", id, err)
	}
	return nil
}

// LockCentroids claims the embedding of a job's examples for ttl; false when
// another worker holds the claim.
func (st *Store) LockCentroids(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := st.rdb.SetNX(ctx, keyspace.CentroidsLock(id), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("lock centroids of job %s: %w", id, err)
	}
	return ok, nil
}

// UnlockCentroids releases the claim, so that a failed embedding can be
// tried again by any worker.
func (st *Store) UnlockCentroids(ctx context.Context, id string) {
	_ = st.rdb.Del(context.WithoutCancel(ctx), keyspace.CentroidsLock(id)).Err()
}
