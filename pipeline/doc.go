// Package pipeline runs jobs: a Planner splits a job's inputs into chunk
// tasks on a TaskQueue, a Worker's handlers turn each chunk into API calls (embed,
// classify, rerank, chat; or Cohere's asynchronous embed jobs and batches) and one
// idempotent sink write, and the job store (pipeline/jobstore, used here as
// Store) keeps each job's spec, state and counters in Redis so that every
// record ends written, skipped or failed exactly once.
//
// An operation is an Op registered once from its own file (embed_op.go,
// classify_op.go, rerank_op.go, chat_op.go), with its part in the async
// route, if it has one (async_op.go). An operation's Process is a function
// of the chunk and of Deps (op.go); Redis is the job store's alone; what a
// handler's error means for the job and the task is decided in outcome.go.
//
// The package knows no task queue: it names what it needs of one at the
// consumer (TaskQueue, QueueInspector, tasks.go), and its handlers take
// decoded payloads. pipeline/queue runs them on asynq: it encodes the
// payloads, sets each task's options and translates ErrNoRetry.
//
//	store := pipeline.NewStore(rdb)
//	q := queue.NewClient(rdb, queue.DefaultQueue)
//	w := &pipeline.Worker{Deps: pipeline.Deps{Store: store, Embedder: client, Limiter: limiterFor}, OpenSink: open, Queue: q}
//	srv.Start(queue.NewMux(w)) // asynq's server runs the handlers
//	res, err := (&pipeline.Planner{Store: store, Queue: q, Inspector: q}).Plan(ctx, spec)
//	st, err := (&pipeline.Waiter{Store: store}).Wait(ctx, spec.ID) // until it is done, aborted or cancelled
//
// The package holds a job's data and state; showing them to people (the
// progress bar, the report, the exit code) is cmd/internal/jobview's.
//
// Example (example_test.go) runs a whole job against the simulator.
package pipeline
