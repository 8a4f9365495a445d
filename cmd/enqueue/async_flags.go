package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
)

// asyncFlags adds the flags of the async route (Embed Jobs, Batches).
func asyncFlags(fs *flag.FlagSet, o *pipeline.AsyncOptions) {
	fs.StringVar(&o.Async, "async", pipeline.AsyncAuto, "route: auto (the async route the model supports when the job has more than -async-threshold records), embed-jobs (v3 models), batches (batch models) or off; stdin is always sync")
	fs.IntVar(&o.AsyncThreshold, "async-threshold", pipeline.DefaultAsyncThreshold, "-async auto: records above which the job goes async")
	fs.StringVar(&o.BatchModel, "batch-model", "", "model of a batch (default: embed-v4.0 runs as batch-embed-v4)")
	fs.StringVar(&o.AsyncFallback, "async-fallback", pipeline.FallbackSync, "records an async job failed or did not return: sync (re-embed them through the sync route) or dead-letter")
	fs.BoolVar(&o.KeepDatasets, "keep-datasets", false, "keep the datasets an async job uploaded and read (default: deleted once read)")
}

// cancelRemote cancels the embed jobs or batches of a cancelled job and
// deletes its datasets, with the API key of this environment.
func cancelRemote(ctx context.Context, store *pipeline.Store, job string, stdout io.Writer) error {
	refs, err := store.RemoteIDs(ctx, job)
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
