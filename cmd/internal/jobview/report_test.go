package jobview

import (
	"strings"
	"testing"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestReportCountsCorpus: `enqueue status` (and its -json) carries the texts
// truncated and the rows pruned, as the summary does.
func TestReportCountsCorpus(t *testing.T) {
	st := pipeline.Status{State: jobstore.StateDone, Written: 3, Skipped: 25, Truncated: 1, Pruned: 6}
	r := NewReport(st)
	if r.Truncated != 1 || r.Pruned != 6 {
		t.Fatalf("report: truncated %d pruned %d, want 1 and 6", r.Truncated, r.Pruned)
	}
	var b strings.Builder
	WriteReport(&b, r)
	if !strings.Contains(b.String(), "  corpus:   1 truncated, 6 pruned\n") {
		t.Fatalf("report:\n%s", b.String())
	}
}
