package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cobatch/cobatch/pipeline"
)

// preflightTimeout bounds the model check: a models endpoint that does not
// answer in time is a warning, not a reason to refuse the job.
const preflightTimeout = 15 * time.Second

// preflight prints a classify job's route and why it was chosen, then
// checks the job's model before anything is planned (pipeline.Preflight),
// which may keep a chat job on the sync route.
func preflight(ctx context.Context, mg pipeline.ModelGetter, spec *pipeline.Spec, log *slog.Logger, stdout io.Writer) error {
	if spec.Op == pipeline.OpClassify {
		via := spec.Via
		if via == "" {
			via = pipeline.ViaClassify
		}
		reason := spec.ViaReason
		if reason == "" {
			reason = "-via " + via
		}
		fmt.Fprintf(stdout, "route: %s (%s), model %s\n", via, reason, spec.Model)
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	note, err := pipeline.Preflight(ctx, mg, spec)
	if err != nil {
		return err
	}
	if note != "" {
		// On stdout beside the route and the estimate: a warning the user
		// reads before the job's output, whatever the log format.
		fmt.Fprintln(stdout, "model check:", note)
		log.Debug("model check", "note", note)
	}
	return nil
}
