package pipeline

import "github.com/cobatch/cobatch/pipeline/keyspace"

// The job store's keys, for benchmarks that set a job's state by hand.
var (
	JobKey    = keyspace.Job
	DoneKey   = keyspace.Done
	TotalsKey = keyspace.Totals
	GroupKey  = keyspace.Group
	StatsKey  = keyspace.Stats
)

// CallsKey is where a chunk's calls are checkpointed (checkpoint.go).
var CallsKey = keyspace.Calls
