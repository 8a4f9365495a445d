package queue

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/cobatch/cobatch/internal/redisconn"
)

// connOpt connects asynq to the Redis a URL names (one server, a Sentinel
// group or a Cluster) with the client internal/redisconn builds for it, so
// that the queue and the job store reach Redis the same way.
type connOpt struct{ conn redisconn.Conn }

func (o connOpt) MakeRedisClient() any { return o.conn.NewClient() }

// RedisConnOpt is asynq's connection option for conn (asynqmon's too).
func RedisConnOpt(conn redisconn.Conn) asynq.RedisConnOpt { return connOpt{conn} }

// Idle workers look for new tasks every taskCheck and move retried tasks
// back to the queue every retryCheck. asynq's defaults (1 s and 5 s) add up
// to a second to a job's start and again to its finalize task, and 5 s to
// every retried chunk: a tenth of a 20 s job (BENCHMARKS.md, "Rate-limit
// efficiency"). An idle worker then asks Redis 10 times a second.
const (
	taskCheck  = 100 * time.Millisecond
	retryCheck = 500 * time.Millisecond
)

// NewServer returns an asynq server processing queue with concurrency
// handlers; start it with NewMux's mux.
func NewServer(conn redisconn.Conn, concurrency int, queue string, shutdown time.Duration, log *slog.Logger) *asynq.Server {
	return asynq.NewServer(connOpt{conn}, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{queue: 1},
		RetryDelayFunc:           RetryDelay,
		ShutdownTimeout:          shutdown,
		TaskCheckInterval:        taskCheck,
		DelayedTaskCheckInterval: retryCheck,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
	})
}

// Schedule is a cron spec (5 fields, or a descriptor: @daily, @every 2s)
// and the tick it enqueues.
type Schedule struct {
	Cron string
	Tick Tick
}

// StartScheduler starts asynq's Scheduler, which enqueues each schedule's
// tick on queue at its times, until stop is called.
func StartScheduler(conn redisconn.Conn, queue string, schedules []Schedule, log *slog.Logger) (stop func(), err error) {
	s := asynq.NewScheduler(connOpt{conn}, &asynq.SchedulerOpts{Logger: asynqLogger{log}, LogLevel: asynq.WarnLevel})
	for _, sc := range schedules {
		b, _ := json.Marshal(sc.Tick) // two strings: cannot fail
		task := asynq.NewTask(TypeScheduledJob, b, asynq.Queue(queue), asynq.MaxRetry(scheduledRetries))
		if _, err := s.Register(sc.Cron, task); err != nil {
			return nil, fmt.Errorf("schedule %s: %w", sc.Cron, err)
		}
	}
	if err := s.Start(); err != nil {
		return nil, fmt.Errorf("start scheduler: %w", err)
	}
	return s.Shutdown, nil
}

// asynqLogger adapts slog to asynq's logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
