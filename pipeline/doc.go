// Package pipeline runs jobs: a Planner splits a job's inputs into chunk
// tasks on asynq, a Worker's handlers turn each chunk into API calls (embed,
// classify, rerank, chat; or Cohere's asynchronous embed jobs and batches) and one
// idempotent sink write, and a Store keeps each job's spec, state and counters
// in Redis so that every record ends written, skipped or failed exactly once.
//
// An operation is an Op registered once from its own file (embed_op.go,
// classify_op.go, rerank_op.go, chat_op.go), with its part in the async
// route, if it has one (async_op.go); every Redis key of the job store is spelled
// in keys.go; what a handler's error means for the job and the task is
// decided in outcome.go.
//
//	store := pipeline.NewStore(rdb)
//	w := &pipeline.Worker{Store: store, Embedder: client, Limiter: limiterFor, OpenSink: open, Enqueuer: enq}
//	w.Register(mux) // then asynq's server runs the handlers
//	res, err := (&pipeline.Planner{Store: store, Client: enq}).Plan(ctx, spec)
//	st, err := (&pipeline.Waiter{Store: store}).Wait(ctx, spec.ID) // until it is done, aborted or cancelled
//
// The package holds a job's data and state; showing them to people (the
// progress bar, the report, the exit code) is cmd/internal/jobview's.
//
// Example (example_test.go) runs a whole job against the simulator.
package pipeline
