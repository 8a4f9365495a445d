package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cmd/internal/jobview"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// subcommands control jobs already planned; they all need the job's Redis.
var subcommands = []string{"status", "list", "cancel", "retry-failed", "dead-letters"}

// controlOptions are the flags of the subcommands.
type controlOptions struct {
	cmd      string
	job      string
	json     bool
	redisURL string
	dead     int64
	wait     bool
	queue    string
}

const controlUsage = `Usage: enqueue status JOB [-json] [-dead-letters-shown N]
       enqueue list [-json]
       enqueue cancel JOB
       enqueue retry-failed JOB [-wait]
       enqueue dead-letters JOB [-json]

Controls jobs planned on Redis (REDIS_URL or -redis):
  status        phase, counts, rate, ETA, tokens billed, estimated cost, last errors, first dead letters
  list          every job Redis knows, with its state and counts
  cancel        no new API calls from now; running chunks stop at their next call (async: remote jobs cancelled)
  retry-failed  re-run only the dead-lettered records of an ended job (what was written is not paid for again)
  dead-letters  the failed records with file, line, id and reason
`

// runControl runs a subcommand; args follow the subcommand's name.
func runControl(ctx context.Context, name string, args []string, env cli.Env, stdout, stderr io.Writer) int {
	o := controlOptions{cmd: name}
	fs := controlFlags(&o)
	help := cli.Help{Command: "enqueue " + name, Intro: controlUsage, Sections: []string{"Flags"},
		Section: map[string]string{"json": "Flags", "redis": "Flags", "dead-letters-shown": "Flags", "wait": "Flags", "queue": "Flags"}}
	// The job id may come before or after the flags.
	pos, err := help.ParseArgs(fs, args, stdout, stderr)
	if err != nil {
		return jobview.ArgsExit(err)
	}
	switch {
	case name == "list" && len(pos) != 0, name != "list" && len(pos) != 1:
		fmt.Fprintf(stderr, "enqueue %s: want %s\n", name, map[bool]string{true: "no argument", false: "one job id"}[name == "list"])
		return jobview.ExitUsage
	case name != "list":
		o.job = pos[0]
	}
	if o.redisURL == "" {
		o.redisURL = env.RedisURL
	}
	code, err := control(ctx, o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "enqueue %s: %v\n", name, err)
	}
	return code
}

// controlFlags returns the subcommands' flag set, writing to o.
func controlFlags(o *controlOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("enqueue "+o.cmd, flag.ContinueOnError)
	fs.BoolVar(&o.json, "json", false, "print JSON (status: one object; list: an array; dead-letters: JSON lines)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis URL; default $REDIS_URL")
	fs.Int64Var(&o.dead, "dead-letters-shown", 10, "status: dead letters to show")
	fs.BoolVar(&o.wait, "wait", false, "retry-failed: follow the job to its end and exit with its outcome")
	fs.StringVar(&o.queue, "queue", queue.DefaultQueue, "retry-failed: asynq queue of the job's tasks")
	return fs
}

