package jobview

import (
	"fmt"
	"io"
	"strings"

	"github.com/cobatch/cobatch/pipeline"
)

// asyncProgress sums up the groups of an async job by phase, e.g.
// "  async: 2 processing, 1 download"; "" on the sync route.
func asyncProgress(s pipeline.Status) string {
	if len(s.Async) == 0 {
		return ""
	}
	count := map[string]int{}
	var order []string
	for _, g := range s.Async {
		if count[g.Phase] == 0 {
			order = append(order, g.Phase)
		}
		count[g.Phase]++
	}
	parts := make([]string, len(order))
	for i, p := range order {
		parts[i] = fmt.Sprintf("%d %s", count[p], p)
	}
	return "  async: " + strings.Join(parts, ", ")
}

// writeAsyncSummary lists an async job's groups with their remote ids, so
// that a user can look them up in Cohere's dashboard or API.
func writeAsyncSummary(w io.Writer, s pipeline.Status) {
	if len(s.Async) == 0 {
		return
	}
	fmt.Fprintf(w, "  async:   %s, %d dataset(s)\n", s.Async[0].Route, len(s.Async))
	for _, g := range s.Async {
		fmt.Fprintf(w, "    group %d: %s", g.Group, g.Phase)
		if g.RemoteID != "" {
			fmt.Fprintf(w, "  %s %s", pipeline.RemoteKind(g.Route), g.RemoteID)
		}
		if g.DatasetID != "" {
			fmt.Fprintf(w, "  dataset %s", g.DatasetID)
		}
		if g.Error != "" {
			fmt.Fprintf(w, "  (%s)", g.Error)
		}
		fmt.Fprintln(w)
	}
}
