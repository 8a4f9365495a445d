package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline"
)

// Client enqueues a job's tasks on one queue and reads that queue: it is
// the pipeline's TaskQueue and QueueInspector.
type Client struct {
	client *asynq.Client
	ins    *asynq.Inspector
	queue  string
}

var (
	_ pipeline.TaskQueue      = (*Client)(nil)
	_ pipeline.QueueInspector = (*Client)(nil)
)

// NewClient returns a client of queue (DefaultQueue when empty) on rdb,
// which the caller keeps and closes.
func NewClient(rdb redis.UniversalClient, queue string) *Client {
	if queue == "" {
		queue = DefaultQueue
	}
	return &Client{client: asynq.NewClientFromRedisClient(rdb), ins: asynq.NewInspectorFromRedisClient(rdb), queue: queue}
}

// enqueue adds a task under id; one queued already under it is not an
// error, and queued says whether this call added it.
func (c *Client) enqueue(ctx context.Context, typ, id string, payload any, opts ...asynq.Option) (queued bool, err error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return false, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	opts = append([]asynq.Option{asynq.TaskID(id), asynq.Queue(c.queue), asynq.MaxRetry(MaxRetry)}, opts...)
	_, err = c.client.EnqueueContext(ctx, asynq.NewTask(typ, b, opts...))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	return err == nil, err
}

// EnqueueChunk queues the task that processes one chunk of a job.
func (c *Client) EnqueueChunk(ctx context.Context, p pipeline.ChunkPayload) (bool, error) {
	return c.enqueue(ctx, TypeChunk, chunkID(p.Job, p.Chunk), p, asynq.Timeout(taskTimeout))
}

// EnqueueFinalize queues the task that closes a job once every chunk is
// done: it writes the sink's manifest and marks the job done.
func (c *Client) EnqueueFinalize(ctx context.Context, job string) error {
	_, err := c.enqueue(ctx, TypeFinalize, finalizeID(job), finalizePayload{Job: job})
	return err
}

// EnqueueUpload queues the task that builds and uploads a group's dataset.
func (c *Client) EnqueueUpload(ctx context.Context, job string, group int) error {
	_, err := c.enqueue(ctx, TypeAsyncUpload, asyncID(job, group, "upload"), pipeline.AsyncPayload{Job: job, Group: group}, asynq.Timeout(taskTimeout))
	return err
}

// EnqueuePoll queues a status check of a group, run after wait.
func (c *Client) EnqueuePoll(ctx context.Context, p pipeline.AsyncPayload, wait time.Duration) error {
	_, err := c.enqueue(ctx, TypeAsyncPoll, pollID(p), p, asynq.ProcessIn(wait), asynq.Timeout(pollTimeout))
	return err
}

// EnqueueDownload queues the task that reads a group's output into the sink.
func (c *Client) EnqueueDownload(ctx context.Context, job string, group int) error {
	_, err := c.enqueue(ctx, TypeAsyncDownload, asyncID(job, group, "download"), pipeline.AsyncPayload{Job: job, Group: group}, asynq.Timeout(taskTimeout))
	return err
}

// Waiting counts the queue's tasks that wait: pending, scheduled or to be
// retried. A queue that never held a task does not exist yet: an error.
func (c *Client) Waiting() (int, error) {
	info, err := c.ins.GetQueueInfo(c.queue)
	if err != nil {
		return 0, err
	}
	return info.Pending + info.Retry + info.Scheduled, nil
}

// Forget deletes the job's finalize task and its chunks' tasks that are
// not running. Errors are dropped: a task that is not there is forgotten.
func (c *Client) Forget(job string, chunks []int) {
	for _, n := range chunks {
		_ = c.ins.DeleteTask(c.queue, chunkID(job, n))
	}
	_ = c.ins.DeleteTask(c.queue, finalizeID(job))
}
