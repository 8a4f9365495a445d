// Package e2e holds the end-to-end tests that run the real commands as
// processes: enqueue and several workers on the real Redis, against a
// coheretest server in the test process, with workers killed mid-job; a
// split corpus kept in step night after night in both sinks (corpus_test.go);
// and benchmarks of whole jobs, among them an unchanged nightly re-run
// against the first night (nightly_bench_test.go).
package e2e
