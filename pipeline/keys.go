package pipeline

import "strconv"

// Every Redis key of the job store is spelled in this file, and only the
// Store reads or writes them. All keys of one job share the hash tag {JOB},
// so that on Redis Cluster they live in one slot and every script or
// transaction over a job's keys stays in that slot. The shared rate limiter
// keeps its own keys (pipeline/ratelimit).

func jobPrefix(id string) string { return "cobatch:{" + id + "}:" }

// jobKey holds the spec, state, reason, plan counts, budget and timestamps.
func jobKey(id string) string { return jobPrefix(id) + "job" }

// doneKey maps each chunk recorded done to its result.
func doneKey(id string) string { return jobPrefix(id) + "done" }

// totalsKey holds the record counters (written, skipped, failed, chunks_done).
func totalsKey(id string) string { return jobPrefix(id) + "totals" }

// statsKey holds the spending counters (calls, tokens, throttled, ...).
func statsKey(id string) string { return jobPrefix(id) + "stats" }

// deadKey lists the job's dead letters.
func deadKey(id string) string { return jobPrefix(id) + "dead" }

// deadChunksKey maps a chunk to its dead letters (a JSON array of the
// entries it pushed to deadKey), so that a retried chunk can take back
// exactly its own.
func deadChunksKey(id string) string { return jobPrefix(id) + "deadchunks" }

// errorsKey lists the job's last errors.
func errorsKey(id string) string { return jobPrefix(id) + "errors" }

// planFailKey records, per input file, what planning could not read.
func planFailKey(id string) string { return jobPrefix(id) + "planfail" }

// pendingKey maps a chunk to the records the async route left for it.
func pendingKey(id string) string { return jobPrefix(id) + "pending" }

// examplesKey holds a classify job's few-shot examples.
func examplesKey(id string) string { return jobPrefix(id) + "examples" }

// asyncKey holds a job's async route and its groups' definitions.
func asyncKey(id string) string { return jobPrefix(id) + "async" }

// groupKey holds one async group's phase and remote ids.
func groupKey(id string, g int) string { return jobPrefix(id) + "async:" + strconv.Itoa(g) }

// jobsKey is the set of every job id (the one key outside any job's slot;
// it is only ever touched alone).
const jobsKey = "cobatch:jobs"

// centroidsKey holds the label centroids of a classify job on the embed
// route, computed once from its examples.
func centroidsKey(id string) string { return jobPrefix(id) + "centroids" }

// centroidsLockKey is held by the one worker embedding a job's examples.
func centroidsLockKey(id string) string { return jobPrefix(id) + "centroids:lock" }

// idsKey maps each record id of the job to the chunk that claimed it first
// and the record's file:line ("CHUNK|FILE:LINE"), so that an id repeated in
// another chunk is caught.
func idsKey(id string) string { return jobPrefix(id) + "ids" }

// callsKey holds the results of a chunk's API calls as each returns, until
// the chunk's rows are written (checkpoint.go): a chunk redelivered after a
// crash does not pay for them again.
func callsKey(id string, chunk int) string { return jobPrefix(id) + "calls:" + strconv.Itoa(chunk) }
