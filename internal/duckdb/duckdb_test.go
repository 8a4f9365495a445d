package duckdb

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/pipeline/passage"
)

const (
	model = "embed-v4.0"
	dims  = 256
	split = "tokens:96,overlap:16"
)

// The corpus of the first night; the second changes Psalms 23 and drops
// Genesis 1.
var night1 = map[string]string{
	"John 1":    "In the beginning was the Word, and the Word was with God, and the Word was God. The same was in the beginning with God. All things were made by him; and without him was not any thing made that was made. In him was life; and the life was the light of men.",
	"Psalms 23": "The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: he leadeth me beside the still waters. He restoreth my soul: he leadeth me in the paths of righteousness for his name's sake.",
	"Genesis 1": "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
}

var night2 = map[string]string{
	"John 1":    night1["John 1"],
	"Psalms 23": night1["Psalms 23"] + " Yea, though I walk through the valley of the shadow of death, I will fear no evil: for thou art with me; thy rod and thy staff they comfort me.",
}

// passageRow is a row as the tests read it back through DuckDB.
type passageRow struct {
	ID         string    `json:"id"`
	DocID      string    `json:"doc_id"`
	ChunkIndex int       `json:"chunk_index"`
	CharStart  int       `json:"char_start"`
	CharEnd    int       `json:"char_end"`
	Text       string    `json:"text"`
	Embedding  []float64 `json:"embedding"`
}

// TestDuckDBReadsParts: two nightly jobs of the enqueue binary (embedded,
// against its simulator) write split passages with their text into one
// Parquet directory, the second after a document changed and another was
// deleted (-prune). DuckDB reads the current rows with the README's query,
// taken from README.md itself: every passage of the second night's corpus
// once, with its text, place and the simulator's vector; the first night's
// directory still reads as its own snapshot; and DuckDB's cosine finds the
// passage a query vector was made from.
func TestDuckDBReadsParts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "../../scripts/npm-ci.sh", ".")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("scripts/npm-ci.sh: %v\n%s", err, out)
	}
	enqueue := filepath.Join(t.TempDir(), "enqueue")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", enqueue, "../../cmd/enqueue").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	dir := t.TempDir()
	run(ctx, t, enqueue, dir, "nightly-2026-12-01", night1)
	run(ctx, t, enqueue, dir, "nightly-2026-12-02", night2, "-prune")

	current := readmeQuery(t)
	if !strings.Contains(current, "'DIR/nightly-2026-12-02/part-*.parquet'") {
		t.Fatalf("the README's query reads no longer the newest job's parts: %s", current)
	}
	columns := "id, doc_id, chunk_index, char_start, char_end, text, embedding"
	sql := strings.Replace(strings.Replace(current, "DIR", dir, 1), "id, text, embedding", columns, 1)
	var got []passageRow
	query(ctx, t, dir, sql, &got)
	check(t, "current (README query)", got, night2)

	// The first night's job stays a snapshot of its own corpus.
	old := strings.Replace(sql, "nightly-2026-12-02", "nightly-2026-12-01", 1)
	got = nil
	query(ctx, t, dir, old, &got)
	check(t, "nightly-2026-12-01", got, night1)

	// The nearest current passage to a query, by DuckDB's own cosine.
	ps := splitter(t).Split(night2["Psalms 23"])
	last := ps[len(ps)-1]
	target := passage.ID("Psalms 23", last.Index)
	vec, _ := json.Marshal(coheretest.Embedding(model, "search_query", last.Text, dims))
	var nearest []struct {
		ID string `json:"id"`
	}
	query(ctx, t, dir, fmt.Sprintf("SELECT id FROM (%s) ORDER BY list_cosine_similarity(embedding, %s::FLOAT[]) DESC LIMIT 1",
		strings.TrimSuffix(strings.TrimSpace(sql), ";"), vec), &nearest)
	if len(nearest) != 1 || nearest[0].ID != target {
		t.Fatalf("nearest to %s: %+v", target, nearest)
	}
}

