package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/cobatch/cobatch/cmd/internal/jobview"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/internal/version"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a problem with the command line or configuration: exit 1.
type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) int {
	env, err := cli.ReadEnv()
	if err != nil {
		fmt.Fprintln(stderr, "enqueue:", err)
		return jobview.ExitUsage
	}
	var o options
	fs := newFlagSet(&o, env)
	help := enqueueHelp()
	if code, done := dispatch(args, fs, help, env, stdout, stderr); done {
		return code
	}
	pos, err := help.ParseArgs(fs, args, stdout, stderr)
	if err != nil {
		return jobview.ArgsExit(err)
	}
	if o.version {
		fmt.Fprintln(stdout, "enqueue", version.String())
		return jobview.ExitOK
	}
	for _, name := range slices.Sorted(maps.Keys(oldFlags)) {
		if flagGiven(fs, name) {
			fmt.Fprintf(stderr, "enqueue: -%s JOB is an old spelling of: enqueue %s %s\n", name, oldFlags[name], fs.Lookup(name).Value)
		}
	}
	o.job.AddInputs(pos...)
	if o.file != "" {
		if err := cli.ApplyFile(fs, o.file, nil); err != nil {
			fmt.Fprintln(stderr, "enqueue:", err)
			return jobview.ExitUsage
		}
	}
	if !flagGiven(fs, "redis") {
		// Read here, not as the flag's default, so -h never prints a
		// password the URL may hold.
		o.redisURL = env.RedisURL
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := cli.Logger(o.logFormat, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := execute(ctx, o, env, log, stdout)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "enqueue:", err)
			return jobview.ExitUsage
		}
		if errors.Is(err, pipeline.ErrOverBudget) {
			fmt.Fprintln(stderr, "enqueue:", err)
			return jobview.ExitAborted
		}
		log.Error("enqueue failed", "err", err)
		if code == 0 {
			code = jobview.ExitAborted
		}
	}
	return code
}

