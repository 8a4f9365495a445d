package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// PendingWritten returns the ids earlier deliveries of a chunk noted they
// were writing, if any.
func (st *Store[S]) PendingWritten(ctx context.Context, id string, chunk int) (map[string]bool, error) {
	b, err := st.rdb.HGet(ctx, keyspace.Pending(id), strconv.Itoa(chunk)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(ids))
	for _, i := range ids {
		set[i] = true
	}
	return set, nil
}

// SetPendingWritten notes the ids a chunk is about to write.
func (st *Store[S]) SetPendingWritten(ctx context.Context, id string, chunk int, ids []string) error {
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return st.rdb.HSet(ctx, keyspace.Pending(id), strconv.Itoa(chunk), b).Err()
}
