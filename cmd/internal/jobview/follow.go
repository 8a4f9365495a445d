package jobview

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cobatch/cobatch/pipeline"
)

// Follower shows a job's progress until it ends.
type Follower struct {
	Store *pipeline.Store
	Out   io.Writer    // where the live bar goes when Live is set
	Live  bool         // redraw a progress bar in place (a terminal)
	Width int          // the terminal's columns: the bar's line stays shorter (0: 80)
	Log   *slog.Logger // progress lines when not Live, and a Redis outage
}

// logEvery is how often the progress is logged when not Live.
const logEvery = 5 * time.Second

// Follow waits until the job ends or ctx is done, showing its progress, and
// returns its last status.
func (f *Follower) Follow(ctx context.Context, id string) (pipeline.Status, error) {
	var lastLog time.Time
	show := func(st pipeline.Status) {
		if f.Live {
			fmt.Fprint(f.Out, "\r"+fitProgress(st, f.Width)+"\x1b[K")
		} else if time.Since(lastLog) >= logEvery && f.Log != nil {
			lastLog = time.Now()
			f.Log.Info("progress", "job", id, "state", st.State, "done", st.Progress(), "records", st.Records,
				"written", st.Written, "skipped", st.Skipped, "failed", st.Failed,
				"rate", fmt.Sprintf("%.0f/s", rate(st)), "throttled", st.Throttled, "tokens", st.Tokens, "async", asyncProgress(st))
		}
	}
	st, err := (&pipeline.Waiter{Store: f.Store, Log: f.Log, Seen: show}).Wait(ctx, id)
	if err == nil && f.Live {
		fmt.Fprintln(f.Out)
	}
	return st, err
}

func rate(s pipeline.Status) float64 {
	el := time.Since(s.StartedAt).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(s.Progress()) / el
}

// WriteSummary prints a finished job's summary.
func WriteSummary(w io.Writer, s pipeline.Status, wall time.Duration) {
	fmt.Fprintf(w, "job %s: %s\n", s.Spec.ID, s.State)
	if s.Reason != "" {
		fmt.Fprintf(w, "  reason:  %s\n", s.Reason)
	}
	fmt.Fprintf(w, "  records: %d written, %d skipped, %d failed, %d total\n", s.Written, s.Skipped, s.Failed, s.Total())
	fmt.Fprintf(w, "  api:     %d calls, %d tokens billed, %d rate-limited\n", s.Calls, s.Tokens, s.Throttled)
	if s.SearchUnits > 0 {
		fmt.Fprintf(w, "  billed:  %d search units\n", s.SearchUnits)
	}
	if s.OutputTokens > 0 {
		fmt.Fprintf(w, "  chat:    %d output tokens billed, %d replies cut at -max-tokens, about %s\n", s.OutputTokens, s.MaxTokensCut, pipeline.USD(pipeline.Billed(s)))
	}
	if s.Truncated > 0 || s.Pruned > 0 {
		fmt.Fprintf(w, "  corpus:  %d truncated, %s\n", s.Truncated, prunedText(s.Pruned, s.Spec.PruneDryRun))
	}
	writeAsyncSummary(w, s)
	fmt.Fprintf(w, "  time:    %s", wall.Round(time.Millisecond))
	if sec := wall.Seconds(); sec > 0 {
		fmt.Fprintf(w, " (%.0f records/s)", float64(s.Total())/sec)
	}
	fmt.Fprintln(w)
	if s.Failed > 0 {
		fmt.Fprintf(w, "  failed records: enqueue dead-letters %s\n", s.Spec.ID)
	}
}