func execute(ctx context.Context, o options, env cli.Env, log *slog.Logger, stdout io.Writer) (int, error) {
	embedded := o.redisURL == ""
	if o.status != "" || o.deadLetters != "" || o.cancel != "" {
		if embedded {
			return jobview.ExitUsage, usageError{errors.New("-status, -dead-letters and -cancel need the job's Redis: set REDIS_URL or -redis")}
		}
		c := controlOptions{cmd: "status", job: o.status, redisURL: o.redisURL, dead: 10}
		switch {
		case o.cancel != "":
			c.cmd, c.job = "cancel", o.cancel
		case o.deadLetters != "":
			// JSON lines, as this flag always printed.
			c.cmd, c.job, c.json = "dead-letters", o.deadLetters, true
		}
		code, err := control(ctx, c, stdout)
		if err != nil && code == jobview.ExitUsage {
			err = usageError{err}
		}
		return code, err
	}
	if !embedded && o.httpAddr != "" {
		return jobview.ExitUsage, usageError{errors.New("-http serves the embedded workers' /metrics; with Redis, each worker serves its own (worker -http)")}
	}
	spec, dbURL, err := o.job.Spec(env)
	if err != nil {
		return jobview.ExitUsage, usageError{err}
	}
	if err := checkInputs(spec); err != nil {
		return jobview.ExitUsage, usageError{err}
	}
	limits, err := ratelimit.ParseLimits(o.rateLimit)
	if err != nil {
		return jobview.ExitUsage, usageError{fmt.Errorf("-rate-limit: %w", err)}
	}
	if o.sim {
		sim := coheretest.NewServer()
		defer sim.Close()
		env.BaseURL, env.APIKey = sim.URL, coheretest.DefaultAPIKey
		if o.rateLimit == "" {
			limits = map[string]ratelimit.Limit{"embed": {Count: 1_000_000, Per: time.Minute}, "chat": {Count: 1_000_000, Per: time.Minute}}
		}
	}
	client, err := cli.NewCohere(env, o.apiTimeout)
	if err != nil {
		return jobview.ExitUsage, usageError{err}
	}
	// Opening the sink checks it (a table whose dimension disagrees, an
	// unwritable directory) before any task exists or any call is paid for.
	sink, err := cli.OpenSink(ctx, spec, dbURL)
	if err != nil {
		return jobview.ExitUsage, usageError{err}
	}
	_ = sink.Close()
	redisURL := o.redisURL
	if embedded {
		mr, err := miniredis.Run()
		if err != nil {
			return jobview.ExitAborted, fmt.Errorf("embedded redis: %w", err)
		}
		defer mr.Close()
		redisURL = "redis://" + mr.Addr()
	}
	conn, err := redisconn.Parse(redisURL)
	if err != nil {
		return jobview.ExitUsage, usageError{fmt.Errorf("-redis: %w", err)}
	}
	rdb := conn.NewClient()
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return jobview.ExitUsage, usageError{fmt.Errorf("redis %s: %w", conn.Addr, err)}
	}
	enq := queue.NewClient(rdb, o.queue)
	store := pipeline.NewStore(rdb)

	if embedded {
		wlog := log
		if cli.IsTerminal(os.Stderr) && !o.verbose {
			// The live bar says what the workers' info lines would; only
			// their warnings interrupt it.
			wlog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		metrics, stopHTTP, err := serveMetrics(o.httpAddr, rdb, o.queue, log)
		if err != nil {
			return jobview.ExitUsage, usageError{err}
		}
		defer stopHTTP()
		w := cli.NewWorker(cli.WorkerDeps{
			Redis: rdb, Queue: enq, Cohere: client, APIKey: env.APIKey, Limits: limits,
			DatabaseURL: dbURL, Log: wlog, Metrics: metrics,
		})
		srv := queue.NewServer(conn, o.concurrency, o.queue, 10*time.Second, wlog)
		if err := srv.Start(queue.NewMux(w)); err != nil {
			return jobview.ExitAborted, fmt.Errorf("start embedded workers: %w", err)
		}
		defer func() {
			srv.Shutdown()
			_ = w.Close()
		}()
	}

	if est, err := pipeline.EstimateCost(ctx, spec); err == nil {
		fmt.Fprintln(stdout, est)
		if err := pipeline.CheckBudget(spec, est); err != nil {
			return jobview.ExitAborted, err
		}
	} else if spec.MaxCost > 0 {
		log.Warn("no cost estimate: -max-cost is enforced as the job runs", "err", err)
	}
	// The model is checked after the estimate, so that a job over budget
	// makes no call at all, and before any chunk is planned.
	if err := preflight(ctx, client, &spec, log, stdout); err != nil {
		if _, ok := errors.AsType[*pipeline.KeyRefusedError](err); ok {
			return jobview.ExitAborted, err
		}
		return jobview.ExitUsage, usageError{err}
	}
	started := time.Now()
	planner := &pipeline.Planner{Store: store, Queue: enq, Inspector: enq}
	res, err := planner.Plan(ctx, spec)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) || strings.Contains(err.Error(), "different spec") {
			return jobview.ExitUsage, usageError{err}
		}
		return jobview.ExitAborted, fmt.Errorf("plan: %w", err)
	}
	log.Info("job planned", "job", spec.ID, "chunks", res.Chunks, "enqueued", res.Enqueued, "records", res.Records, "resumed", res.Resumed)
	// Embedded workers live in this process: it must wait for them.
	wait := embedded || (o.wait.set && o.wait.v)
	if !wait {
		fmt.Fprintf(stdout, "job %s: %d chunks (%d enqueued now)\n", spec.ID, res.Chunks, res.Enqueued)
		return jobview.ExitOK, nil
	}
	f := &jobview.Follower{Store: store, Out: os.Stderr, Live: cli.IsTerminal(os.Stderr), Width: cli.Width(os.Stderr), Log: log}
	st, err := f.Follow(ctx, spec.ID)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stdout, "interrupted: run the same command again to resume job %s\n", spec.ID)
		}
		return jobview.ExitAborted, err
	}
	jobview.WriteSummary(stdout, st, time.Since(started))
	if st.State == jobstore.StateDone {
		// No chunk is left to read the decompressed copies of the inputs.
		err := input.RemoveSpools(spec.Inputs, spec.Input)
		if spec.Candidates != "" {
			// Rerank workers read the candidates with options of their own.
			err = errors.Join(err, input.RemoveSpools([]string{spec.Candidates}, input.Options{}))
		}
		if err != nil {
			log.Warn("removing the decompressed copies of the inputs", "err", err)
		}
	}
	if o.query != "" && st.State == jobstore.StateDone {
		if err := nearest(ctx, client, spec, dbURL, o.query, stdout); err != nil {
			log.Warn("query failed", "err", err)
		}
	}
	return jobview.ExitCode(st), nil
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
