package pipeline

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/pipeline/input"
)

// Task types handled by workers.
const (
	TypeEmbedChunk = "cobatch:embed:chunk"
	TypeFinalize   = "cobatch:job:finalize"
)

// DefaultQueue holds every task of a job: asynq dedupes task ids per queue.
const DefaultQueue = "cobatch"

// MaxRetry is high on purpose: a chunk meets 429s and crashes as a matter of
// course, and asynq archives a task whose retry count reaches MaxRetry even
// when the failure was not counted as one. The handler gives up on its own
// (aborting the job with a reason) a few retries before that.
const MaxRetry = 30

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

// ChunkTaskID is the task id of a job's chunk, so that enqueuing a chunk
// again is a no-op while it is queued.
func ChunkTaskID(job string, chunk int) string { return job + ":" + strconv.Itoa(chunk) }

// NewChunkTask returns the task that processes one chunk of a job.
func NewChunkTask(p ChunkPayload, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode chunk payload: %w", err)
	}
	return asynq.NewTask(TypeEmbedChunk, b,
		asynq.TaskID(ChunkTaskID(p.Job, p.Chunk)),
		asynq.Queue(queue),
		asynq.MaxRetry(MaxRetry),
		asynq.Timeout(2*time.Hour),
	), nil
}

// FinalizePayload names the job a finalize task completes.
type FinalizePayload struct {
	Job string `json:"job"`
}

// NewFinalizeTask returns the task that closes a job once every chunk is
// done: it writes the sink's manifest and marks the job done.
func NewFinalizeTask(job, queue string) *asynq.Task {
	b, _ := json.Marshal(FinalizePayload{Job: job})
	return asynq.NewTask(TypeFinalize, b,
		asynq.TaskID(job+":finalize"),
		asynq.Queue(queue),
		asynq.MaxRetry(MaxRetry),
	)
}

// RetryDelay backs a failed task off exponentially from 2 s up to 5 min.
func RetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := 2 * time.Second << min(n, 8)
	return min(d, 5*time.Minute)
}
