package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// A job run again under its id with -force or -strict runs with them; with
// another option that decides its output (an input option, the chunk size)
// the run is refused, naming the options that differ.
func TestRerunOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers(2)
	path, _ := writeCorpus(t, 300, corpusText)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, append(data, []byte("{\"id\":\"empty\",\"text\":\"\"}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := h.spec("rerun", bad)
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 300 || st.Failed != 1 {
		t.Fatalf("first run: %s written %d failed %d (%s)", st.State, st.Written, st.Failed, st.Reason)
	}
	paid := h.fake.Stats().EmbeddedTexts

	// -force: every record is paid for again.
	forced := spec
	forced.Force = true
	st = h.run(forced)
	if st.State != jobstore.StateDone || st.Written != 300 || st.Skipped != 0 {
		t.Fatalf("-force run: %s written %d skipped %d", st.State, st.Written, st.Skipped)
	}
	if again := h.fake.Stats().EmbeddedTexts - paid; again != 300 {
		t.Fatalf("-force run paid %d texts, want 300", again)
	}

	// -strict: the bad record aborts the job.
	strict := spec
	strict.Strict = true
	st = h.run(strict)
	if st.State != jobstore.StateAborted || !strings.Contains(st.Reason, "-strict") {
		t.Fatalf("-strict run: %s (%s), want aborted by -strict", st.State, st.Reason)
	}

	// Other options: refused, naming each.
	other := spec
	other.Input.IDField = "n"
	other.ChunkSize = 100
	p := &pipeline.Planner{Store: h.store, Queue: h.enq}
	_, err = p.Plan(context.Background(), other)
	if err == nil || !strings.Contains(err.Error(), "chunk_size, input.id_field differ") || !strings.Contains(err.Error(), "different spec") {
		t.Fatalf("plan with other options: err %v; want chunk_size and input.id_field named", err)
	}
	stored, err := h.store.Spec(context.Background(), spec.ID)
	if err != nil || stored.Input.IDField != "id" || stored.ChunkSize != 500 || !stored.Strict {
		t.Fatalf("stored spec after a refused run: %+v, %v", stored, err)
	}
}
