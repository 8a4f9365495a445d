package pipeline

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cobatch/cobatch/cohere"
)

// Metrics are the Prometheus series a worker exports on /metrics. A nil
// *Metrics records nothing.
type Metrics struct {
	Records      *prometheus.CounterVec   // job, outcome
	Calls        *prometheus.CounterVec   // job, endpoint, status
	Throttled    *prometheus.CounterVec   // job, endpoint
	Tokens       *prometheus.CounterVec   // job, endpoint
	LimiterWait  *prometheus.CounterVec   // job, endpoint (seconds)
	SinkWriteSec *prometheus.HistogramVec // job
	Truncated    *prometheus.CounterVec   // job
}

// NewMetrics registers the worker's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cobatch_records_total", Help: "Records processed, by outcome (written, skipped, failed).",
		}, []string{"job", "outcome"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cobatch_api_calls_total", Help: "Cohere API calls, by endpoint and HTTP status (0: no response).",
		}, []string{"job", "endpoint", "status"}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cobatch_api_throttled_total", Help: "429 responses received.",
		}, []string{"job", "endpoint"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cobatch_tokens_billed_total", Help: "Input tokens billed by the API.",
		}, []string{"job", "endpoint"}),
		LimiterWait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cobatch_limiter_wait_seconds_total", Help: "Time spent waiting on the shared rate limiter.",
		}, []string{"job", "endpoint"}),
		SinkWriteSec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cobatch_sink_write_seconds", Help: "Time to write one chunk to the sink.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"job"}),
	}
	m.Truncated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cobatch_texts_truncated_total", Help: "Texts embedded although longer than the model's context (cut short by the API).",
	}, []string{"job"})
	reg.MustRegister(m.Records, m.Calls, m.Throttled, m.Tokens, m.LimiterWait, m.SinkWriteSec, m.Truncated)
	return m
}

func (m *Metrics) truncated(job string, n int64) {
	if m == nil {
		return
	}
	m.Truncated.WithLabelValues(job).Add(float64(n))
}

func (m *Metrics) records(job string, r ChunkResult) {
	if m == nil {
		return
	}
	m.Records.WithLabelValues(job, "written").Add(float64(r.Written))
	m.Records.WithLabelValues(job, "skipped").Add(float64(r.Skipped))
	m.Records.WithLabelValues(job, "failed").Add(float64(r.Failed))
}

func (m *Metrics) call(job, endpoint string, err error, tokens int64) {
	if m == nil {
		return
	}
	status := "200"
	var apiErr *cohere.APIError
	switch {
	case errors.As(err, &apiErr):
		status = strconv.Itoa(apiErr.StatusCode)
	case err != nil:
		status = "0"
	}
	m.Calls.WithLabelValues(job, endpoint, status).Inc()
	if status == "429" {
		m.Throttled.WithLabelValues(job, endpoint).Inc()
	}
	m.Tokens.WithLabelValues(job, endpoint).Add(float64(tokens))
}

func (m *Metrics) limiterWait(job, endpoint string, d time.Duration) {
	if m == nil {
		return
	}
	m.LimiterWait.WithLabelValues(job, endpoint).Add(d.Seconds())
}

func (m *Metrics) sinkWrite(job string, d time.Duration) {
	if m == nil {
		return
	}
	m.SinkWriteSec.WithLabelValues(job).Observe(d.Seconds())
}
