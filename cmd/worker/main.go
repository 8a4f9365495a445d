package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cobatch/cobatch/cmd/internal/jobview"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/internal/version"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/queue"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

type options struct {
	redisURL    string
	concurrency int
	httpAddr    string
	queue       string
	rateLimit   string
	timeout     time.Duration
	shutdown    time.Duration
	logFormat   string
	verbose     bool
	version     bool
	ui          bool
	uiWrite     bool
	schedules   scheduleFlag
	// metricsGrace: how long a finished job's series stay on /metrics.
	metricsGrace time.Duration
	cpuProfile   string
}

// scheduleFlag collects -schedule values; cron specs hold commas, so values
// are not split.
type scheduleFlag []string

func (s *scheduleFlag) String() string     { return strings.Join(*s, " ") }
func (s *scheduleFlag) Set(v string) error { *s = append(*s, v); return nil }

func run(args []string) int {
	env, err := cli.ReadEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return jobview.ExitUsage
	}
	var o options
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.StringVar(&o.redisURL, "redis", "", "Redis URL: redis://[:password@]host:port/db, redis-sentinel://[:password@]h1:26379,h2:26379/master[/db] or redis-cluster://[:password@]h1:7000,h2:7001; default $REDIS_URL")
	fs.IntVar(&o.concurrency, "concurrency", 8, "chunk tasks processed at once by this worker")
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:9090", "listen address for /healthz, /metrics and -ui; unauthenticated, so keep it on loopback or behind an authenticating proxy (empty: none)")
	fs.StringVar(&o.queue, "queue", queue.DefaultQueue, "asynq queue to process")
	fs.StringVar(&o.rateLimit, "rate-limit", "", "override API rate limits, e.g. 'embed=2000/1m,rerank=1000/1m' (count/period; embed counts inputs, others requests); default Cohere's production limits")
	fs.DurationVar(&o.timeout, "api-timeout", 60*time.Second, "timeout of one API call attempt")
	fs.DurationVar(&o.shutdown, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long in-flight chunks may run before they are requeued")
	fs.Var(&o.schedules, "schedule", "'CRON=JOBSPEC_FILE': plan the job file's job on this schedule (5-field cron or @daily, @every 1h), its id stamped with the date; repeatable. Every worker may be given the same schedules: one at a time runs them")
	fs.DurationVar(&o.metricsGrace, "metrics-grace", pipeline.DefaultMetricsGrace, "how long a finished job's series stay on /metrics")
	fs.BoolVar(&o.ui, "ui", false, "serve asynq's web UI (queues, tasks, retries, archived) at /ui on the -http listener, read-only")
	fs.BoolVar(&o.uiWrite, "ui-write", false, "let the -ui pause queues and delete, run or archive tasks")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: text or json (default: text on a terminal, else json)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file when the worker stops (read it with 'go tool pprof')")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	pos, err := workerHelp.ParseArgs(fs, args, os.Stdout, os.Stderr)
	if err != nil {
		return jobview.ArgsExit(err)
	}
	if o.version || slices.Equal(pos, []string{"version"}) {
		fmt.Println("worker", version.String())
		return jobview.ExitOK
	}
	if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "worker: unexpected argument %q: the worker takes only flags\nRun 'worker -h' for the flags.\n", pos[0])
		return jobview.ExitUsage
	}
	if o.redisURL == "" {
		// Read here, not as the flag's default, so -h never prints a
		// password the URL may hold.
		o.redisURL = env.RedisURL
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := cli.Logger(o.logFormat, level)
	if err := serve(o, env, log); err != nil {
		log.Error("worker stopped", "err", err)
		return jobview.ExitUsage
	}
	return jobview.ExitOK
}

func serve(o options, env cli.Env, log *slog.Logger) error {
	if o.redisURL == "" {
		return errors.New("no Redis: set REDIS_URL or -redis (a worker needs the shared queue)")
	}
	limits, err := ratelimit.ParseLimits(o.rateLimit)
	if err != nil {
		return fmt.Errorf("-rate-limit: %w", err)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	client, err := cli.NewCohere(env, o.timeout)
	if err != nil {
		return err
	}
	var schedules []cli.Schedule
	for _, s := range o.schedules {
		sc, err := cli.ParseSchedule(s)
		if err != nil {
			return err
		}
		// A broken job file is reported now, not at the first tick.
		if _, _, err := cli.ParseJobFile(sc.File, env); err != nil {
			return fmt.Errorf("-schedule %s: %w", s, err)
		}
		schedules = append(schedules, sc)
	}
	conn, err := redisconn.Parse(o.redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	rdb := conn.NewClient()
	defer rdb.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", conn.Addr, err)
	}
	enq := queue.NewClient(rdb, o.queue)

	reg, metrics := cli.NewMetrics(rdb, o.queue)
	metrics.Grace = o.metricsGrace
	w := cli.NewWorker(cli.WorkerDeps{
		Redis: rdb, Queue: enq, Cohere: client, APIKey: env.APIKey, Limits: limits,
		DatabaseURL: env.DatabaseURL, Log: log, Metrics: metrics,
	})
	srv := queue.NewServer(conn, o.concurrency, o.queue, o.shutdown, log)
	mux := queue.NewMux(w)
	queue.HandleTicks(mux, cli.PlanScheduled(w.Store, enq, env, log))
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	schedDone := make(chan struct{})
	if len(schedules) > 0 {
		go func() {
			defer close(schedDone)
			if err := cli.RunScheduler(ctx, cli.SchedulerConfig{Redis: rdb, Conn: conn, Schedules: schedules, Queue: o.queue, Log: log}); err != nil {
				log.Error("scheduler stopped", "err", err)
			}
		}()
	} else {
		close(schedDone)
	}
	var hs *http.Server
	if o.httpAddr != "" {
		hmux := http.NewServeMux()
		hmux.HandleFunc("/healthz", func(rw http.ResponseWriter, r *http.Request) {
			if err := rdb.Ping(r.Context()).Err(); err != nil {
				http.Error(rw, "redis: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(rw, "ok")
		})
		hmux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		if o.ui {
			ui := asynqmon.New(asynqmon.Options{RootPath: "/ui", RedisConnOpt: queue.RedisConnOpt(conn), ReadOnly: !o.uiWrite})
			defer ui.Close()
			hmux.Handle(ui.RootPath()+"/", ui)
		}
		ln, err := net.Listen("tcp", o.httpAddr)
		if err != nil {
			srv.Shutdown()
			return fmt.Errorf("-http: %w", err)
		}
		hs = &http.Server{Handler: hmux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		log.Info("http listening", "addr", ln.Addr().String())
	}
	log.Info("worker started", "version", version.String(), "concurrency", o.concurrency, "queue", o.queue, "redis", conn.Addr)
	<-ctx.Done()
	log.Info("shutting down: finishing or requeueing in-flight chunks", "timeout", o.shutdown)
	<-schedDone
	srv.Shutdown()
	if err := w.Close(); err != nil {
		log.Warn("closing sinks", "err", err)
	}
	if hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}
	return nil
}
