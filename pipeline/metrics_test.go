package pipeline_test

import (
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/version"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/pipeline/queue"
)

// startMetricsWorker starts a worker like cmd/worker's: its series on the
// registry cli.NewMetrics returns, beside the queue's depth and the Go
// runtime's.
func (h *harness) startMetricsWorker(n int) (*prometheus.Registry, *pipeline.Metrics) {
	h.t.Helper()
	client, err := cohere.New(cohere.Config{BaseURL: h.fake.URL, APIKey: coheretest.DefaultAPIKey,
		Timeout: cmp.Or(h.timeout, 5*time.Second), Retry: cohere.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, NoRetryRateLimited: true}})
	if err != nil {
		h.t.Fatal(err)
	}
	reg, m := cli.NewMetrics(h.rdb, queue.DefaultQueue)
	w := cli.NewWorker(cli.WorkerDeps{Redis: h.rdb, Queue: h.enq, Cohere: client, APIKey: coheretest.DefaultAPIKey,
		Limits: h.limits, Metrics: m})
	srv := queue.NewServer(h.conn, n, queue.DefaultQueue, 5*time.Second, testLogger(h.t))
	if err := srv.Start(queue.NewMux(w)); err != nil {
		h.t.Fatal(err)
	}
	h.servers = append(h.servers, srv)
	return reg, m
}

// series is one sample of the exposition: its family, labels and value
// (a histogram's: its sample count).
type series struct {
	family string
	labels map[string]string
	value  float64
}

func gather(t *testing.T, reg *prometheus.Registry) ([]*dto.MetricFamily, []series) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []series
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := series{family: mf.GetName(), labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.Counter.GetValue()
			case m.Gauge != nil:
				s.value = m.Gauge.GetValue()
			case m.Histogram != nil:
				s.value = float64(m.Histogram.GetSampleCount())
			}
			out = append(out, s)
		}
	}
	return mfs, out
}

// ofJob returns the series labelled with job, keyed by family and the
// other labels' values in name order.
func ofJob(all []series, job string) map[string]float64 {
	got := map[string]float64{}
	for _, s := range all {
		if s.labels[pipeline.JobLabel] != job {
			continue
		}
		key := s.family
		for _, name := range slices.Sorted(maps.Keys(s.labels)) {
			if name != pipeline.JobLabel {
				key += " " + name + "=" + s.labels[name]
			}
		}
		got[key] = s.value
	}
	return got
}

