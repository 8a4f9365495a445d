package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// The job store (pipeline/jobstore) keeps this package's Spec: every Redis
// key and every state transition of a job is there.
type (
	Store  = jobstore.Store[Spec]
	Status = jobstore.Status[Spec]
)

// NewStore returns a job store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return jobstore.New[Spec](rdb) }

// CreateOrResume stores the spec of a new job, or checks that an existing job
// with the same id has the same spec (a resumed job must not silently change
// meaning). It returns true when the job already existed.
func CreateOrResume(ctx context.Context, st *Store, spec Spec) (bool, error) {
	created, err := st.Create(ctx, spec.ID, spec)
	if err != nil || created {
		return false, err
	}
	old, err := st.Spec(ctx, spec.ID)
	if err != nil {
		return true, err
	}
	if old.Fingerprint() != spec.Fingerprint() || old.Sink != spec.Sink || old.Table != spec.Table {
		return true, fmt.Errorf("job %s exists with a different spec (%s into %s); choose another -job", spec.ID, old.Fingerprint(), old.Sink)
	}
	changeable, fixed := specChanges(old, spec)
	if len(fixed) > 0 {
		return true, fmt.Errorf("job %s exists with a different spec: %s differ from its first run (only -force, -strict, -price-per-mtok and -max-cost may change); run it with its options or choose another -job", spec.ID, strings.Join(fixed, ", "))
	}
	if len(changeable) > 0 {
		spec.CreatedAt = old.CreatedAt
		return true, st.SetSpec(ctx, spec.ID, spec)
	}
	return true, nil
}

// Summary turns a job's status into the summary its sink records.
func Summary(s Status) sinks.Summary {
	return sinks.Summary{
		Job: s.Spec.ID, Model: s.Spec.Model, Fingerprint: s.Spec.Fingerprint(),
		Written: s.Written, Skipped: s.Skipped, Failed: s.Failed, Total: s.Total(),
		Chunks: int(s.Chunks), TokensIn: s.Tokens, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		AllChunks: s.Planned,
		Truncated: s.Truncated,
	}
}
