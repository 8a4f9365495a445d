package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
)

// cancelRemote cancels the embed jobs or batches of a cancelled job and
// deletes its datasets, with the API key of this environment.
func cancelRemote(ctx context.Context, store *pipeline.Store, job string, stdout io.Writer) error {
	refs, err := pipeline.RemoteIDs(ctx, store, job)
	if err != nil || len(refs) == 0 {
		return err
	}
	env, err := cli.ReadEnv()
	if err != nil {
		return err
	}
	client, err := cli.NewCohere(env, 30*time.Second)
	if err != nil {
		return fmt.Errorf("cancel the remote jobs of %s: %w", job, err)
	}
	done, err := pipeline.CancelRemote(ctx, store, client, job)
	for _, r := range done {
		what := "cancelled"
		if r.Kind == "dataset" {
			what = "deleted"
		}
		fmt.Fprintf(stdout, "  %s %s (group %d) %s\n", r.Kind, r.ID, r.Group, what)
	}
	return err
}
