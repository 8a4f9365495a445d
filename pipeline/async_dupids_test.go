package pipeline_test

import (
	"context"
	"testing"

	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// The async route dead-letters an id repeated in other chunks as the sync
// route does (TestDuplicateIDsAcrossChunks): within a group and across
// groups, the later occurrences name the first one's file:line, the table
// holds one row per id, and no remote job pays for a duplicate.
func TestAsyncDuplicateIDsAcrossChunks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, asyncDelays)
	h.dbURL = testenv.DatabaseURL(t)
	h.startAsyncWorkers(4, nil)
	// 1,000 lines in chunks of 100, groups of 3 chunks: doc-00005 (line 6,
	// group 0) comes back at line 551 (group 1) and 951 (group 3),
	// doc-00010 at line 221 (group 0 again, another chunk), doc-00310
	// (group 1) at line 721 (group 2); each with another text.
	c := writeDupCorpus(t, map[int]int{550: 5, 950: 5, 220: 10, 720: 310})
	spec := h.asyncSpec("async-dupids", "embed-v4.0", pipeline.AsyncBatches, c.path)
	spec.ChunkSize, spec.Sink, spec.Table = 100, "postgres", "docs"
	if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
		t.Fatal(err)
	}
	h.plan(spec, 300)
	st := h.follow(spec.ID)
	if st.State != jobstore.StateDone || st.Written != 996 || st.Skipped != 0 || st.Failed != 4 {
		t.Fatalf("status %s written %d skipped %d failed %d (%s); want 996 written, 4 failed", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
	}
	want := c.checkDeadLetters(t, h, spec.ID)
	checkRows(t, connect(t, h.dbURL), spec, want)
	// Every kept record went through a remote job, once.
	fs := h.fake.Stats()
	if fs.EmbeddedTexts != 996 || fs.Calls["POST /v2/embed"] != 0 || fs.Created["POST /v2/batches"] != 4 {
		t.Errorf("%d texts embedded, %d sync calls, %d batches; want 996 by 4 batches, no sync call",
			fs.EmbeddedTexts, fs.Calls["POST /v2/embed"], fs.Created["POST /v2/batches"])
	}
}
