package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline/keyspace"
	"github.com/cobatch/cobatch/sinks"
)

// Job states, as stored in Redis.
const (
	StatePlanning  = "planning"
	StateRunning   = "running"
	StateDone      = "done"
	StateAborted   = "aborted"
	StateCancelled = "cancelled"
)

// Store keeps jobs' specs, states and counters in Redis. Record counters
// change only when a chunk is first recorded done, so a chunk that asynq
// delivers twice is counted once. S is the job's spec, stored as JSON.
type Store[S any] struct {
	rdb redis.UniversalClient
}

// New returns a Store on rdb.
func New[S any](rdb redis.UniversalClient) *Store[S] { return &Store[S]{rdb: rdb} }

// ErrNoJob is returned for a job id that Redis does not know.
var ErrNoJob = errors.New("no such job")

// createJob stores a new job's spec, state and start time in one step: 0
// when the job exists. KEYS[1]: the job's hash; ARGV: spec, state, time.
var createJob = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'spec', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'started_at', ARGV[3])
return 1
`)

// Create stores the spec of a new job, in state planning, and lists the job
// (Jobs); it reports false, storing nothing, when a job with the id exists.
func (st *Store[S]) Create(ctx context.Context, id string, spec S) (bool, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return false, err
	}
	n, err := createJob.Run(ctx, st.rdb, []string{keyspace.Job(id)}, b, StatePlanning, time.Now().UTC().Format(time.RFC3339Nano)).Int()
	if err != nil || n == 0 {
		return false, wrap("store job", err)
	}
	// The list of jobs is a key of its own, outside the job's slot.
	return true, wrap("list job", st.rdb.SAdd(ctx, keyspace.Jobs, id).Err())
}

// SetSpec replaces an existing job's spec (with what a re-run may change).
func (st *Store[S]) SetSpec(ctx context.Context, id string, spec S) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return wrap("store job", st.rdb.HSet(ctx, keyspace.Job(id), "spec", b).Err())
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Spec returns a job's spec.
func (st *Store[S]) Spec(ctx context.Context, id string) (S, error) {
	b, err := st.rdb.HGet(ctx, keyspace.Job(id), "spec").Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		var zero S
		return zero, fmt.Errorf("load job %s: %w", id, err)
	}
	return decodeSpec[S](id, b)
}

func decodeSpec[S any](id string, b []byte) (S, error) {
	var s S
	if len(b) == 0 {
		return s, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		var zero S
		return zero, fmt.Errorf("decode job %s: %w", id, err)
	}
	return s, nil
}

// ChunkJob is a chunk's job as a delivery of the chunk finds it.
type ChunkJob[S any] struct {
	Done    bool // an earlier delivery recorded the chunk
	Stopped bool // the job was aborted or cancelled
	Spec    S
	SpecErr error // the spec is missing or unreadable
}

// ChunkJob reads, in one round trip, what a delivery of a chunk needs
// before it runs: whether the chunk is done, whether its job stopped, and
// the job's spec.
func (st *Store[S]) ChunkJob(ctx context.Context, id string, chunk int) (ChunkJob[S], error) {
	pipe := st.rdb.Pipeline()
	done := pipe.HExists(ctx, keyspace.Done(id), strconv.Itoa(chunk))
	job := pipe.HMGet(ctx, keyspace.Job(id), "state", "spec")
	if _, err := pipe.Exec(ctx); err != nil {
		return ChunkJob[S]{}, fmt.Errorf("load chunk %d of job %s: %w", chunk, id, err)
	}
	v := job.Val()
	state, _ := v[0].(string)
	spec, _ := v[1].(string)
	cj := ChunkJob[S]{Done: done.Val(), Stopped: state == StateAborted || state == StateCancelled}
	cj.Spec, cj.SpecErr = decodeSpec[S](id, []byte(spec))
	return cj, nil
}

// SetState moves a job to state, with a reason for aborted or cancelled jobs.
// A job that ended (done, aborted, cancelled) keeps its first end state
// unless force is set: a late chunk must not turn an aborted job into done.
func (st *Store[S]) SetState(ctx context.Context, id, state, reason string, force bool) error {
	if !force {
		cur, err := st.rdb.HGet(ctx, keyspace.Job(id), "state").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if cur == StateAborted || cur == StateCancelled || (cur == StateDone && state != StateDone) {
			return nil
		}
	}
	fields := []any{"state", state, "reason", reason}
	if state == StateDone || state == StateAborted || state == StateCancelled {
		fields = append(fields, "finished_at", time.Now().UTC().Format(time.RFC3339Nano))
	}
	return st.rdb.HSet(ctx, keyspace.Job(id), fields...).Err()
}

// Stopped reports whether the job has been aborted or cancelled; a Redis
// error reads as not stopped (it is met, and retried, elsewhere).
func (st *Store[S]) Stopped(ctx context.Context, id string) bool {
	s, err := st.rdb.HGet(ctx, keyspace.Job(id), "state").Result()
	return err == nil && (s == StateAborted || s == StateCancelled)
}

// Abort marks the job aborted (fatal API error, unreachable sink): every
// worker stops calling the API for it.
func (st *Store[S]) Abort(ctx context.Context, id, reason string) error {
	return st.SetState(ctx, id, StateAborted, reason, false)
}

// Planned records that planning finished with this many chunks and records.
func (st *Store[S]) Planned(ctx context.Context, id string, chunks int, records int64) error {
	return st.rdb.HSet(ctx, keyspace.Job(id), "chunks", chunks, "records", records, "planned", 1).Err()
}

var planFailure = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'failed', 1)
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
`)

