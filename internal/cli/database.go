package cli

import (
	"fmt"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/sinks"
)

// recordDatabase stores in the spec the name of the database a database sink
// writes to (never the URL, which may hold a password), so that a worker
// whose own DATABASE_URL reaches another database refuses the job instead of
// writing there.
func recordDatabase(spec *pipeline.Spec, databaseURL string) error {
	k, err := sinks.Lookup(spec.Sink)
	if err != nil || k.Database == nil {
		return nil // Validate names an unknown sink
	}
	name, err := k.Database(databaseURL)
	if err != nil {
		return fmt.Errorf("-sink %s: %w", spec.Sink, err)
	}
	spec.Database = name
	return nil
}
