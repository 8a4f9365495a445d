package queue

import (
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/pipeline"
)

// Task types handled by workers. A chunk task keeps the name it had when
// only embed had chunks: a worker of an earlier version, still running
// during an upgrade, then runs the chunks a newer enqueue queued.
const (
	TypeChunk         = "cobatch:embed:chunk"
	TypeFinalize      = "cobatch:job:finalize"
	TypeAsyncUpload   = "cobatch:async:upload"
	TypeAsyncPoll     = "cobatch:async:poll"
	TypeAsyncDownload = "cobatch:async:download"
	// TypeScheduledJob is the task a schedule enqueues on each tick: its
	// handler plans the job of a job file (HandleTicks).
	TypeScheduledJob = "cobatch:job:scheduled"
)

// DefaultQueue holds every task of a job: asynq dedupes task ids per queue.
const DefaultQueue = "cobatch"

// MaxRetry is high on purpose: a chunk meets 429s and crashes as a matter of
// course, and asynq archives a task whose retry count reaches MaxRetry even
// when the failure was not counted as one. The handler gives up on its own
// (aborting the job with a reason) a few retries before that
// (pipeline/outcome.go, settle).
const MaxRetry = 30

// taskTimeout bounds one run of a chunk or async task; a poll is one status
// check, bounded by pollTimeout.
const (
	taskTimeout = 2 * time.Hour
	pollTimeout = 5 * time.Minute
)

// scheduledRetries bounds the retries of a schedule's tick.
const scheduledRetries = 3

// Task ids: enqueuing a task whose id is queued already is a no-op, so that
// a chunk, a finalize or a group's phase is queued once however many times
// it is handed on.
func chunkID(job string, chunk int) string { return job + ":" + strconv.Itoa(chunk) }
func finalizeID(job string) string         { return job + ":finalize" }
func asyncID(job string, group int, phase string) string {
	return job + ":async:" + strconv.Itoa(group) + ":" + phase
}

// pollID holds the poll's chain token and its attempt, so that each check
// is a task of its own.
func pollID(p pipeline.AsyncPayload) string {
	return asyncID(p.Job, p.Group, "poll:"+p.Token+":"+strconv.Itoa(p.Attempt))
}

// finalizePayload names the job a finalize task completes.
type finalizePayload struct {
	Job string `json:"job"`
}

// Tick is a schedule's task: the job file to plan, and the layout of the
// tick's time that stamps the job's id.
type Tick struct {
	File  string `json:"file"`
	Stamp string `json:"stamp"`
}

// RetryDelay backs a failed task off exponentially from 2 s up to 5 min.
func RetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := 2 * time.Second << min(n, 8)
	return min(d, 5*time.Minute)
}
