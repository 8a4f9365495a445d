package e2e

import (
	"bytes"
	"context"
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

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline/passage"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// corpusSplit is the -split of the corpus tests: passages of at most 256
// tokens, neighbours sharing at most 32.
const corpusSplit = "tokens:256,overlap:32"

// sentences is a document of n sentences of about 40 bytes each; edit
// changes one word of it.
func sentences(doc, n int, edit string) string {
	words := []string{"harbor", "lantern", "meadow", "copper", "violin", "glacier", "pepper", "quartz"}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := words[(doc+i)%len(words)]
		if i == n/2 && edit != "" {
			w = edit
		}
		fmt.Fprintf(&b, "Document %d says %s sentence %d here.", doc, w, i)
	}
	return b.String()
}

// sentencesFor is the smallest count of sentences that makes document doc
// exactly want passages under corpusSplit.
func sentencesFor(t *testing.T, doc, want int) int {
	t.Helper()
	spec, _ := passage.Parse(corpusSplit)
	for n := 1; n < 200; n++ {
		if len(spec.Split(sentences(doc, n, ""))) == want {
			return n
		}
	}
	t.Fatalf("no document %d of %d passages", doc, want)
	return 0
}

// writeDocs writes docs (id → text) as JSONL in sorted id order and returns
// that order.
func writeDocs(t *testing.T, path string, docs map[string]string) []string {
	t.Helper()
	ids := slices.Sorted(maps.Keys(docs))
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "{\"id\":%q,\"text\":%q}\n", id, docs[id])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return ids
}

// checkPassageRows checks a sink's rows record by record against docs:
// every passage of every document exactly once, its id DOC#NNNN, its text
// the document's code points [char_start, char_end), the passages of a
// document numbered from 0 without a gap and covering it from its first
// code point to its last, each passage the one the splitter makes, and its
// vector the fake's embedding of its text.
func checkPassageRows(t *testing.T, rows []sinks.Embedding, docs map[string]string, dims int) {
	t.Helper()
	spec, _ := passage.Parse(corpusSplit)
	byDoc := map[string][]sinks.Embedding{}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.ID] {
			t.Fatalf("passage %s stored twice", r.ID)
		}
		seen[r.ID] = true
		if _, ok := docs[r.DocID]; !ok {
			t.Fatalf("row %s: document %q is not in the corpus", r.ID, r.DocID)
		}
		if r.ID != passage.ID(r.DocID, r.ChunkIndex) {
			t.Fatalf("row %s: doc_id %q chunk_index %d", r.ID, r.DocID, r.ChunkIndex)
		}
		byDoc[r.DocID] = append(byDoc[r.DocID], r)
	}
	for id, text := range docs {
		got := byDoc[id]
		slices.SortFunc(got, func(a, b sinks.Embedding) int { return a.ChunkIndex - b.ChunkIndex })
		want := spec.Split(text)
		if len(got) != len(want) {
			t.Fatalf("%s: %d passages stored, want %d", id, len(got), len(want))
		}
		runes := []rune(text)
		for i, r := range got {
			if r.ChunkIndex != i {
				t.Fatalf("%s: passage %d has chunk_index %d", id, i, r.ChunkIndex)
			}
			if r.CharStart < 0 || r.CharEnd > len(runes) || r.CharStart >= r.CharEnd || string(runes[r.CharStart:r.CharEnd]) != r.Text {
				t.Fatalf("%s: text %q is not the document's [%d,%d)", r.ID, r.Text, r.CharStart, r.CharEnd)
			}
			if len(r.Text) > 256 {
				t.Fatalf("%s: %d bytes, more than 256 tokens' bound", r.ID, len(r.Text))
			}
			if i == 0 && r.CharStart != 0 || i == len(got)-1 && r.CharEnd != len(runes) || i > 0 && r.CharStart > got[i-1].CharEnd {
				t.Fatalf("%s: [%d,%d) leaves part of the document out", r.ID, r.CharStart, r.CharEnd)
			}
			w := want[i]
			if r.Text != w.Text || r.CharStart != w.CharStart || r.CharEnd != w.CharEnd {
				t.Fatalf("%s: [%d,%d) %q, the splitter makes [%d,%d) %q", r.ID, r.CharStart, r.CharEnd, r.Text, w.CharStart, w.CharEnd, w.Text)
			}
			v := coheretest.Embedding("embed-v4.0", "search_document", r.Text, dims)
			if len(r.Float) != len(v) {
				t.Fatalf("%s: %d dims, want %d", r.ID, len(r.Float), len(v))
			}
			for j := range v {
				if math.Abs(float64(r.Float[j]-v[j])) > 1e-6 {
					t.Fatalf("%s: vector is not the embedding of its text (dim %d)", r.ID, j)
				}
			}
		}
	}
	if len(byDoc) != len(docs) {
		t.Fatalf("%d documents stored, want %d", len(byDoc), len(docs))
	}
}

