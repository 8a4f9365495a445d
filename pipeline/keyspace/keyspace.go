// Package keyspace spells every Redis key cobatch writes, each a function
// (or constant) in this one file, so that what lives in Redis can be read in
// one place and no two parts of the code can disagree on a name. Only the job
// store (pipeline/jobstore), the shared rate limiter (pipeline/ratelimit) and
// the scheduler lock (internal/cli) use them; the task queue's own keys are
// asynq's, under the queue's name.
//
// All keys of one job share the hash tag {JOB}, and all keys of one limiter
// the tag {limiter:FINGERPRINT:ENDPOINT}: on Redis Cluster each group lives
// in one slot, so every script or transaction over it stays in that slot.
package keyspace

import "strconv"

func jobPrefix(id string) string { return "cobatch:{" + id + "}:" }

// Job holds the spec, state, reason, plan counts, budget and timestamps.
func Job(id string) string { return jobPrefix(id) + "job" }

// Done maps each chunk recorded done to its result.
func Done(id string) string { return jobPrefix(id) + "done" }

// Totals holds the record counters (written, skipped, failed, chunks_done).
func Totals(id string) string { return jobPrefix(id) + "totals" }

// Stats holds the spending counters (calls, tokens, throttled, ...).
func Stats(id string) string { return jobPrefix(id) + "stats" }

// Dead lists the job's dead letters.
func Dead(id string) string { return jobPrefix(id) + "dead" }

// DeadChunks maps a chunk to its dead letters (a JSON array of the
// entries it pushed to Dead), so that a retried chunk can take back
// exactly its own.
func DeadChunks(id string) string { return jobPrefix(id) + "deadchunks" }

// Errors lists the job's last errors.
func Errors(id string) string { return jobPrefix(id) + "errors" }

// PlanFail records, per input file, what planning could not read.
func PlanFail(id string) string { return jobPrefix(id) + "planfail" }

// Pending maps a chunk to the records the async route left for it.
func Pending(id string) string { return jobPrefix(id) + "pending" }

// Examples holds a classify job's few-shot examples.
func Examples(id string) string { return jobPrefix(id) + "examples" }

// Async holds a job's async route and its groups' definitions.
func Async(id string) string { return jobPrefix(id) + "async" }

// Group holds one async group's phase and remote ids.
func Group(id string, g int) string { return jobPrefix(id) + "async:" + strconv.Itoa(g) }

// Jobs is the set of every job id (the one key outside any job's slot;
// it is only ever touched alone).
const Jobs = "cobatch:jobs"

// Centroids holds the label centroids of a classify job on the embed
// route, computed once from its examples.
func Centroids(id string) string { return jobPrefix(id) + "centroids" }

// CentroidsLock is held by the one worker embedding a job's examples.
func CentroidsLock(id string) string { return jobPrefix(id) + "centroids:lock" }

// IDs maps each record id of the job to the chunk that claimed it first
// and the record's file:line ("CHUNK|FILE:LINE"), so that an id repeated in
// another chunk is caught.
func IDs(id string) string { return jobPrefix(id) + "ids" }

// Calls holds the results of a chunk's API calls as each returns, until
// the chunk's rows are written (pipeline/checkpoint.go): a chunk redelivered after a
// crash does not pay for them again.
func Calls(id string, chunk int) string { return jobPrefix(id) + "calls:" + strconv.Itoa(chunk) }

// Limiter returns the keys of the rate limiter of one API key (by its
// fingerprint: the key itself never appears) and endpoint: the log of units
// the API has seen, the units in flight, and its state (pipeline/ratelimit,
// scripts.go).
func Limiter(keyFP, endpoint string) (log, flight, state string) {
	tag := "cobatch:{limiter:" + keyFP + ":" + endpoint + "}:"
	return tag + "log", tag + "flight", tag + "state"
}

// SchedulerLock is held by the one worker that enqueues scheduled jobs
// (internal/cli, schedule.go).
const SchedulerLock = "cobatch:scheduler:lock"
