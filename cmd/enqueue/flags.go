package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// options are enqueue's flags: the job's own (shared with job files and
// worker -schedule) and how to run it.
type options struct {
	job         cli.JobFlags
	file        string
	wait        optionalBool
	redisURL    string
	concurrency int
	rateLimit   string
	queue       string
	apiTimeout  time.Duration
	sim         bool
	query       string
	status      string
	deadLetters string
	cancel      string
	logFormat   string
	verbose     bool
	version     bool
	httpAddr    string
}

// optionalBool is a bool flag that knows whether it was given.
type optionalBool struct{ set, v bool }

func (b *optionalBool) String() string {
	if !b.set {
		return "true when embedded, else false"
	}
	return fmt.Sprint(b.v)
}
func (b *optionalBool) Set(s string) error {
	switch s {
	case "true", "1", "":
		b.v = true
	case "false", "0":
		b.v = false
	default:
		return fmt.Errorf("want true or false, got %q", s)
	}
	b.set = true
	return nil
}
func (b *optionalBool) IsBoolFlag() bool { return true }

func newFlagSet(o *options, env cli.Env) *flag.FlagSet {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	o.job.Register(fs)
	fs.StringVar(&o.file, "f", "", "job file, YAML or JSON: keys are flag names (lists for repeatable or comma flags); flags on the command line override it")
	fs.Var(&o.wait, "wait", "follow the job to its end and exit with its outcome (default true when embedded, else false)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis URL: redis://[:password@]host:port/db, redis-sentinel://[:password@]h1:26379,h2:26379/master[/db] or redis-cluster://[:password@]h1:7000,h2:7001; default $REDIS_URL; neither: embedded mode")
	fs.IntVar(&o.concurrency, "concurrency", 8, "embedded mode: chunk tasks processed at once")
	fs.StringVar(&o.rateLimit, "rate-limit", "", "embedded mode: override API rate limits, e.g. 'embed=2000/1m,rerank=1000/1m' (embed counts inputs, others requests); default Cohere's production limits")
	fs.StringVar(&o.httpAddr, "http", "", "embedded mode: serve the workers' Prometheus /metrics on this address, e.g. 127.0.0.1:9090 (unauthenticated: keep it on loopback)")
	fs.StringVar(&o.queue, "queue", queue.DefaultQueue, "asynq queue for the job's tasks")
	fs.DurationVar(&o.apiTimeout, "api-timeout", 60*time.Second, "embedded mode: timeout of one API call attempt")
	fs.BoolVar(&o.sim, "sim", false, "run against the built-in Cohere simulator (deterministic vectors, no key, no network) instead of the real API")
	fs.StringVar(&o.query, "query", "", "after the job, embed this query and print the 5 nearest records")
	fs.StringVar(&o.status, "status", "", "print the status of job JOB and exit")
	fs.StringVar(&o.deadLetters, "dead-letters", "", "print the failed records of job JOB (JSON lines) and exit")
	fs.StringVar(&o.cancel, "cancel", "", "cancel job JOB: no new API calls; in-flight chunks stop")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: text or json (default: text on a terminal, else json)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	fs.BoolVar(&o.version, "version", false, "print the version and exit (as enqueue version)")
	return fs
}