func readParquetJob(t *testing.T, dir, job string) []sinks.Embedding {
	t.Helper()
	var rows []sinks.Embedding
	if err := parquet.ReadJob(dir, job, func(e sinks.Embedding) error { rows = append(rows, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return rows
}

func readPassageTable(t *testing.T, dbURL, table string) []sinks.Embedding {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, "SELECT id, embedding::real[], text, doc_id, chunk_index, char_start, char_end FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	var rows []sinks.Embedding
	for rs.Next() {
		var e sinks.Embedding
		var idx, start, end int32
		if err := rs.Scan(&e.ID, &e.Float, &e.Text, &e.DocID, &idx, &start, &end); err != nil {
			t.Fatal(err)
		}
		e.ChunkIndex, e.CharStart, e.CharEnd = int(idx), int(start), int(end)
		rows = append(rows, e)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestCorpusNightsBothSinks runs four "nights" of a split corpus through
// the enqueue and worker binaries into each sink, with a new date-stamped
// job id each night: the first embeds every passage; the second, over the
// same corpus, costs no call; the third, after two documents were deleted,
// runs with -prune-dry-run, which lists their rows and deletes none; the
// fourth, after three documents changed (one shrinking from 7 passages to
// 5), runs with -prune and pays for the changed documents' passages alone.
// Every night the sink is checked passage by passage.
func TestCorpusNightsBothSinks(t *testing.T) {
	t.Parallel()
	for _, sink := range []string{"parquet", "postgres"} {
		t.Run(sink, func(t *testing.T) {
			t.Parallel()
			enqueue, worker := binaries(t)
			fake := coheretest.NewServer()
			defer fake.Close()
			env := []string{"REDIS_URL=" + testenv.RedisURL(t), "COHERE_BASE_URL=" + fake.URL, "COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
			var dbURL string
			if sink == "postgres" {
				dbURL = testenv.DatabaseURL(t)
				env[len(env)-1] = "DATABASE_URL=" + dbURL
			}
			w := start(t, env, worker, "-concurrency", "2", "-http", "", "-rate-limit", "embed=1000000/1m")

			const dims, chunkSize = 256, 5
			docs := map[string]string{}
			for i := range 30 {
				docs[fmt.Sprintf("doc-%02d", i)] = sentences(i, 1+i%11, "")
			}
			seven, five := sentencesFor(t, 7, 7), sentencesFor(t, 7, 5)
			docs["doc-07"] = sentences(7, seven, "")
			path := filepath.Join(t.TempDir(), "docs.jsonl")
			writeDocs(t, path, docs)
			out := t.TempDir()

			night := func(n int, extra ...string) (string, []sinks.Embedding) {
				t.Helper()
				job := fmt.Sprintf("nightly-2026-12-%02d", n)
				args := []string{"-in", path, "-job", job, "-dimensions", fmt.Sprint(dims), "-chunk-size", fmt.Sprint(chunkSize),
					"-split", corpusSplit, "-store-text", "-wait"}
				if sink == "postgres" {
					args = append(args, "-sink", "postgres", "-table", "passages")
				} else {
					args = append(args, "-sink", "parquet:"+out)
				}
				fake.ResetStats()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				var stdout bytes.Buffer
				cmd := exec.CommandContext(ctx, enqueue, append(args, extra...)...)
				cmd.Env = append(os.Environ(), env...)
				cmd.Stdout, cmd.Stderr = &stdout, &stdout
				if err := cmd.Run(); err != nil {
					t.Fatalf("night %d: enqueue: %v\n%s", n, err, stdout.String())
				}
				if sink == "postgres" {
					return stdout.String(), readPassageTable(t, dbURL, "passages")
				}
				return stdout.String(), readParquetJob(t, out, job)
			}
			spec, _ := passage.Parse(corpusSplit)
			passages := func(ids ...string) []string {
				var texts []string
				for _, id := range ids {
					for _, p := range spec.Split(docs[id]) {
						texts = append(texts, p.Text)
					}
				}
				return texts
			}
			all := passages(slices.Sorted(maps.Keys(docs))...)

			// Night 1: every passage of every document, embedded once.
			sum, rows := night(1)
			if !strings.Contains(sum, "30 written, 0 skipped, 0 failed, 30 total") {
				t.Fatalf("night 1 summary:\n%s", sum)
			}
			checkPassageRows(t, rows, docs, dims)
			if st := fake.Stats(); st.EmbeddedTexts != len(all) || st.UniqueTexts != len(all) {
				t.Fatalf("night 1: the fake embedded %d texts (%d distinct), want each of %d once", st.EmbeddedTexts, st.UniqueTexts, len(all))
			}

			// Night 2: the same corpus under a new job id costs no call.
			sum, rows = night(2)
			if !strings.Contains(sum, "0 written, 30 skipped, 0 failed, 30 total") || !strings.Contains(sum, " 0 calls") {
				t.Fatalf("night 2 summary:\n%s", sum)
			}
			checkPassageRows(t, rows, docs, dims)
			if st := fake.Stats(); st.Calls["POST /v2/embed"] != 0 || st.EmbeddedTexts != 0 {
				t.Fatalf("night 2: %d embed calls, %d texts; want none", st.Calls["POST /v2/embed"], st.EmbeddedTexts)
			}

			// Night 3: two documents of several passages are deleted from
			// the corpus; -prune-dry-run counts and lists their rows, deletes
			// none, and costs no call.
			before := maps.Clone(docs)
			gone := map[string]bool{}
			for _, id := range []string{"doc-09", "doc-20"} {
				for _, p := range spec.Split(docs[id]) {
					gone[passage.ID(id, p.Index)] = true
				}
				delete(docs, id)
			}
			if len(gone) < 4 {
				t.Fatalf("the deleted documents have %d passages, want several", len(gone))
			}
			writeDocs(t, path, docs)
			sum, rows = night(3, "-prune-dry-run")
			if !strings.Contains(sum, "0 written, 28 skipped, 0 failed, 28 total") || !strings.Contains(sum, fmt.Sprintf(", %d to prune (-prune-dry-run: none deleted)", len(gone))) {
				t.Fatalf("night 3 summary (want %d to prune):\n%s", len(gone), sum)
			}
			checkPassageRows(t, rows, before, dims)
			if st := fake.Stats(); st.Calls["POST /v2/embed"] != 0 {
				t.Fatalf("night 3: %d embed calls, want none", st.Calls["POST /v2/embed"])
			}
			w.mu.Lock()
			logs := w.out.String()
			w.mu.Unlock()
			listed := regexp.MustCompile(`"msg":"-prune-dry-run: rows that -prune would delete","job":"nightly-2026-12-03","rows":(\d+),"ids":\[(.*?)\]`).FindStringSubmatch(logs)
			if listed == nil || listed[1] != fmt.Sprint(len(gone)) || listed[2] != `"`+strings.Join(slices.Sorted(maps.Keys(gone)), `","`)+`"` {
				t.Fatalf("the worker's log lists not the %d rows to prune %q:\n%s", len(gone), slices.Sorted(maps.Keys(gone)), lastLines(logs, 10))
			}
			if sink == "parquet" {
				m, err := parquet.ReadManifest(out, "nightly-2026-12-03")
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Pruned) != 0 || m.Previous != "nightly-2026-12-02" {
					t.Fatalf("dry run's manifest: pruned %q, previous %q; want none, nightly-2026-12-02", m.Pruned, m.Previous)
				}
			}

			// Night 4: doc-07 shrinks to 5 passages, two documents change a
			// word; -prune removes the deleted documents' rows.
			docs["doc-07"] = sentences(7, five, "")
			docs["doc-12"] = sentences(12, 1+12%11, "saffron")
			docs["doc-21"] = sentences(21, 1+21%11, "saffron")
			changed := []string{"doc-07", "doc-12", "doc-21"}
			order := writeDocs(t, path, docs)
			sum, rows = night(4, "-prune")
			if !strings.Contains(sum, "3 written, 25 skipped, 0 failed, 28 total") || !strings.Contains(sum, fmt.Sprintf(", %d pruned\n", len(gone))) {
				t.Fatalf("night 4 summary (want %d pruned):\n%s", len(gone), sum)
			}
			checkPassageRows(t, rows, docs, dims)
			for _, r := range rows {
				if gone[r.ID] {
					t.Fatalf("pruned row %s is still in the sink", r.ID)
				}
			}
			for _, id := range []string{"doc-07#0005", "doc-07#0006"} {
				if slices.ContainsFunc(rows, func(r sinks.Embedding) bool { return r.ID == id }) {
					t.Fatalf("stale passage %s of the shrunk doc-07 is still in the sink", id)
				}
			}
			// The changed documents' passages alone were paid for, each once,
			// in one call per chunk holding a changed document.
			paid := passages(changed...)
			chunks := map[int]bool{}
			for i, id := range order {
				if slices.Contains(changed, id) {
					chunks[i/chunkSize] = true
				}
			}
			st := fake.Stats()
			if st.EmbeddedTexts != len(paid) || st.UniqueTexts != len(paid) || st.Calls["POST /v2/embed"] != len(chunks) {
				t.Fatalf("night 4: %d embed calls, %d texts (%d distinct); want %d calls, %d texts",
					st.Calls["POST /v2/embed"], st.EmbeddedTexts, st.UniqueTexts, len(chunks), len(paid))
			}
			for _, text := range paid {
				if fake.EmbedCount(text) != 1 {
					t.Fatalf("passage %q embedded %d times on night 4, want 1", text, fake.EmbedCount(text))
				}
			}
			if sink == "parquet" {
				m, err := parquet.ReadManifest(out, "nightly-2026-12-04")
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(m.Pruned, slices.Sorted(maps.Keys(gone))) || m.Previous != "nightly-2026-12-03" {
					t.Fatalf("manifest: pruned %q, previous %q; want %q, nightly-2026-12-03", m.Pruned, m.Previous, slices.Sorted(maps.Keys(gone)))
				}
			}
		})
	}
}

// TestNightlyParquet20000 is the nightly job the README describes, through
// the enqueue binary (embedded) into one Parquet directory: two nights over
// the same 20,000 records, the second under a new date-stamped job id
// costing no embed call; then 100 records change and the third night pays
// for exactly those 100. Each night's directory is checked record by record
// as a complete snapshot.
func TestNightlyParquet20000(t *testing.T) {
	t.Parallel()
	const records = 20_000
	enqueue, _ := binaries(t)
	fake := coheretest.NewServer()
	defer fake.Close()
	corpus, texts := writeCorpus(t, records)
	out := t.TempDir()
	night := func(n int, wantWritten int) {
		t.Helper()
		job := fmt.Sprintf("nightly-2026-12-%02d", n)
		fake.ResetStats()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, enqueue, "-in", corpus, "-sink", "parquet:"+out, "-job", job, "-dimensions", "256",
			"-rate-limit", "embed=100000000/1m")
		cmd.Env = append(os.Environ(), "REDIS_URL=", "COHERE_BASE_URL="+fake.URL, "COHERE_API_KEY="+coheretest.DefaultAPIKey, "DATABASE_URL=")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("night %d: enqueue: %v\n%s", n, err, b)
		}
		want := fmt.Sprintf("%d written, %d skipped, 0 failed, %d total", wantWritten, records-wantWritten, records)
		if !strings.Contains(string(b), want) {
			t.Fatalf("night %d: want %q in the summary:\n%s", n, want, b)
		}
		if st := fake.Stats(); st.EmbeddedTexts != wantWritten || st.UniqueTexts != wantWritten || wantWritten == 0 && st.Calls["POST /v2/embed"] != 0 {
			t.Fatalf("night %d: the fake embedded %d texts (%d distinct) in %d calls; want %d, each once",
				n, st.EmbeddedTexts, st.UniqueTexts, st.Calls["POST /v2/embed"], wantWritten)
		}
		verify(t, out, job, texts, 256)
	}
	night(1, records)
	night(2, 0)
	var changed []string
	for i := range 100 {
		id := fmt.Sprintf("r%05d", i*199)
		texts[id] += " (revised)"
		changed = append(changed, texts[id])
	}
	writeDocs(t, corpus, texts)
	night(3, 100)
	for _, text := range changed {
		if n := fake.EmbedCount(text); n != 1 {
			t.Fatalf("changed text %q embedded %d times on night 3, want 1", text, n)
		}
	}
}
