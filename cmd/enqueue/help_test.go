package main

import (
	"testing"

	"github.com/cobatch/cobatch/internal/cli"
)

// TestEveryFlagHasASection: a flag added without a line in runSections or
// cli.JobFlagSections would be listed under "Other" in -h.
func TestEveryFlagHasASection(t *testing.T) {
	var o options
	fs := newFlagSet(&o, cli.Env{})
	if un := enqueueHelp().Unlisted(fs); len(un) != 0 {
		t.Errorf("flags in no section of enqueue -h: %v", un)
	}
	for name := range oldFlags {
		if fs.Lookup(name) == nil {
			t.Errorf("old flag -%s is no longer accepted", name)
		}
	}
}
