package pipeline

import (
	"context"

	"github.com/cobatch/cobatch/sinks"
)

// A chunk's sink write and its record in Redis cannot be one transaction. A
// worker that dies between the two leaves rows in the sink that this run
// wrote; the chunk's next delivery finds them unchanged and would count them
// skipped. So before writing, a chunk notes in Redis the ids it is about to
// write ("pending"); a later delivery counts those ids, found unchanged in
// the sink, as written. Recording the chunk done removes the note.

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
