package jobstore

import "time"

// ChunkResult is what one chunk contributed to its job.
type ChunkResult struct {
	Written int64 `json:"written"`
	Skipped int64 `json:"skipped"`
	Failed  int64 `json:"failed"`
}

// Stat names for AddStats: what the job spent, counted on every attempt.
const (
	StatCalls     = "calls"
	StatTokens    = "tokens"
	StatThrottled = "throttled"
	// StatEmbedded counts texts embedded so far, chunks not yet recorded
	// included: it moves the progress bar between chunk completions.
	StatEmbedded = "embedded"
)

// Status is a snapshot of a job.
type Status[S any] struct {
	Spec       S
	State      string
	Reason     string
	Planned    bool
	Chunks     int64
	ChunksDone int64
	Records    int64 // planned
	Written    int64
	Skipped    int64
	Failed     int64
	Calls      int64
	Tokens     int64
	Throttled  int64
	Embedded   int64
	// SearchUnits are what rerank calls were billed.
	SearchUnits int64
	// Truncated counts texts longer than the model reads; Pruned, the rows
	// -prune deleted (or would delete, with -prune-dry-run).
	Truncated, Pruned int64
	StartedAt         time.Time
	FinishedAt        time.Time
	// Async holds the groups of a job on the async route (nil on the sync
	// route): each one's phase and remote ids.
	Async []GroupState

	// OutputTokens are what chat calls were billed for their replies, and
	// MaxTokensCut counts the replies written cut at -max-tokens.
	OutputTokens, MaxTokensCut int64
}

// Total is the number of records accounted for so far.
func (s Status[S]) Total() int64 { return s.Written + s.Skipped + s.Failed }

// Progress estimates records processed, counting texts embedded by chunks
// still running; only Total is exact.
func (s Status[S]) Progress() int64 {
	p := max(s.Total(), s.Embedded+s.Skipped+s.Failed)
	if s.Records > 0 {
		p = min(p, s.Records)
	}
	return p
}

// Ended reports whether the job reached a final state.
func (s Status[S]) Ended() bool {
	return s.State == StateDone || s.State == StateAborted || s.State == StateCancelled
}

// Stats of chat calls, beside StatTokens (billed input tokens).
const (
	StatOutputTokens = "output_tokens"
	// StatMaxTokens counts replies written cut short at -max-tokens.
	StatMaxTokens = "chat_max_tokens"
)

// Stat names of the corpus options: texts embedded although longer than
// the model's context (the API cut them short; like every stat, counted on
// each attempt), and rows -prune deleted.
const (
	StatTruncated = "truncated"
	StatPruned    = "pruned"
)

// StatSearchUnits counts the search units rerank calls were billed.
const StatSearchUnits = "search_units"

// AsWritten moves n of r's skipped records, found in the sink but written
// by this run (an earlier delivery, or the async route: pipeline/pending.go),
// to its written ones.
func (r ChunkResult) AsWritten(n int64) ChunkResult {
	n = min(n, r.Skipped)
	r.Written, r.Skipped = r.Written+n, r.Skipped-n
	return r
}
