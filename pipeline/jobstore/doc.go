// Package jobstore is the job store: a job's spec, state, plan, counters,
// dead letters, the async route's groups, budget reservations, claimed ids
// and call checkpoints, all in Redis. It is the one package that reads or
// writes a job's Redis keys (spelled in pipeline/keyspace/keyspace.go) and
// the one that moves a job or a chunk from one state to the next: create,
// plan, record a chunk done, abort, cancel, restart, reopen failed chunks.
// What must count once is one script: recording a chunk (its counts, dead
// letters and checkpoints), a planning failure, a group's reservation and
// its bill, ids claimed job-wide; so a chunk or a task delivered twice
// counts once.
//
// The store is generic in the job's spec, which it keeps as JSON: package
// pipeline uses it as pipeline.Store (a Store of pipeline.Spec).
package jobstore
