package jobview

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// Report is a job's status as `enqueue status` shows it (and prints with
// -json for scripts).
type Report struct {
	Job         string              `json:"job"`
	Op          string              `json:"op"`
	Model       string              `json:"model"`
	State       string              `json:"state"`
	Phase       string              `json:"phase"` // planning, running, async phases, or the end state
	Reason      string              `json:"reason,omitempty"`
	Records     int64               `json:"records"` // planned
	Written     int64               `json:"written"`
	Skipped     int64               `json:"skipped"`
	Failed      int64               `json:"failed"`
	Total       int64               `json:"total"` // written + skipped + failed
	Chunks      int64               `json:"chunks"`
	ChunksDone  int64               `json:"chunks_done"`
	Rate        float64             `json:"rate_per_s"`
	ETASeconds  float64             `json:"eta_s,omitempty"`
	Calls       int64               `json:"calls"`
	Throttled   int64               `json:"throttled"`
	Tokens      int64               `json:"tokens"`
	SearchUnits int64               `json:"search_units,omitempty"`
	Truncated   int64               `json:"truncated,omitempty"` // texts longer than the model reads
	Pruned      int64               `json:"pruned,omitempty"`    // rows -prune deleted (or would delete)
	PruneDryRun bool                `json:"prune_dry_run,omitempty"`
	CostUSD     float64             `json:"cost_usd"` // estimated from what was billed
	MaxCostUSD  float64             `json:"max_cost_usd,omitempty"`
	StartedAt   time.Time           `json:"started_at"`
	FinishedAt  *time.Time          `json:"finished_at,omitempty"`
	LastErrors  []jobstore.JobError `json:"last_errors,omitempty"`
	DeadLetters []sinks.Failure     `json:"dead_letters,omitempty"`

	// OutputTokens and MaxTokensCut: chat replies' billed tokens and the
	// replies cut at -max-tokens.
	OutputTokens int64 `json:"output_tokens,omitempty"`
	MaxTokensCut int64 `json:"max_tokens_cut,omitempty"`
}

// LoadReport reads a job's report from the job store, with up to
// deadLetters dead letters.
func LoadReport(ctx context.Context, st *pipeline.Store, id string, deadLetters int64) (Report, error) {
	s, err := st.Status(ctx, id)
	if err != nil {
		return Report{}, err
	}
	r := NewReport(s)
	if r.LastErrors, err = st.LastErrors(ctx, id); err != nil {
		return r, err
	}
	if deadLetters > 0 && s.Failed > 0 {
		if r.DeadLetters, err = st.DeadLetters(ctx, id, deadLetters); err != nil {
			return r, err
		}
	}
	return r, nil
}

// NewReport builds a report from a status (without errors or dead letters).
func NewReport(s pipeline.Status) Report {
	r := Report{
		Job: s.Spec.ID, Op: s.Spec.Op, Model: s.Spec.Model, State: s.State, Phase: s.State, Reason: s.Reason,
		Records: s.Records, Written: s.Written, Skipped: s.Skipped, Failed: s.Failed, Total: s.Total(),
		Chunks: s.Chunks, ChunksDone: s.ChunksDone, Calls: s.Calls, Throttled: s.Throttled,
		Tokens: s.Tokens, SearchUnits: s.SearchUnits, CostUSD: pipeline.Billed(s), MaxCostUSD: s.Spec.MaxCost,
		StartedAt: s.StartedAt, Truncated: s.Truncated, Pruned: s.Pruned, PruneDryRun: s.Spec.PruneDryRun,
	}
	r.OutputTokens, r.MaxTokensCut = s.OutputTokens, s.MaxTokensCut
	if p := asyncProgress(s); p != "" && !s.Ended() {
		r.Phase = s.State + p
	}
	if !s.FinishedAt.IsZero() {
		f := s.FinishedAt
		r.FinishedAt = &f
	}
	end := time.Now()
	if !s.FinishedAt.IsZero() {
		end = s.FinishedAt
	}
	if el := end.Sub(s.StartedAt).Seconds(); el > 0 && !s.StartedAt.IsZero() {
		r.Rate = float64(s.Progress()) / el
	}
	if r.Rate > 0 && !s.Ended() && s.Records > s.Progress() {
		r.ETASeconds = float64(s.Records-s.Progress()) / r.Rate
	}
	return r
}

