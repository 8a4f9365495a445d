package jobview

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

func TestFitProgress(t *testing.T) {
	st := pipeline.Status{Records: 1_234_567, Written: 600_000, Skipped: 17, Throttled: 12345,
		Tokens: 98_765_432_100, StartedAt: time.Now().Add(-time.Minute),
		Async: []jobstore.GroupState{{Phase: "uploading"}, {Phase: "embedding"}, {Phase: "embedding"}}}
	full := fitProgress(st, 400)
	for _, want := range []string{"[", "600017/1234567 records", "/s", "ETA ", "429s 12345", "tokens 98765432100", "async: 1 uploading, 2 embedding"} {
		if !strings.Contains(full, want) {
			t.Errorf("wide line %q lacks %q", full, want)
		}
	}
	for _, width := range []int{120, 100, 80, 60, 40, 30, 20, 10} {
		l := fitProgress(st, width)
		if n := utf8.RuneCountInString(l); n >= width {
			t.Errorf("width %d: line has %d columns: %q", width, n, l)
		}
		if width >= 40 && !strings.Contains(l, "600017/1234567 records") {
			t.Errorf("width %d: the counts went: %q", width, l)
		}
	}
	if l := fitProgress(st, 80); !strings.Contains(l, "ETA ") || !strings.Contains(l, "[") {
		t.Errorf("80 columns keep the bar and the ETA: %q", l)
	}
}
