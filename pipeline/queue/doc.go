// Package queue runs the pipeline on asynq, and is the one package that
// knows asynq (cmd/ aside): the task types and their payloads' encoding,
// each task's options (its id, queue, retries, timeout, delay), the retry
// back-off, the handlers' registration with what every handler shares
// (decoding the payload, handing over the delivery's attempt, translating
// pipeline.ErrNoRetry), the server and the scheduler, the queue's depth on
// /metrics, and asynq's connection to a Redis URL (internal/redisconn).
//
// What a handler's error means for its job stays in pipeline (outcome.go):
// this package only translates it for asynq.
//
//	q := queue.NewClient(rdb, queue.DefaultQueue) // pipeline.TaskQueue and pipeline.QueueInspector
//	w := &pipeline.Worker{Deps: pipeline.Deps{Store: store, ...}, Queue: q, ...}
//	srv := queue.NewServer(conn, concurrency, queue.DefaultQueue, shutdown, log)
//	srv.Start(queue.NewMux(w))
//	res, err := (&pipeline.Planner{Store: store, Queue: q, Inspector: q}).Plan(ctx, spec)
package queue
