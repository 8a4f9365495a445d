package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
	// The sinks a job can name register themselves.
	_ "github.com/cobatch/cobatch/sinks/parquet"
	_ "github.com/cobatch/cobatch/sinks/pgvector"
)

// Env is the configuration read from the environment.
type Env struct {
	APIKey      string // COHERE_API_KEY or CO_API_KEY (or the file named by COHERE_API_KEY_FILE)
	BaseURL     string // COHERE_BASE_URL or CO_API_URL
	RedisURL    string // REDIS_URL
	DatabaseURL string // DATABASE_URL
}

// ReadEnv reads the environment.
func ReadEnv() (Env, error) {
	e := Env{
		APIKey:      os.Getenv("COHERE_API_KEY"),
		BaseURL:     os.Getenv("COHERE_BASE_URL"),
		RedisURL:    os.Getenv("REDIS_URL"),
		DatabaseURL: os.Getenv("DATABASE_URL"),
	}
	// CO_API_KEY and CO_API_URL are the names Cohere's own SDKs read; the
	// longer names win when both are set.
	e.APIKey = cmp.Or(e.APIKey, os.Getenv("CO_API_KEY"))
	e.BaseURL = cmp.Or(e.BaseURL, os.Getenv("CO_API_URL"))
	if f := os.Getenv("COHERE_API_KEY_FILE"); e.APIKey == "" && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return e, fmt.Errorf("COHERE_API_KEY_FILE: %w", err)
		}
		e.APIKey = strings.TrimSpace(string(b))
	}
	return e, nil
}

// Logger returns a slog logger: text on a terminal, JSON otherwise, unless
// format ("text" or "json") says which.
func Logger(format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "" {
		format = "json"
		if IsTerminal(os.Stderr) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// NewCohere returns the API client. The pipeline waits out 429s itself on the
// shared limiter, so the client does not retry them.
func NewCohere(env Env, timeout time.Duration) (*cohere.Client, error) {
	if env.APIKey == "" {
		return nil, errors.New("COHERE_API_KEY is not set: export your Cohere API key (or CO_API_KEY, or COHERE_API_KEY_FILE), or use -sim to run against the built-in simulator")
	}
	return cohere.New(cohere.Config{
		BaseURL: env.BaseURL,
		APIKey:  env.APIKey,
		Timeout: timeout,
		Retry:   cohere.RetryPolicy{NoRetryRateLimited: true},
	})
}

// WorkerDeps are what a pipeline.Worker is built from.
type WorkerDeps struct {
	Redis       redis.UniversalClient
	Queue       pipeline.TaskQueue // queue.NewClient (pipeline/queue)
	Cohere      pipeline.Embedder
	APIKey      string                     // only its fingerprint is used, to key the shared limiter
	Limits      map[string]ratelimit.Limit // overrides of ratelimit.Defaults()
	DatabaseURL string
	Log         *slog.Logger
	Metrics     *pipeline.Metrics
}

// NewWorker wires a worker: one limiter per endpoint shared through Redis,
// and sinks opened per job on first use.
func NewWorker(d WorkerDeps) *pipeline.Worker {
	limits := ratelimit.Defaults()
	for k, v := range d.Limits {
		limits[k] = v
	}
	fp := ratelimit.KeyFingerprint(d.APIKey)
	var mu sync.Mutex
	limiters := map[string]*ratelimit.Limiter{}
	limiter := func(endpoint string) pipeline.Limiter {
		mu.Lock()
		defer mu.Unlock()
		if l, ok := limiters[endpoint]; ok {
			return l
		}
		lim, ok := limits[endpoint]
		if !ok {
			lim = limits["default"]
		}
		l := ratelimit.New(d.Redis, fp, endpoint, lim)
		limiters[endpoint] = l
		return l
	}
	// The client serves the async route too; a bare Embedder does not.
	async, _ := d.Cohere.(pipeline.AsyncAPI)
	return &pipeline.Worker{
		Deps: pipeline.Deps{
			Store:    pipeline.NewStore(d.Redis),
			Embedder: d.Cohere,
			Limiter:  limiter,
			Log:      d.Log,
			Metrics:  d.Metrics,
		},
		Async: async,
		OpenSink: func(ctx context.Context, spec pipeline.Spec) (pipeline.Sink, error) {
			return OpenSink(ctx, spec, d.DatabaseURL)
		},
		Queue: d.Queue,
	}
}

// OpenSink opens the sink a job writes to, by its -sink scheme. A database
// sink uses databaseURL: the job spec in Redis never holds a connection
// string.
func OpenSink(ctx context.Context, spec pipeline.Spec, databaseURL string) (pipeline.Sink, error) {
	return sinks.Open(ctx, spec.Sink, spec.Target(databaseURL))
}
