package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// CancelRemote cancels the remote jobs of a cancelled job, and deletes its
// datasets unless the job keeps them. It carries on past errors and returns
// them all.
func CancelRemote(ctx context.Context, st *Store, api AsyncAPI, job string) ([]RemoteRef, error) {
	spec, err := st.Spec(ctx, job)
	if err != nil {
		return nil, err
	}
	refs, err := RemoteIDs(ctx, st, job)
	if err != nil {
		return nil, err
	}
	var errs []error
	var done []RemoteRef
	for _, r := range refs {
		var err error
		switch r.Kind {
		case "embed-job":
			err = api.CancelEmbedJob(ctx, r.ID)
		case "batch":
			err = api.CancelBatch(ctx, r.ID)
		case "dataset":
			if spec.KeepDatasets {
				continue
			}
			err = api.DeleteDataset(ctx, r.ID)
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("cancel %s %s: %w", r.Kind, r.ID, err))
			continue
		}
		done = append(done, r)
		if err := st.SetPhase(ctx, job, r.Group, jobstore.PhaseCancelled); err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// isNotFound reports a 404: the remote object is gone already.
func isNotFound(err error) bool {
	var apiErr *cohere.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == 404
}

// RemoteRef is a remote object a job created: "embed-job", "batch" or "dataset".
type RemoteRef struct {
	Group int
	Kind  string
	ID    string
}

// RemoteIDs lists the embed jobs or batches and the datasets a job's groups
// recorded, so that cancelling the job can cancel them too.
func RemoteIDs(ctx context.Context, st *Store, job string) ([]RemoteRef, error) {
	states, err := st.GroupStates(ctx, job)
	if err != nil {
		return nil, err
	}
	var out []RemoteRef
	for _, s := range states {
		kind := "embed-job"
		if s.Route == AsyncBatches {
			kind = "batch"
		}
		if s.RemoteID != "" {
			out = append(out, RemoteRef{Group: s.Group, Kind: kind, ID: s.RemoteID})
		}
		for _, d := range []string{s.DatasetID, s.OutputID} {
			if d != "" {
				out = append(out, RemoteRef{Group: s.Group, Kind: "dataset", ID: d})
			}
		}
	}
	return out, nil
}