// TestMetricsOfAJob runs a real job with one poison record and checks the
// exposition: promlint finds nothing, every per-job series carries
// cobatch_job and matches the job's outcome and the fake's counters, and
// the job's series go once its grace period is over.
func TestMetricsOfAJob(t *testing.T) {
	t.Parallel()
	poison := corpusText(150)
	h := newHarness(t, coheretest.WithPoison(poison))
	reg, m := h.startMetricsWorker(2)
	m.Grace = time.Hour // dropped by hand below, then by a short real grace
	path, _ := writeCorpus(t, 1000, corpusText)
	spec := h.spec("metrics-a", path)
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 999 || st.Failed != 1 {
		t.Fatalf("status %s written %d failed %d", st.State, st.Written, st.Failed)
	}
	fake := h.fake.Stats()
	h.fake.ResetStats()

	mfs, all := gather(t, reg)
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, s := range all {
		if _, ok := s.labels["job"]; ok {
			t.Errorf("%s has a job label: Prometheus would rename it exported_job", s.family)
		}
	}

	// The calls' statuses and the histogram's series are exactly the
	// fake's: 200s and the 400s that isolated the poison record.
	ok, bad := float64(fake.Status[200]), float64(fake.Status[400])
	if ok == 0 || bad == 0 || len(fake.Status) != 2 {
		t.Fatalf("fake served %v, want 200s and 400s only", fake.Status)
	}
	limit := h.limits["embed"]
	got := ofJob(all, "metrics-a")
	want := map[string]float64{
		"cobatch_records_total outcome=written":                          999,
		"cobatch_records_total outcome=skipped":                          0,
		"cobatch_records_total outcome=failed":                           1,
		"cobatch_api_calls_total endpoint=embed status=200":              ok,
		"cobatch_api_calls_total endpoint=embed status=400":              bad,
		"cobatch_api_request_duration_seconds endpoint=embed status=200": ok,
		"cobatch_api_request_duration_seconds endpoint=embed status=400": bad,
		"cobatch_api_throttled_total endpoint=embed":                     0,
		"cobatch_tokens_billed_total endpoint=embed":                     float64(fake.BilledInputTokens),
		"cobatch_limiter_wait_seconds_total endpoint=embed":              got["cobatch_limiter_wait_seconds_total endpoint=embed"],
		"cobatch_sink_write_seconds":                                     2, // two chunks of 500
		"cobatch_estimated_cost_usd_total":                               got["cobatch_estimated_cost_usd_total"],
		"cobatch_limiter_limit endpoint=embed":                           float64(limit.Count),
		"cobatch_limiter_rate_per_second endpoint=embed":                 limit.PerSecond(),
		"cobatch_limiter_configured_rate_per_second endpoint=embed":      limit.PerSecond(),
	}
	if !maps.Equal(got, want) {
		t.Errorf("series of the job:\n got %v\nwant %v", got, want)
	}
	if fake.BilledInputTokens == 0 || st.Tokens != int64(fake.BilledInputTokens) {
		t.Errorf("tokens: job %d, fake %d", st.Tokens, fake.BilledInputTokens)
	}
	if cost, want := got["cobatch_estimated_cost_usd_total"], pipeline.Billed(st); want == 0 || math.Abs(cost-want) > want*1e-9 {
		t.Errorf("cost = %v, want the job's %v", cost, want)
	}
	build := ofJob(all, "")["cobatch_build_info goversion="+runtime.Version()+" version="+version.String()]
	if build != 1 {
		t.Errorf("cobatch_build_info{version=%q} = %v, want 1", version.String(), build)
	}

	// A second job keeps its series when the first one's are dropped.
	path2, _ := writeCorpus(t, 500, func(i int) string { return "second " + corpusText(i) })
	if st := h.run(h.spec("metrics-b", path2)); st.State != jobstore.StateDone || st.Written != 500 {
		t.Fatalf("second job: %s written %d", st.State, st.Written)
	}
	_, all = gather(t, reg)
	if n := len(ofJob(all, "metrics-a")); n != len(want) {
		t.Fatalf("before the grace period: %d series of the first job, want %d", n, len(want))
	}
	second := ofJob(all, "metrics-b")
	if second["cobatch_records_total outcome=written"] != 500 {
		t.Fatalf("second job's series: %v", second)
	}
	if !m.FireDrop("metrics-a") {
		t.Fatal("no drop pending for the finished job")
	}
	_, all = gather(t, reg)
	if n := len(ofJob(all, "metrics-a")); n != 0 {
		t.Errorf("after the grace period: %d series of the first job remain", n)
	}
	if still := ofJob(all, "metrics-b"); !maps.Equal(still, second) {
		t.Errorf("the second job's series changed: %v, want %v", still, second)
	}

	// With a short grace, the timer drops a job's series by itself.
	m.Grace = 50 * time.Millisecond
	path3, _ := writeCorpus(t, 100, func(i int) string { return "third " + corpusText(i) })
	if st := h.run(h.spec("metrics-c", path3)); st.State != jobstore.StateDone {
		t.Fatalf("third job: %s", st.State)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, all = gather(t, reg)
		if len(ofJob(all, "metrics-c")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third job's series stayed past its grace period")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDashboardQueriesExist checks the Grafana dashboard against a real
// exposition: every metric it queries is exported, and every per-job query
// filters on $cobatch_job.
func TestDashboardQueriesExist(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg, _ := h.startMetricsWorker(2)
	path, _ := writeCorpus(t, 200, corpusText)
	if st := h.run(h.spec("dashboard", path)); st.State != jobstore.StateDone {
		t.Fatalf("job: %s", st.State)
	}
	mfs, _ := gather(t, reg)
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[mf.GetName()+suffix] = true
			}
		}
	}

	b, err := os.ReadFile("../deploy/grafana/cobatch.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	hasVar := false
	for _, v := range dash.Templating.List {
		if v.Name == "cobatch_job" {
			hasVar = true
			if v.Definition != "label_values(cobatch_records_total, cobatch_job)" {
				t.Errorf("$cobatch_job is defined by %q", v.Definition)
			}
		}
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	if !hasVar {
		t.Error("the dashboard has no $cobatch_job variable")
	}
	perJob := map[string]bool{}
	for _, mf := range mfs {
		for _, l := range mf.GetMetric()[0].GetLabel() {
			if l.GetName() == pipeline.JobLabel {
				perJob[mf.GetName()] = true
			}
		}
	}
	name := regexp.MustCompile(`\b(cobatch|go|process)_[a-z0-9_]+`)
	queried := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			for _, n := range name.FindAllString(tg.Expr, -1) {
				if n == pipeline.JobLabel {
					continue
				}
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
				if perJob[base] && !strings.Contains(tg.Expr, n+`{cobatch_job=~"$cobatch_job"`) {
					t.Errorf("panel %q: %s is not filtered on $cobatch_job: %s", p.Title, n, tg.Expr)
				}
			}
		}
	}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			if n == pipeline.JobLabel {
				continue // the label, not a metric
			}
			queried++
			if !exported[n] {
				t.Errorf("the dashboard queries %s, which /metrics does not export (%s)", n, e)
			}
		}
		if strings.Contains(e, "$job") || regexp.MustCompile(`[{,]\s*job\s*=`).MatchString(e) {
			t.Errorf("query filters on the scrape job's label: %s", e)
		}
	}
	if queried == 0 {
		t.Fatal("no metric found in the dashboard's queries")
	}
}

// TestMetricsOfAnAsyncJob: the tokens an embed job was billed, and their
// cost, reach the job's series once, when the remote job completes.
func TestMetricsOfAnAsyncJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, asyncDelays)
	reg := prometheus.NewRegistry()
	h.metrics = pipeline.NewMetrics(reg)
	h.startAsyncWorkers(2, nil)
	path, _ := writeCorpus(t, 3000, corpusText)
	spec := h.asyncSpec("async-metrics", "embed-english-light-v3.0", pipeline.AsyncEmbedJobs, path)
	h.plan(spec, 2000)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 3000 {
		t.Fatalf("status %s written %d (%s)", st.State, st.Written, st.Reason)
	}
	billed := h.fake.Stats().BilledInputTokens
	_, all := gather(t, reg)
	got := ofJob(all, spec.ID)
	if billed == 0 || got["cobatch_tokens_billed_total endpoint=embed-jobs"] != float64(billed) {
		t.Errorf("tokens = %v, want the fake's %d (series %v)", got["cobatch_tokens_billed_total endpoint=embed-jobs"], billed, got)
	}
	if cost, want := got["cobatch_estimated_cost_usd_total"], pipeline.Billed(st); want == 0 || math.Abs(cost-want) > want*1e-9 {
		t.Errorf("cost = %v, want the job's %v", cost, want)
	}
	if got["cobatch_records_total outcome=written"] != 3000 {
		t.Errorf("written = %v, want 3000", got["cobatch_records_total outcome=written"])
	}
}
