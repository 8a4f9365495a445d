package pipeline

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/internal/version"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
)

// JobLabel is the label holding the cobatch job id on every per-job series.
// It is not "job": Prometheus sets "job" to the scrape job's name and renames
// a target's own "job" label to "exported_job".
const JobLabel = "cobatch_job"

// DefaultMetricsGrace is how long a finished job's series stay on /metrics,
// so that the last scrapes see its final values.
const DefaultMetricsGrace = 10 * time.Minute

// Metrics are the Prometheus series a worker exports on /metrics. A nil
// *Metrics records nothing.
type Metrics struct {
	Records      *prometheus.CounterVec   // cobatch_job, outcome
	Calls        *prometheus.CounterVec   // cobatch_job, endpoint, status
	Throttled    *prometheus.CounterVec   // cobatch_job, endpoint
	Tokens       *prometheus.CounterVec   // cobatch_job, endpoint
	LimiterWait  *prometheus.CounterVec   // cobatch_job, endpoint (seconds)
	SinkWriteSec *prometheus.HistogramVec // cobatch_job
	APISeconds   *prometheus.HistogramVec // cobatch_job, endpoint, status
	Cost         *prometheus.CounterVec   // cobatch_job (USD, at the job's price)
	LimiterLimit *prometheus.GaugeVec     // cobatch_job, endpoint: units per window in force
	LimiterRate  *prometheus.GaugeVec     // cobatch_job, endpoint: units per second in force
	LimiterMax   *prometheus.GaugeVec     // cobatch_job, endpoint: configured units per second
	Truncated    *prometheus.CounterVec   // cobatch_job: texts longer than the model's context

	// Grace is how long a finished job's series stay (default
	// DefaultMetricsGrace); set it before the first job ends.
	Grace time.Duration

	mu     sync.Mutex
	drops  map[string]*time.Timer // job → its pending drop
	prices map[string]float64     // job → unit price, while it runs
}

// NewMetrics registers the worker's series, and cobatch_build_info, on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	job := []string{JobLabel}
	byEndpoint := []string{JobLabel, "endpoint"}
	byStatus := []string{JobLabel, "endpoint", "status"}
	m := &Metrics{
		Records:      counter("cobatch_records_total", "Records processed, by outcome (written, skipped, failed).", JobLabel, "outcome"),
		Calls:        counter("cobatch_api_calls_total", "Cohere API calls, by endpoint and HTTP status (0: no response).", byStatus...),
		Throttled:    counter("cobatch_api_throttled_total", "429 responses received.", byEndpoint...),
		Tokens:       counter("cobatch_tokens_billed_total", "Input tokens billed by the API.", byEndpoint...),
		LimiterWait:  counter("cobatch_limiter_wait_seconds_total", "Time spent waiting on the shared rate limiter.", byEndpoint...),
		SinkWriteSec: histogram("cobatch_sink_write_seconds", "Time to write one chunk to the sink.", 0.005, job...),
		APISeconds:   histogram("cobatch_api_request_duration_seconds", "Duration of one Cohere API call, the client's own retries included, by endpoint and final HTTP status (0: no response).", 0.01, byStatus...),
		Cost:         counter("cobatch_estimated_cost_usd_total", "Estimated cost of the billed tokens or search units, in USD at the job's price.", job...),
		LimiterLimit: gauge("cobatch_limiter_limit", "Units per limiter window in force: the configured limit, or the one learned from 429s.", byEndpoint...),
		LimiterRate:  gauge("cobatch_limiter_rate_per_second", "Units per second the shared limiter allows now (the limit in force over its window).", byEndpoint...),
		LimiterMax:   gauge("cobatch_limiter_configured_rate_per_second", "Units per second of the configured limit (-rate-limit or the API's production limit).", byEndpoint...),
		Truncated:    counter("cobatch_texts_truncated_total", "Texts embedded although longer than the model's context (cut short by the API).", job...),
	}
	build := gauge("cobatch_build_info", "Always 1; the labels name the running build.", "version", "goversion")
	build.WithLabelValues(version.String(), runtime.Version()).Set(1)
	reg.MustRegister(m.Records, m.Calls, m.Throttled, m.Tokens, m.LimiterWait, m.SinkWriteSec,
		m.APISeconds, m.Cost, m.LimiterLimit, m.LimiterRate, m.LimiterMax, m.Truncated, build)
	return m
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

