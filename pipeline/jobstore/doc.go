// Package jobstore is the job store: a job's spec, state, plan, counters,
// dead letters, the async route's groups, budget reservations, claimed ids
// and call checkpoints, all in Redis. It is the one package that reads or
// writes a job's Redis keys (spelled in pipeline/keyspace/keyspace.go) and
// the one that moves a job or a chunk from one state to the next: create,
// plan, record a chunk done, abort, cancel, restart, reopen failed chunks.
// Each transition that touches several keys is one script or transaction,
// so a chunk delivered twice is counted once.
//
// The store is generic in the job's spec, which it keeps as JSON: package
// pipeline uses it as pipeline.Store (a Store of pipeline.Spec).
package jobstore
