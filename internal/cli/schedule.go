package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"

	"github.com/cobatch/cobatch/internal/redisconn"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/keyspace"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// Schedule is one `worker -schedule 'CRON=JOBSPEC_FILE'`.
type Schedule struct {
	Cron string // a cron spec (5 fields) or a descriptor: @daily, @every 2s
	File string // a job file, as for enqueue -f
	// stamp formats the tick's time into the job id: the date for a
	// daily (or rarer) schedule, down to the second for a frequent one.
	stamp string
}

// ParseSchedule reads 'CRON=FILE'.
func ParseSchedule(s string) (Schedule, error) {
	spec, file, ok := strings.Cut(s, "=")
	spec, file = strings.TrimSpace(spec), strings.TrimSpace(file)
	if !ok || spec == "" || file == "" {
		return Schedule{}, fmt.Errorf("-schedule %q: want 'CRON=JOBSPEC_FILE'", s)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("-schedule %q: %w", s, err)
	}
	ref := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	first := sched.Next(ref)
	period := sched.Next(first).Sub(first)
	stamp := "20060102T150405"
	switch {
	case period >= 24*time.Hour:
		stamp = "20060102"
	case period >= time.Hour:
		stamp = "20060102T15"
	case period >= time.Minute:
		stamp = "20060102T1504"
	}
	return Schedule{Cron: spec, File: file, stamp: stamp}, nil
}

// SchedulerConfig configures RunScheduler.
type SchedulerConfig struct {
	Redis     redis.UniversalClient // holds the lock
	Conn      redisconn.Conn        // the same Redis, for the queue's scheduler
	Schedules []Schedule
	Queue     string        // where the tick tasks go (default queue.DefaultQueue)
	LockTTL   time.Duration // the leader's lock lives this long unless renewed (default 15s)
	Log       *slog.Logger
}

var renewLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

var releaseLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// RunScheduler runs the queue's scheduler for the schedules while this process
// holds the scheduler lock in Redis, until ctx is done. Every worker given
// -schedule runs it: one holds the lock (renewed at a third of its TTL) and
// enqueues the ticks; the others stand by and take over within a TTL once
// the holder stops renewing.
func RunScheduler(ctx context.Context, c SchedulerConfig) error {
	if c.LockTTL <= 0 {
		c.LockTTL = 15 * time.Second
	}
	if c.Queue == "" {
		c.Queue = queue.DefaultQueue
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	idb := make([]byte, 8)
	_, _ = rand.Read(idb)
	id := hex.EncodeToString(idb)
	tick := time.NewTicker(c.LockTTL / 3)
	defer tick.Stop()
	var sched func() // stops the running scheduler; nil while standing by
	stop := func() {
		if sched != nil {
			sched()
			sched = nil
		}
	}
	defer func() {
		stop()
		_ = releaseLock.Run(context.WithoutCancel(ctx), c.Redis, []string{keyspace.SchedulerLock}, id).Err()
	}()
	for {
		var held bool
		if sched == nil {
			ok, err := c.Redis.SetNX(ctx, keyspace.SchedulerLock, id, c.LockTTL).Result()
			held = err == nil && ok
		} else {
			n, err := renewLock.Run(ctx, c.Redis, []string{keyspace.SchedulerLock}, id, c.LockTTL.Milliseconds()).Int()
			held = err == nil && n == 1
		}
		switch {
		case held && sched == nil:
			s, err := startScheduler(c)
			if err != nil {
				return err
			}
			sched = s
			c.Log.Info("scheduler started: this worker enqueues the schedules", "schedules", len(c.Schedules))
		case !held && sched != nil:
			stop()
			c.Log.Warn("scheduler lock lost: standing by")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func startScheduler(c SchedulerConfig) (stop func(), err error) {
	schedules := make([]queue.Schedule, len(c.Schedules))
	for i, sc := range c.Schedules {
		schedules[i] = queue.Schedule{Cron: sc.Cron, Tick: queue.Tick{File: sc.File, Stamp: sc.stamp}}
	}
	return queue.StartScheduler(c.Conn, c.Queue, schedules, c.Log)
}

// PlanScheduled returns the handler of a tick (queue.HandleTicks): it plans
// the job of the tick's job file on q, its id stamped with the tick's date
// (or time, for frequent schedules), so that a night that failed never
// blocks the next. A stamped job that exists already (a second tick, a
// second scheduler, a retried task) is left alone.
func PlanScheduled(store *pipeline.Store, q pipeline.TaskQueue, env Env, log *slog.Logger) func(context.Context, queue.Tick) error {
	return func(ctx context.Context, t queue.Tick) error {
		spec, _, err := ParseJobFile(t.File, env)
		if err != nil {
			return fmt.Errorf("scheduled job %s: %v: %w", t.File, err, pipeline.ErrNoRetry)
		}
		spec.ID += "-" + time.Now().UTC().Format(t.Stamp)
		if _, err := store.Spec(ctx, spec.ID); err == nil {
			log.Info("scheduled job already planned", "job", spec.ID, "file", t.File)
			return nil
		} else if !errors.Is(err, jobstore.ErrNoJob) {
			return err
		}
		if est, err := pipeline.EstimateCost(ctx, spec); err == nil {
			if err := pipeline.CheckBudget(spec, est); err != nil {
				log.Error("scheduled job not started", "job", spec.ID, "err", err)
				return fmt.Errorf("scheduled job %s: %w: %w", spec.ID, err, pipeline.ErrNoRetry)
			}
		}
		res, err := (&pipeline.Planner{Store: store, Queue: q}).Plan(ctx, spec)
		if err != nil {
			return fmt.Errorf("plan scheduled job %s: %w", spec.ID, err)
		}
		log.Info("scheduled job planned", "job", spec.ID, "file", t.File, "chunks", res.Chunks, "records", res.Records)
		return nil
	}
}
