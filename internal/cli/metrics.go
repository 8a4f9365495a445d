package cli

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline"
)

// NewMetrics returns the registry a process serves on /metrics: the Go
// runtime's and the process's series, the depth of queue in rdb, and the
// worker's series (pipeline.NewMetrics) for WorkerDeps.Metrics.
func NewMetrics(rdb redis.UniversalClient, queue string) (*prometheus.Registry, *pipeline.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		pipeline.NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb), queue))
	return reg, pipeline.NewMetrics(reg)
}