// run writes docs as JSONL and embeds them as job into dir with the enqueue
// binary, embedded and against its simulator.
func run(ctx context.Context, t *testing.T, enqueue, dir, job string, docs map[string]string, extra ...string) {
	t.Helper()
	var in bytes.Buffer
	for _, id := range slices.Sorted(maps.Keys(docs)) {
		fmt.Fprintf(&in, "{\"id\":%q,\"text\":%q}\n", id, docs[id])
	}
	path := filepath.Join(t.TempDir(), job+".jsonl")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-sim", "-in", path, "-sink", "parquet:" + dir, "-job", job, "-model", model,
		"-dimensions", fmt.Sprint(dims), "-split", split, "-store-text"}, extra...)
	cmd := exec.CommandContext(ctx, enqueue, args...)
	cmd.Env = append(os.Environ(), "REDIS_URL=", "COHERE_API_KEY=", "COHERE_API_KEY_FILE=", "DATABASE_URL=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("enqueue %s: %v\n%s", job, err, out)
	}
}

// readmeQuery is the SQL the README gives for reading a nightly Parquet
// directory's current rows: the sql block of its "Nightly Parquet" paragraph.
func readmeQuery(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "**Nightly Parquet.**")
	m := regexp.MustCompile("(?s)```sql\n(.*?)```").FindStringSubmatch(after)
	if !ok || m == nil {
		t.Fatal("README.md: no sql block after **Nightly Parquet.**")
	}
	return strings.TrimSpace(m[1])
}

func splitter(t *testing.T) passage.Spec {
	t.Helper()
	s, err := passage.Parse(split)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check compares what DuckDB read to every passage of docs, once each, with
// its text, place and the simulator's vector of its text.
func check(t *testing.T, what string, got []passageRow, docs map[string]string) {
	t.Helper()
	type want struct {
		id, doc    string
		index      int
		start, end int
		text       string
		vector     []float32
	}
	var all []want
	for id, text := range docs {
		ps := splitter(t).Split(text)
		if len(ps) < 3 {
			t.Fatalf("%s: %d passages, want several", id, len(ps))
		}
		for _, p := range ps {
			all = append(all, want{passage.ID(id, p.Index), id, p.Index, p.CharStart, p.CharEnd, p.Text,
				coheretest.Embedding(model, "search_document", p.Text, dims)})
		}
	}
	slices.SortFunc(all, func(a, b want) int { return strings.Compare(a.id, b.id) })
	slices.SortFunc(got, func(a, b passageRow) int { return cmp.Compare(a.ID, b.ID) })
	if len(got) != len(all) {
		t.Fatalf("%s: DuckDB read %d rows, want %d", what, len(got), len(all))
	}
	for i, g := range got {
		w := all[i]
		if g.ID != w.id || g.DocID != w.doc || g.ChunkIndex != w.index || g.CharStart != w.start || g.CharEnd != w.end || g.Text != w.text {
			t.Fatalf("%s: row %d: DuckDB read %s %s #%d [%d,%d) %q, want %s [%d,%d) %q",
				what, i, g.ID, g.DocID, g.ChunkIndex, g.CharStart, g.CharEnd, g.Text, w.id, w.start, w.end, w.text)
		}
		if len(g.Embedding) != len(w.vector) {
			t.Fatalf("%s: %s: %d dims, want %d", what, g.ID, len(g.Embedding), len(w.vector))
		}
		for j, v := range w.vector {
			if math.Abs(g.Embedding[j]-float64(v)) > 1e-6 {
				t.Fatalf("%s: %s: dim %d is %v, the simulator's %v", what, g.ID, j, g.Embedding[j], v)
			}
		}
	}
}

// query runs query.mjs over dir and decodes its rows into out.
func query(ctx context.Context, t *testing.T, dir, sql string, out any) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", "query.mjs", "--dir", dir, "--sql", sql)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node query.mjs: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("query.mjs output %.500q: %v", b, err)
	}
}
