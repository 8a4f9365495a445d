package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// An id repeated in other chunks is written once: its later occurrences are
// dead-lettered naming the first one's file:line, the counts say so, and a
// second run pays for nothing.
func TestDuplicateIDsAcrossChunks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.dbURL = testenv.DatabaseURL(t)
	h.startWorkers(4)
	// 1,000 lines in chunks of 100; doc-00005 (line 6) comes back at lines
	// 551 and 951, doc-00310 (line 311) at line 721, each with another text.
	c := writeDupCorpus(t, map[int]int{550: 5, 950: 5, 720: 310})
	spec := pgSpec(h, "dupids", "docs", c.path)
	spec.ChunkSize = 100
	if _, err := cli.OpenSink(context.Background(), spec, h.dbURL); err != nil {
		t.Fatal(err)
	}
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 997 || st.Skipped != 0 || st.Failed != 3 {
		t.Fatalf("status %s written %d skipped %d failed %d (%s); want 997 written, 3 failed", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
	}
	want := c.checkDeadLetters(t, h, spec.ID)
	conn := connect(t, h.dbURL)
	checkRows(t, conn, spec, want)
	paid := h.fake.Stats().EmbeddedTexts
	if paid != 997 {
		t.Fatalf("first run paid %d texts, want 997", paid)
	}

	st = h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 0 || st.Skipped != 997 || st.Failed != 3 {
		t.Fatalf("second run: status %s written %d skipped %d failed %d; want 997 skipped, 3 failed", st.State, st.Written, st.Skipped, st.Failed)
	}
	if again := h.fake.Stats().EmbeddedTexts - paid; again != 0 {
		t.Fatalf("second run paid %d texts, want 0", again)
	}
	checkRows(t, conn, spec, want)
}

// dupCorpus is 1,000 input lines of which some repeat an earlier line's id
// with another text.
type dupCorpus struct {
	path   string
	lines  map[string][]int64 // id → the lines holding it
	textAt map[int64]string   // line → text
}

// writeDupCorpus writes line i+1 as doc-<i> with corpusText(i), or as
// doc-<repeat[i]> where repeat names an earlier line's number.
func writeDupCorpus(t *testing.T, repeat map[int]int) dupCorpus {
	t.Helper()
	c := dupCorpus{path: filepath.Join(t.TempDir(), "dups.jsonl"), lines: map[string][]int64{}, textAt: map[int64]string{}}
	var b strings.Builder
	for i := range 1000 {
		id := fmt.Sprintf("doc-%05d", i)
		if j, ok := repeat[i]; ok {
			id = fmt.Sprintf("doc-%05d", j)
		}
		text := corpusText(i)
		line := int64(i + 1)
		c.lines[id] = append(c.lines[id], line)
		c.textAt[line] = text
		fmt.Fprintf(&b, "{\"id\":%q,\"text\":%q}\n", id, text)
	}
	if err := os.WriteFile(c.path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkDeadLetters checks the job dead-lettered all but one occurrence of
// each repeated id, each naming another occurrence, and returns the text
// each id's table row must hold: that of its occurrence not dead-lettered.
func (c dupCorpus) checkDeadLetters(t *testing.T, h *harness, job string) map[string]string {
	t.Helper()
	dead, err := h.store.DeadLetters(context.Background(), job, 0)
	if err != nil {
		t.Fatal(err)
	}
	if repeats := len(c.textAt) - len(c.lines); len(dead) != repeats {
		t.Fatalf("%d dead letters, want %d: %+v", len(dead), repeats, dead)
	}
	deadLine := map[int64]bool{}
	for _, d := range dead {
		occs := c.lines[d.ID]
		if len(occs) < 2 || d.File != c.path {
			t.Fatalf("dead letter %+v: not a repeated id", d)
		}
		deadLine[d.Line] = true
		// The reason names another occurrence of the same id.
		named := false
		for _, l := range occs {
			named = named || (l != d.Line && strings.Contains(d.Reason, c.path+":"+strconv.FormatInt(l, 10)+")"))
		}
		if !named || !strings.Contains(d.Reason, "duplicate id") {
			t.Errorf("dead letter %+v: reason names no other occurrence of %s", d, d.ID)
		}
	}
	want := map[string]string{}
	for id, occs := range c.lines {
		kept := 0
		for _, l := range occs {
			if !deadLine[l] {
				want[id] = c.textAt[l]
				kept++
			}
		}
		if kept != 1 {
			t.Fatalf("%s: %d occurrences kept, want 1", id, kept)
		}
	}
	return want
}

// checkRows checks a table holds exactly the ids of want, each with the
// fake's vector of its text.
func checkRows(t *testing.T, conn *pgx.Conn, spec pipeline.Spec, want map[string]string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), "select id, embedding from docs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var v pgvector.Vector
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		n++
		text, ok := want[id]
		if !ok {
			t.Fatalf("row %s not expected", id)
		}
		exp := coheretest.Embedding(spec.Model, spec.InputType, text, spec.Dims())
		got := v.Slice()
		for i := range exp {
			if got[i] != exp[i] {
				t.Fatalf("%s: vector is not the one of %q", id, text)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("table holds %d rows, want %d", n, len(want))
	}
}
