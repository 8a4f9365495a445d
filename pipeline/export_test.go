package pipeline

// The job store's keys, for benchmarks that set a job's state by hand.
var (
	JobKey    = jobKey
	DoneKey   = doneKey
	TotalsKey = totalsKey
	GroupKey  = groupKey
	StatsKey  = statsKey
)

// CallsKey is where a chunk's calls are checkpointed (checkpoint.go).
var CallsKey = callsKey
