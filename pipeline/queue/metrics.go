package queue

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// collector reports the depth of asynq queues by task state, read from
// Redis at scrape time so that every worker reports the same shared queue.
type collector struct {
	ins    *asynq.Inspector
	queues []string
	desc   *prometheus.Desc
}

// NewCollector returns a collector of cobatch_queue_tasks{queue,state} for
// the queues in rdb.
func NewCollector(rdb redis.UniversalClient, queues ...string) prometheus.Collector {
	return &collector{ins: asynq.NewInspectorFromRedisClient(rdb), queues: queues, desc: prometheus.NewDesc(
		"cobatch_queue_tasks", "Tasks in the queue, by state (pending, active, scheduled, retry, archived).",
		[]string{"queue", "state"}, nil)}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.queues {
		info, err := c.ins.GetQueueInfo(q)
		if err != nil {
			continue // a queue that never held a task does not exist yet
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived,
		} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), q, state)
		}
	}
}
