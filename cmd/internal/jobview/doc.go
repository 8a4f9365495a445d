// Package jobview is how the commands show a job: the live progress bar or
// progress log lines while `enqueue -wait` follows it, the summary at its
// end, the report of `enqueue status` and `list` (and their -json), the dead
// letters, and the process's exit code. The exit codes (README's table) are
// spelled here once, for cmd/enqueue and cmd/worker alike.
//
// The job's data comes from pipeline: its Status, read from the job store,
// and pipeline.Waiter, which polls it until the job ends.
//
//	f := &jobview.Follower{Store: store, Out: os.Stderr, Live: cli.IsTerminal(os.Stderr), Width: cli.Width(os.Stderr), Log: log}
//	st, err := f.Follow(ctx, spec.ID)
//	jobview.WriteSummary(os.Stdout, st, time.Since(started))
//	os.Exit(jobview.ExitCode(st))
//
//	r, err := jobview.LoadReport(ctx, store, id, 10) // enqueue status
//	jobview.WriteReport(os.Stdout, r)
package jobview
