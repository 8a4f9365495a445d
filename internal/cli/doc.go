// Package cli holds what cmd/enqueue and cmd/worker share: reading the
// environment, logging, and wiring a pipeline.Worker to Redis, the Cohere
// client, the shared limiter and the sinks.
//
//	w, err := cli.NewWorker(ctx, cli.WorkerDeps{Redis: rdb, Cohere: client, ...})
//	srv := cli.NewServer(redisOpt, concurrency, queue, log)
//	mux := asynq.NewServeMux(); w.Register(mux); srv.Run(mux)
package cli
