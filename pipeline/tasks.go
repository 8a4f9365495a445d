package pipeline

import (
	"context"
	"time"

	"github.com/cobatch/cobatch/pipeline/input"
)

// TaskQueue is what the pipeline needs of a task queue: pipeline/queue
// implements it on asynq. Every task has an id made of what it does (the
// job's chunk, the group's phase), so that enqueuing a task whose id is
// queued already is not an error but a no-op.
type TaskQueue interface {
	// EnqueueChunk queues a chunk task; queued is false when a task with
	// its id was queued already.
	EnqueueChunk(ctx context.Context, p ChunkPayload) (queued bool, err error)
	// EnqueueFinalize queues the task that closes a job once every chunk
	// is done (HandleFinalize).
	EnqueueFinalize(ctx context.Context, job string) error
	// EnqueueUpload, EnqueuePoll and EnqueueDownload queue the tasks of the
	// async route (HandleAsyncUpload, HandleAsyncPoll, HandleAsyncDownload);
	// a poll runs after wait.
	EnqueueUpload(ctx context.Context, job string, group int) error
	EnqueuePoll(ctx context.Context, p AsyncPayload, wait time.Duration) error
	EnqueueDownload(ctx context.Context, job string, group int) error
}

// QueueInspector is what a Planner reads and clears in its queue
// (pipeline/queue implements it).
type QueueInspector interface {
	// Waiting counts the tasks waiting in the queue: pending, scheduled or
	// waiting to be retried.
	Waiting() (int, error)
	// Forget deletes the job's finalize task and its chunks' tasks that
	// are not running, archived ones included: an archived task keeps its
	// id, which would make enqueuing it again a silent no-op.
	Forget(job string, chunks []int)
}

// ChunkPayload is a chunk task's payload: a reference to input, never the
// text (stdin input is the one exception, carried in Range.Data).
type ChunkPayload struct {
	Job   string      `json:"job"`
	Chunk int         `json:"chunk"`
	Range input.Range `json:"range"`
	// Prewritten counts records of the chunk the async route wrote before
	// handing the rest to this task: found in the sink, they count as
	// written, not skipped.
	Prewritten int64 `json:"prewritten,omitempty"`
}

// AsyncPayload names a dataset group of a job. Poll tasks also carry their
// attempt, which only grows (it makes their task id unique), and their
// chain's token: a newer chain started for the group retires an older one.
type AsyncPayload struct {
	Job     string `json:"job"`
	Group   int    `json:"group"`
	Attempt int    `json:"attempt,omitempty"`
	Since   int    `json:"since,omitempty"` // the attempt its phase's polling began at
	Token   string `json:"token,omitempty"`
}
