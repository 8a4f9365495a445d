package pgvector

import (
	"encoding/json"

	"github.com/cobatch/cobatch/sinks"
)

// classifyRoutes returns the route column of rows (NULL where a row has
// none) and their labels_predicted as JSON arrays (NULL for a single-label
// row), the shapes the upsert's unnest takes.
func classifyRoutes(rows []sinks.Classification) (routes, multi []*string) {
	routes, multi = make([]*string, len(rows)), make([]*string, len(rows))
	for i, r := range rows {
		if r.Route != "" {
			routes[i] = &r.Route
		}
		if r.LabelsPredicted != nil {
			b, _ := json.Marshal(r.LabelsPredicted) // a []string always encodes
			s := string(b)
			multi[i] = &s
		}
	}
	return routes, multi
}
