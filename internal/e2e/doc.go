// Package e2e holds the end-to-end tests that run the real commands as
// processes: enqueue and several workers on the real Redis, against a
// coheretest server in the test process, with workers killed mid-job.
package e2e