// histogram's 14 buckets start at first seconds, each twice the last.
func histogram(name, help string, first float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: prometheus.ExponentialBuckets(first, 2, 14)}, labels)
}

// vecs are the per-job series, each with a JobLabel.
func (m *Metrics) vecs() []*prometheus.MetricVec {
	return []*prometheus.MetricVec{
		m.Records.MetricVec, m.Calls.MetricVec, m.Throttled.MetricVec, m.Tokens.MetricVec,
		m.LimiterWait.MetricVec, m.SinkWriteSec.MetricVec, m.APISeconds.MetricVec, m.Cost.MetricVec,
		m.LimiterLimit.MetricVec, m.LimiterRate.MetricVec, m.LimiterMax.MetricVec, m.Truncated.MetricVec,
	}
}

func (m *Metrics) records(job string, r jobstore.ChunkResult) {
	if m == nil {
		return
	}
	m.Records.WithLabelValues(job, "written").Add(float64(r.Written))
	m.Records.WithLabelValues(job, "skipped").Add(float64(r.Skipped))
	m.Records.WithLabelValues(job, "failed").Add(float64(r.Failed))
}

// limitReader is what the metrics read of a limiter (ratelimit.Limiter has
// it); a limiter without it exports no limiter gauges.
type limitReader interface {
	Limit() ratelimit.Limit
	Current() ratelimit.Limit
}

// observeCall records one API call of callAPI: its status and duration, the
// tokens and cost it billed, and the limit in force after it.
func (m *Metrics) observeCall(job, endpoint string, lim Limiter, err error, stats map[string]int64, d time.Duration) {
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
	m.APISeconds.WithLabelValues(job, endpoint, status).Observe(d.Seconds())
	// Created at 0 by the first call, so that a job never throttled shows
	// a rate of 0, not no data.
	throttled := m.Throttled.WithLabelValues(job, endpoint)
	if status == "429" {
		throttled.Inc()
	}
	m.Tokens.WithLabelValues(job, endpoint).Add(float64(stats[jobstore.StatTokens]))
	m.Cost.WithLabelValues(job).Add(Cost(m.price(job), stats[jobstore.StatTokens], stats[jobstore.StatSearchUnits]))
	if l, ok := lim.(limitReader); ok {
		cur := l.Current()
		m.LimiterLimit.WithLabelValues(job, endpoint).Set(float64(cur.Count))
		m.LimiterRate.WithLabelValues(job, endpoint).Set(cur.PerSecond())
		m.LimiterMax.WithLabelValues(job, endpoint).Set(l.Limit().PerSecond())
	}
}

// jobPrice sets the unit price of a job this worker runs, for the cost of
// its calls (observeCall).
func (m *Metrics) jobPrice(job string, price float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.prices == nil {
		m.prices = map[string]float64{}
	}
	m.prices[job] = price
}

// price is the unit price of a running job (jobPrice), else 0.
func (m *Metrics) price(job string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prices[job]
}

// billed records the tokens a remote job (route: embed-jobs, batches) was
// billed, once, when it completed.
func (m *Metrics) billed(spec Spec, route string, tokens, outTokens int64) {
	if m == nil {
		return
	}
	m.Tokens.WithLabelValues(spec.ID, route).Add(float64(tokens))
	m.Cost.WithLabelValues(spec.ID).Add(Cost(spec.Price(), tokens, 0) + Cost(spec.PriceOut(), outTokens, 0))
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

// jobEnded drops the job's series once Grace has passed. A job that ends
// again before then (another handler seeing it stopped) keeps its first
// drop time.
func (m *Metrics) jobEnded(job string) {
	if m == nil {
		return
	}
	grace := m.Grace
	if grace <= 0 {
		grace = DefaultMetricsGrace
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.prices, job)
	if _, ok := m.drops[job]; ok {
		return
	}
	if m.drops == nil {
		m.drops = map[string]*time.Timer{}
	}
	m.drops[job] = time.AfterFunc(grace, func() { m.drop(job) })
}

// drop deletes every series of job.
func (m *Metrics) drop(job string) {
	m.mu.Lock()
	delete(m.drops, job)
	m.mu.Unlock()
	for _, v := range m.vecs() {
		v.DeletePartialMatch(prometheus.Labels{JobLabel: job})
	}
}

// truncated counts texts embedded although longer than the model's context.
func (m *Metrics) truncated(job string, n int64) {
	if m == nil {
		return
	}
	m.Truncated.WithLabelValues(job).Add(float64(n))
}
