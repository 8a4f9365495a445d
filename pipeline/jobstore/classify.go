package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// A classify job keeps two values of its own, each JSON under its key:
// its few-shot examples, stored once by the planner, and on the embed route
// its label centroids, computed once by one worker (LockCentroids).

// Centroids returns the label centroids of a classify job on the embed
// route, nil when they are not stored yet.
func (st *Store[S]) Centroids(ctx context.Context, id string) (map[string][]float32, error) {
	return getJSON[map[string][]float32](ctx, st.rdb, keyspace.Centroids(id), "centroids of job "+id)
}

// SaveCentroids stores a job's label centroids once.
func (st *Store[S]) SaveCentroids(ctx context.Context, id string, c map[string][]float32) error {
	return setJSON(ctx, st.rdb, keyspace.Centroids(id), "centroids of job "+id, c)
}

// LockCentroids claims the embedding of a job's examples for ttl; false when
// another worker holds the claim.
func (st *Store[S]) LockCentroids(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := st.rdb.SetNX(ctx, keyspace.CentroidsLock(id), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("lock centroids of job %s: %w", id, err)
	}
	return ok, nil
}

// UnlockCentroids releases the claim, so that a failed embedding can be
// tried again by any worker.
func (st *Store[S]) UnlockCentroids(ctx context.Context, id string) {
	_ = st.rdb.Del(context.WithoutCancel(ctx), keyspace.CentroidsLock(id)).Err()
}

// SaveExamples stores a classify job's examples once, next to its spec.
func (st *Store[S]) SaveExamples(ctx context.Context, id string, ex []cohere.ClassifyExample) error {
	if len(ex) == 0 {
		return nil
	}
	return setJSON(ctx, st.rdb, keyspace.Examples(id), "examples of job "+id, ex)
}

// Examples returns a classify job's stored examples (nil when it has none).
func (st *Store[S]) Examples(ctx context.Context, id string) ([]cohere.ClassifyExample, error) {
	return getJSON[[]cohere.ClassifyExample](ctx, st.rdb, keyspace.Examples(id), "examples of job "+id)
}

func setJSON(ctx context.Context, rdb redis.UniversalClient, key, what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := rdb.Set(ctx, key, b, 0).Err(); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	return nil
}

// getJSON reads key's JSON value; the zero T when there is none.
func getJSON[T any](ctx context.Context, rdb redis.UniversalClient, key, what string) (T, error) {
	var v T
	b, err := rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("load %s: %w", what, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("decode %s: %w", what, err)
	}
	return v, nil
}
