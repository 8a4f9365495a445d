package jobstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/keyspace"
)

// AsyncGroup is a run of consecutive chunks sent as one dataset.
type AsyncGroup struct {
	Number int           `json:"group"`
	First  int           `json:"first"` // number of its first chunk
	Ranges []input.Range `json:"ranges"`
}

// GroupState is what Redis holds about a group's progress: its hash's
// fields "phase" and "phase_at" (SetPhase), "dataset" and "remote" (SetOnce),
// "output" and "error" (set with a phase), "sent" and "sent_bytes"
// (RecordSent), "token" (RecordPollToken), "remote_failed", "reserve"
// (ReserveGroup), and the markers of AddStatsOnce ("billed").
type GroupState struct {
	Group     int
	Route     string // embed-jobs or batches
	Phase     string
	PhaseAt   time.Time
	DatasetID string
	RemoteID  string // embed job or batch id
	OutputID  string
	Sent      int64 // records in the dataset
	SentBytes int64 // bytes of the dataset
	Error     string
	Token     string // the live poll chain
}

// SaveGroups records a job's route and groups once; a re-planned job keeps
// the groups it was first given.
func (st *Store[S]) SaveGroups(ctx context.Context, job, route string, groups []AsyncGroup) error {
	fields := []any{"route", route, "groups", len(groups)}
	for _, g := range groups {
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		fields = append(fields, "def:"+strconv.Itoa(g.Number), b)
	}
	if err := st.rdb.HSet(ctx, keyspace.Async(job), fields...).Err(); err != nil {
		return fmt.Errorf("store async groups of %s: %w", job, err)
	}
	return nil
}

// AsyncRoute returns the route recorded for a job ("" for none) and its
// group count.
func (st *Store[S]) AsyncRoute(ctx context.Context, job string) (string, int, error) {
	v, err := st.rdb.HMGet(ctx, keyspace.Async(job), "route", "groups").Result()
	if err != nil {
		return "", 0, err
	}
	route, _ := v[0].(string)
	n, _ := strconv.Atoi(fmt.Sprint(v[1]))
	return route, n, nil
}

// Group returns group g's definition (its chunks and input ranges), as
// SaveGroups recorded it.
func (st *Store[S]) Group(ctx context.Context, job string, g int) (AsyncGroup, error) {
	var out AsyncGroup
	b, err := st.rdb.HGet(ctx, keyspace.Async(job), "def:"+strconv.Itoa(g)).Bytes()
	if err != nil {
		return out, fmt.Errorf("load group %d of %s: %w", g, job, err)
	}
	return out, json.Unmarshal(b, &out)
}

// GroupState returns the state of one group.
func (st *Store[S]) GroupState(ctx context.Context, job string, g int) (GroupState, error) {
	route, _, err := st.AsyncRoute(ctx, job)
	if err != nil {
		return GroupState{}, err
	}
	m, err := st.rdb.HGetAll(ctx, keyspace.Group(job, g)).Result()
	if err != nil {
		return GroupState{}, fmt.Errorf("load group %d of %s: %w", g, job, err)
	}
	s := GroupState{Group: g, Route: route, Phase: m["phase"], DatasetID: m["dataset"], RemoteID: m["remote"],
		OutputID: m["output"], Error: m["error"], Token: m["token"]}
	if s.Phase == "" {
		s.Phase = PhaseUpload
	}
	s.PhaseAt, _ = time.Parse(time.RFC3339Nano, m["phase_at"])
	s.Sent, _ = strconv.ParseInt(m["sent"], 10, 64)
	s.SentBytes, _ = strconv.ParseInt(m["sent_bytes"], 10, 64)
	return s, nil
}

// GroupStates returns the state of every group of a job (none for a job on
// the synchronous route).
func (st *Store[S]) GroupStates(ctx context.Context, job string) ([]GroupState, error) {
	_, n, err := st.AsyncRoute(ctx, job)
	if err != nil {
		return nil, err
	}
	out := make([]GroupState, 0, n)
	for g := range n {
		s, err := st.GroupState(ctx, job, g)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// SetPhase moves a group to phase, with extra fields to set alongside.
func (st *Store[S]) SetPhase(ctx context.Context, job string, g int, phase string, kv ...any) error {
	fields := append([]any{"phase", phase, "phase_at", time.Now().UTC().Format(time.RFC3339Nano)}, kv...)
	return st.rdb.HSet(ctx, keyspace.Group(job, g), fields...).Err()
}

// TouchPhase restarts the deadline of a group's phase (its phase_at).
func (st *Store[S]) TouchPhase(ctx context.Context, job string, g int) error {
	return st.rdb.HSet(ctx, keyspace.Group(job, g), "phase_at", time.Now().UTC().Format(time.RFC3339Nano)).Err()
}

// RecordSent records how many records and bytes a group's dataset holds.
func (st *Store[S]) RecordSent(ctx context.Context, job string, g int, n SentCount) error {
	return st.rdb.HSet(ctx, keyspace.Group(job, g), "sent", n.Records, "sent_bytes", n.Bytes).Err()
}

// RecordPollToken makes token the group's live poll chain.
func (st *Store[S]) RecordPollToken(ctx context.Context, job string, g int, token string) error {
	return st.rdb.HSet(ctx, keyspace.Group(job, g), "token", token).Err()
}

// RecordRemoteFailed records how many records the remote batch failed.
func (st *Store[S]) RecordRemoteFailed(ctx context.Context, job string, g int, n int64) error {
	return st.rdb.HSet(ctx, keyspace.Group(job, g), "remote_failed", n).Err()
}

// SetOnce records field (a remote id) unless it is set already, and returns
// the value that holds: two deliveries of a task cannot both record theirs.
func (st *Store[S]) SetOnce(ctx context.Context, job string, g int, field, value string) (string, error) {
	ok, err := st.rdb.HSetNX(ctx, keyspace.Group(job, g), field, value).Result()
	if err != nil {
		return "", fmt.Errorf("record %s of group %d: %w", field, g, err)
	}
	if ok {
		return value, nil
	}
	return st.rdb.HGet(ctx, keyspace.Group(job, g), field).Result()
}

// ResetGroup forgets a group's progress so that it runs again from upload.
func (st *Store[S]) ResetGroup(ctx context.Context, job string, g int) error {
	return st.rdb.Del(ctx, keyspace.Group(job, g)).Err()
}

// ResetAsync forgets a job's groups: a finished job that runs again is
// planned anew.
func (st *Store[S]) ResetAsync(ctx context.Context, job string) error {
	_, n, err := st.AsyncRoute(ctx, job)
	if err != nil {
		return err
	}
	keys := []string{keyspace.Async(job)}
	for g := range n {
		keys = append(keys, keyspace.Group(job, g))
	}
	return st.rdb.Del(ctx, keys...).Err()
}

// Phases of a dataset group, in order. A group records its phase and the
// remote ids it created, so that a task delivered again, or after a worker
// crash, continues from there and never creates a second dataset or job.
const (
	PhaseUpload     = "upload"
	PhaseValidating = "validating"
	PhaseProcessing = "processing"
	PhaseDownload   = "download"
	PhaseDone       = "done"
	PhaseFallback   = "fallback"  // the remote job failed; its chunks went the sync route
	PhaseFailed     = "failed"    // the job was aborted for this group
	PhaseCancelled  = "cancelled" // by the user
)

// SentCount is what a group's dataset holds: its records and its bytes
// (the budget reckons the group's input tokens from them, pipeline/async_budget.go).
type SentCount struct{ Records, Bytes int64 }
