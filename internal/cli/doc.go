// Package cli holds what cmd/enqueue and cmd/worker share: reading the
// environment, logging, the flags that define a job (and job files), the
// command-line grammar (flags anywhere, hints for typos, -h by section),
// terminal detection, the scheduler's lock and its ticks' handler, and
// wiring a pipeline.Worker to Redis, the queue (pipeline/queue), the Cohere
// client, the shared limiter and the sinks. It does not know asynq: the
// queue does.
//
//	pos, err := help.ParseArgs(fs, os.Args[1:], os.Stdout, os.Stderr) // printed -h or the error
//
//	var j cli.JobFlags
//	j.Register(fs); fs.Parse(args); cli.ApplyFile(fs, "job.yaml", nil) // flags override the file
//	spec, dbURL, err := j.Spec(env)
//
//	spec, dbURL, err := cli.ParseJobFile("nightly.yaml", env) // as enqueue -f would
//
//	q := queue.NewClient(rdb, queue.DefaultQueue)
//	w := cli.NewWorker(cli.WorkerDeps{Redis: rdb, Queue: q, Cohere: client, ...})
//	mux := queue.NewMux(w)
//	queue.HandleTicks(mux, cli.PlanScheduled(w.Store, q, env, log))
//	queue.NewServer(conn, concurrency, queue.DefaultQueue, shutdown, log).Start(mux)
//	sc, _ := cli.ParseSchedule("0 2 * * *=nightly.yaml")
//	go cli.RunScheduler(ctx, cli.SchedulerConfig{Redis: rdb, Conn: conn, Schedules: []cli.Schedule{sc}})
package cli