// control runs a subcommand (or the -status, -dead-letters, -cancel flags).
func control(ctx context.Context, o controlOptions, stdout io.Writer) (int, error) {
	if o.redisURL == "" {
		return jobview.ExitUsage, errors.New("the job's Redis is unknown: set REDIS_URL or -redis")
	}
	conn, err := redisconn.Parse(o.redisURL)
	if err != nil {
		return jobview.ExitUsage, fmt.Errorf("-redis: %w", err)
	}
	rdb := conn.NewClient()
	defer rdb.Close()
	store := pipeline.NewStore(rdb)
	noJob := func(err error) int {
		if errors.Is(err, jobstore.ErrNoJob) {
			return jobview.ExitUsage
		}
		return jobview.ExitAborted
	}
	switch o.cmd {
	case "list":
		return list(ctx, store, o.json, stdout)
	case "cancel":
		if err := store.Cancel(ctx, o.job); err != nil {
			return noJob(err), err
		}
		fmt.Fprintf(stdout, "job %s cancelled\n", o.job)
		if err := cancelRemote(ctx, store, o.job, stdout); err != nil {
			return jobview.ExitAborted, err
		}
		return jobview.ExitOK, nil
	case "dead-letters":
		if _, err := store.Spec(ctx, o.job); err != nil {
			return noJob(err), err
		}
		fails, err := store.DeadLetters(ctx, o.job, 0)
		if err != nil {
			return jobview.ExitAborted, err
		}
		if !o.json {
			jobview.WriteDeadLetters(stdout, fails)
			return jobview.ExitOK, nil
		}
		enc := json.NewEncoder(stdout)
		for _, f := range fails {
			if err := enc.Encode(f); err != nil {
				return jobview.ExitAborted, err
			}
		}
		return jobview.ExitOK, nil
	case "retry-failed":
		return retryFailed(ctx, rdb, store, o, stdout)
	default:
		r, err := jobview.LoadReport(ctx, store, o.job, o.dead)
		if err != nil {
			return noJob(err), err
		}
		if o.json {
			return jobview.ExitOK, writeJSON(stdout, r)
		}
		jobview.WriteReport(stdout, r)
		return jobview.ExitOK, nil
	}
}

func list(ctx context.Context, store *pipeline.Store, asJSON bool, stdout io.Writer) (int, error) {
	ids, err := store.Jobs(ctx)
	if err != nil {
		return jobview.ExitAborted, err
	}
	reports := make([]jobview.Report, 0, len(ids))
	for _, id := range ids {
		st, err := store.Status(ctx, id)
		if errors.Is(err, jobstore.ErrNoJob) {
			continue // listed, then deleted
		}
		if err != nil {
			return jobview.ExitAborted, err
		}
		reports = append(reports, jobview.NewReport(st))
	}
	if asJSON {
		return jobview.ExitOK, writeJSON(stdout, reports)
	}
	fmt.Fprintf(stdout, "%-28s %-10s %10s %10s %10s %10s  %s\n", "JOB", "STATE", "RECORDS", "WRITTEN", "SKIPPED", "FAILED", "STARTED")
	for _, r := range reports {
		fmt.Fprintf(stdout, "%-28s %-10s %10d %10d %10d %10d  %s\n", r.Job, r.State, r.Records, r.Written, r.Skipped, r.Failed,
			r.StartedAt.Local().Format(time.DateTime))
	}
	return jobview.ExitOK, nil
}

func retryFailed(ctx context.Context, rdb redis.UniversalClient, store *pipeline.Store, o controlOptions, stdout io.Writer) (int, error) {
	q := queue.NewClient(rdb, o.queue)
	p := &pipeline.Planner{Store: store, Queue: q, Inspector: q}
	before, err := store.Status(ctx, o.job)
	if err != nil {
		if errors.Is(err, jobstore.ErrNoJob) {
			return jobview.ExitUsage, err
		}
		return jobview.ExitAborted, err
	}
	res, err := p.RetryFailed(ctx, o.job)
	if errors.Is(err, pipeline.ErrJobRunning) {
		return jobview.ExitUsage, err
	}
	if err != nil {
		return jobview.ExitAborted, err
	}
	fmt.Fprintf(stdout, "job %s: %d failed records in %d chunks to retry (%d chunks enqueued)\n", o.job, before.Failed, res.Chunks, res.Enqueued)
	if !o.wait {
		return jobview.ExitOK, nil
	}
	started := time.Now()
	f := &jobview.Follower{Store: store, Out: os.Stderr, Live: cli.IsTerminal(os.Stderr), Width: cli.Width(os.Stderr)}
	st, err := f.Follow(ctx, o.job)
	if err != nil {
		return jobview.ExitAborted, err
	}
	jobview.WriteSummary(stdout, st, time.Since(started))
	return jobview.ExitCode(st), nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isSubcommand(s string) bool { return slices.Contains(subcommands, s) }