// WriteReport prints a report for people.
func WriteReport(w io.Writer, r Report) {
	fmt.Fprintf(w, "job %s (%s, %s): %s\n", r.Job, r.Op, r.Model, r.Phase)
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason:   %s\n", r.Reason)
	}
	fmt.Fprintf(w, "  records:  %d written, %d skipped, %d failed, %d of %d accounted for\n", r.Written, r.Skipped, r.Failed, r.Total, r.Records)
	fmt.Fprintf(w, "  chunks:   %d of %d done\n", r.ChunksDone, r.Chunks)
	if r.Truncated > 0 || r.Pruned > 0 {
		fmt.Fprintf(w, "  corpus:   %d truncated, %s\n", r.Truncated, prunedText(r.Pruned, r.PruneDryRun))
	}
	eta := "-"
	if r.ETASeconds > 0 {
		eta = (time.Duration(r.ETASeconds) * time.Second).String()
	}
	fmt.Fprintf(w, "  rate:     %.0f records/s, ETA %s\n", r.Rate, eta)
	fmt.Fprintf(w, "  api:      %d calls, %d rate-limited\n", r.Calls, r.Throttled)
	fmt.Fprintf(w, "  billed:   %d tokens", r.Tokens)
	if r.SearchUnits > 0 {
		fmt.Fprintf(w, ", %d search units", r.SearchUnits)
	}
	if r.OutputTokens > 0 {
		fmt.Fprintf(w, " in, %d tokens out", r.OutputTokens)
	}
	if r.MaxTokensCut > 0 {
		fmt.Fprintf(w, " (%d replies cut at -max-tokens)", r.MaxTokensCut)
	}
	fmt.Fprintf(w, ", about %s", pipeline.USD(r.CostUSD))
	if r.MaxCostUSD > 0 {
		fmt.Fprintf(w, " of -max-cost %s", pipeline.USD(r.MaxCostUSD))
	}
	fmt.Fprintln(w)
	if !r.StartedAt.IsZero() {
		fmt.Fprintf(w, "  started:  %s\n", r.StartedAt.Format(time.RFC3339))
	}
	if r.FinishedAt != nil {
		fmt.Fprintf(w, "  finished: %s\n", r.FinishedAt.Format(time.RFC3339))
	}
	if len(r.LastErrors) > 0 {
		fmt.Fprintln(w, "  last errors:")
		for _, e := range r.LastErrors {
			fmt.Fprintf(w, "    %s  %s\n", e.At.Format(time.TimeOnly), e.Message)
		}
	}
	if len(r.DeadLetters) > 0 {
		fmt.Fprintf(w, "  dead letters (first %d of %d):\n", len(r.DeadLetters), r.Failed)
		for _, f := range r.DeadLetters {
			fmt.Fprintf(w, "    %s\n", deadLetterLine(f))
		}
	}
}

func deadLetterLine(f sinks.Failure) string {
	loc := f.File
	if f.Line > 0 {
		loc = fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	if f.ID != "" {
		return fmt.Sprintf("%s id %s: %s", loc, f.ID, f.Reason)
	}
	return fmt.Sprintf("%s: %s", loc, f.Reason)
}

// WriteDeadLetters prints dead letters for people, one a line.
func WriteDeadLetters(w io.Writer, fails []sinks.Failure) {
	for _, f := range fails {
		fmt.Fprintln(w, deadLetterLine(f))
	}
}

// prunedText says how many rows -prune deleted, or with -prune-dry-run
// would have.
func prunedText(n int64, dryRun bool) string {
	if dryRun {
		return fmt.Sprintf("%d to prune (-prune-dry-run: none deleted)", n)
	}
	return fmt.Sprintf("%d pruned", n)
}
