package cli

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// NewMetrics returns the registry a process serves on /metrics: the Go
// runtime's and the process's series, the depth of queue q in rdb, and the
// worker's series (pipeline.NewMetrics) for WorkerDeps.Metrics.
func NewMetrics(rdb redis.UniversalClient, q string) (*prometheus.Registry, *pipeline.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		queue.NewCollector(rdb, q))
	return reg, pipeline.NewMetrics(reg)
}
