package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
	"github.com/cobatch/cobatch/sinks"
)

// A chunk's sink write and its record in Redis cannot be one transaction. A
// worker that dies between the two leaves rows in the sink that this run
// wrote; the chunk's next delivery finds them unchanged and would count them
// skipped. So before writing, a chunk notes in Redis the ids it is about to
// write ("pending"); a later delivery counts those ids, found unchanged in
// the sink, as written. Recording the chunk done removes the note.

// PendingWritten returns the ids earlier deliveries of a chunk noted they
// were writing, if any.
func (st *Store) PendingWritten(ctx context.Context, id string, chunk int) (map[string]bool, error) {
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
func (st *Store) SetPendingWritten(ctx context.Context, id string, chunk int, ids []string) error {
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return st.rdb.HSet(ctx, keyspace.Pending(id), strconv.Itoa(chunk), b).Err()
}

// asWritten moves n of r's skipped records, found in the sink but written
// by this run (an earlier delivery, notePending, or the async route), to its
// written ones.
func (r ChunkResult) asWritten(n int64) ChunkResult {
	n = min(n, r.Skipped)
	r.Written, r.Skipped = r.Written+n, r.Skipped-n
	return r
}

// notePending records the ids c writes, with those of earlier deliveries,
// and returns how many of c's kept ids an earlier delivery of this run wrote.
func (w *Worker) notePending(ctx context.Context, c *sinks.Chunk) (int64, error) {
	prev, err := w.Store.PendingWritten(ctx, c.Job, c.Number)
	if err != nil {
		return 0, err
	}
	var moved int64
	ids := make([]string, 0, len(prev)+len(c.Rows)+len(c.Classifications))
	for _, k := range c.Kept {
		if prev[k] {
			moved++
			ids = append(ids, k)
		}
	}
	for _, r := range c.Rows {
		ids = append(ids, r.ID)
	}
	for _, r := range c.Classifications {
		ids = append(ids, r.ID)
	}
	for _, r := range c.Chats {
		ids = append(ids, r.ID)
	}
	for _, r := range c.Declared {
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		return moved, nil
	}
	return moved, w.Store.SetPendingWritten(ctx, c.Job, c.Number, ids)
}
