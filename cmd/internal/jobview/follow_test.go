package jobview

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// endedJob returns a store holding a job that is done.
func endedJob(t *testing.T, id string) *pipeline.Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { rdb.Close() })
	store := pipeline.NewStore(rdb)
	ctx := context.Background()
	spec := pipeline.Spec{ID: id, Inputs: []string{"x.jsonl"}, Sink: "parquet:/tmp/x"}.WithDefaults()
	if _, err := pipeline.CreateOrResume(ctx, store, spec); err != nil {
		t.Fatal(err)
	}
	if err := store.SetState(ctx, id, jobstore.StateDone, "", true); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestFollowLiveBar: on a terminal the bar is redrawn in place ("\r", the
// line's rest cleared) and the line ended once the job has.
func TestFollowLiveBar(t *testing.T) {
	var out bytes.Buffer
	f := &Follower{Store: endedJob(t, "live"), Out: &out, Live: true, Width: 80}
	st, err := f.Follow(context.Background(), "live")
	if err != nil || st.State != jobstore.StateDone {
		t.Fatalf("state %q, err %v", st.State, err)
	}
	if s := out.String(); !strings.HasPrefix(s, "\r[") || !strings.HasSuffix(s, "0/0 records  0/s  ETA ?  429s 0  tokens 0\x1b[K\n") {
		t.Errorf("live output %q", s)
	}
}

// TestFollowLogs: off a terminal the progress goes to the log, and nothing
// to Out.
func TestFollowLogs(t *testing.T) {
	var out, logs bytes.Buffer
	f := &Follower{Store: endedJob(t, "logged"), Out: &out, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, err := f.Follow(context.Background(), "logged"); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(logs.String(), "msg=progress job=logged state=done") {
		t.Errorf("out %q, logs %q", out.String(), logs.String())
	}
}

// TestSummaryCountsCorpus: the summary enqueue prints at a job's end counts
// the texts truncated and the rows pruned, as `enqueue status` does, and
// says of a dry run's rows that they are still there.
func TestSummaryCountsCorpus(t *testing.T) {
	var b strings.Builder
	st := pipeline.Status{State: jobstore.StateDone, Written: 3, Skipped: 25, Truncated: 1, Pruned: 6}
	WriteSummary(&b, st, time.Second)
	if !strings.Contains(b.String(), "  corpus:  1 truncated, 6 pruned\n") {
		t.Fatalf("summary:\n%s", b.String())
	}
	b.Reset()
	st.Spec.PruneDryRun = true
	WriteSummary(&b, st, time.Second)
	if !strings.Contains(b.String(), "  corpus:  1 truncated, 6 to prune (-prune-dry-run: none deleted)\n") {
		t.Fatalf("dry run's summary:\n%s", b.String())
	}
	b.Reset()
	WriteSummary(&b, pipeline.Status{State: jobstore.StateDone, Written: 3}, time.Second)
	if strings.Contains(b.String(), "corpus:") {
		t.Fatalf("a job that neither truncated nor pruned has a corpus line:\n%s", b.String())
	}
}