// PlanFailure dead-letters what planning could not read of an input (a
// corrupt file's tail), once per file however often the job is planned.
func (st *Store[S]) PlanFailure(ctx context.Context, id string, f sinks.Failure) error {
	b, _ := json.Marshal(f)
	return planFailure.Run(ctx, st.rdb, []string{keyspace.PlanFail(id), keyspace.Totals(id), keyspace.Dead(id)}, f.File, b).Err()
}

// Restart clears a finished job's chunk records, counters and call
// checkpoints (pipeline/checkpoint.go) so that it can run again from the start.
func (st *Store[S]) Restart(ctx context.Context, id string) error {
	chunks, err := st.rdb.HGet(ctx, keyspace.Job(id), "chunks").Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	keys := []string{keyspace.Done(id), keyspace.Totals(id), keyspace.Stats(id), keyspace.Dead(id), keyspace.PlanFail(id), keyspace.Pending(id), keyspace.DeadChunks(id), keyspace.Errors(id), keyspace.IDs(id)}
	for c := range chunks {
		keys = append(keys, keyspace.Calls(id, c))
	}
	pipe := st.rdb.TxPipeline()
	pipe.Del(ctx, keys...)
	pipe.HDel(ctx, keyspace.Job(id), "planned", "chunks", "records", "finished_at", "reason")
	pipe.HSet(ctx, keyspace.Job(id), "started_at", time.Now().UTC().Format(time.RFC3339Nano))
	_, err = pipe.Exec(ctx)
	return err
}

var completeChunk = redis.NewScript(`
redis.call('DEL', KEYS[7])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'written', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'skipped', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'failed', ARGV[5])
for i = 6, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
if #ARGV >= 6 then
  local t = {}
  for i = 6, #ARGV do t[#t+1] = ARGV[i] end
  redis.call('HSET', KEYS[5], ARGV[1], cjson.encode(t))
end
redis.call('HDEL', KEYS[4], ARGV[1])
local done = redis.call('HINCRBY', KEYS[2], 'chunks_done', 1)
local j = redis.call('HMGET', KEYS[6], 'planned', 'chunks', 'state')
if j[1] == '1' and done >= tonumber(j[2] or '0') and j[3] ~= 'done' and j[3] ~= 'aborted' and j[3] ~= 'cancelled' then
  return 2
end
return 1
`)

// CompleteChunk records a chunk's result and dead letters once, whatever the
// number of deliveries, and drops the chunk's checkpointed call results
// (pipeline/checkpoint.go): its rows are in the sink, where a later delivery finds
// them. It reports whether this call recorded it (false when
// another delivery had), and whether the job is then ready to finalize:
// planned, every chunk done, not ended.
func (st *Store[S]) CompleteChunk(ctx context.Context, id string, chunk int, r ChunkResult, failed []sinks.Failure) (recorded, finalize bool, err error) {
	rb, _ := json.Marshal(r)
	args := []any{chunk, rb, r.Written, r.Skipped, r.Failed}
	for _, f := range failed {
		fb, _ := json.Marshal(f)
		args = append(args, fb)
	}
	n, err := completeChunk.Run(ctx, st.rdb, []string{keyspace.Done(id), keyspace.Totals(id), keyspace.Dead(id), keyspace.Pending(id), keyspace.DeadChunks(id), keyspace.Job(id), keyspace.Calls(id, chunk)}, args...).Int64()
	if err != nil {
		return false, false, fmt.Errorf("record chunk %d of job %s: %w", chunk, id, err)
	}
	return n > 0, n == 2, nil
}

// ChunkResults returns what each chunk recorded done counted, by chunk.
func (st *Store[S]) ChunkResults(ctx context.Context, id string) (map[int]ChunkResult, error) {
	h, err := st.rdb.HGetAll(ctx, keyspace.Done(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("chunk results of job %s: %w", id, err)
	}
	out := make(map[int]ChunkResult, len(h))
	for k, v := range h {
		n, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("job %s: chunk %q: %w", id, k, err)
		}
		var r ChunkResult
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("job %s: chunk %d: %w", id, n, err)
		}
		out[n] = r
	}
	return out, nil
}

// ChunkDone reports whether a chunk was recorded done.
func (st *Store[S]) ChunkDone(ctx context.Context, id string, chunk int) (bool, error) {
	return st.rdb.HExists(ctx, keyspace.Done(id), strconv.Itoa(chunk)).Result()
}

// AddStats adds to a job's spending counters. Unlike record counts these
// count every attempt: a repeated call was paid for.
func (st *Store[S]) AddStats(ctx context.Context, id string, kv map[string]int64) error {
	pipe := st.rdb.Pipeline()
	for k, v := range kv {
		if v != 0 {
			pipe.HIncrBy(ctx, keyspace.Stats(id), k, v)
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Status returns a snapshot of a job.
func (st *Store[S]) Status(ctx context.Context, id string) (Status[S], error) {
	pipe := st.rdb.Pipeline()
	job := pipe.HGetAll(ctx, keyspace.Job(id))
	totals := pipe.HGetAll(ctx, keyspace.Totals(id))
	stats := pipe.HGetAll(ctx, keyspace.Stats(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return Status[S]{}, fmt.Errorf("job status %s: %w", id, err)
	}
	j := job.Val()
	if j["spec"] == "" {
		return Status[S]{}, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	var s Status[S]
	if err := json.Unmarshal([]byte(j["spec"]), &s.Spec); err != nil {
		return Status[S]{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	n := func(m map[string]string, k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	s.State, s.Reason = j["state"], j["reason"]
	s.Planned = j["planned"] == "1"
	s.Chunks, s.Records = n(j, "chunks"), n(j, "records")
	s.StartedAt, _ = time.Parse(time.RFC3339Nano, j["started_at"])
	s.FinishedAt, _ = time.Parse(time.RFC3339Nano, j["finished_at"])
	t := totals.Val()
	s.Written, s.Skipped, s.Failed, s.ChunksDone = n(t, "written"), n(t, "skipped"), n(t, "failed"), n(t, "chunks_done")
	x := stats.Val()
	s.Calls, s.Tokens, s.Throttled, s.Embedded = n(x, StatCalls), n(x, StatTokens), n(x, StatThrottled), n(x, StatEmbedded)
	s.SearchUnits = n(x, StatSearchUnits)
	s.OutputTokens, s.MaxTokensCut = n(x, StatOutputTokens), n(x, StatMaxTokens)
	s.Truncated, s.Pruned = n(x, StatTruncated), n(x, StatPruned)
	async, err := st.GroupStates(ctx, id)
	if err != nil {
		return s, err
	}
	s.Async = async
	return s, nil
}

// DeadLetters returns up to limit of a job's failed records (all when limit <= 0).
func (st *Store[S]) DeadLetters(ctx context.Context, id string, limit int64) ([]sinks.Failure, error) {
	raw, err := st.rdb.LRange(ctx, keyspace.Dead(id), 0, limit-1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]sinks.Failure, 0, len(raw))
	for _, r := range raw {
		var f sinks.Failure
		if err := json.Unmarshal([]byte(r), &f); err == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// SetStat sets a stat that is measured once, such as the rows pruned: a
// repeated finalize sets it again rather than adding to it.
func (st *Store[S]) SetStat(ctx context.Context, id, name string, v int64) error {
	return st.rdb.HSet(ctx, keyspace.Stats(id), name, v).Err()
}
