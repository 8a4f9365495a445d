package pipeline_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

type rerankQuery struct {
	id, text string
	docs     []string // texts
	ids      []string // ids as stored: given ids, or indexes as text
}

// rerankInput writes 30 queries with 3-40 documents (strings for even
// queries, {id, text} objects for odd ones), one query of 2,500 documents,
// one with an empty list and one without the field.
func rerankInput(t *testing.T) (string, []rerankQuery) {
	t.Helper()
	var qs []rerankQuery
	var lines []string
	add := func(q rerankQuery, objects bool) {
		docs := make([]any, len(q.docs))
		for i, d := range q.docs {
			if objects {
				q.ids = append(q.ids, fmt.Sprintf("%s-d%04d", q.id, i))
				docs[i] = map[string]string{"id": q.ids[i], "text": d}
			} else {
				q.ids = append(q.ids, strconv.Itoa(i))
				docs[i] = d
			}
		}
		b, _ := json.Marshal(map[string]any{"query_id": q.id, "query": q.text, "documents": docs})
		lines = append(lines, string(b))
		qs = append(qs, q)
	}
	for i := range 30 {
		q := rerankQuery{id: fmt.Sprintf("q%02d", i), text: words[i%len(words)] + " " + words[(i*3+1)%len(words)]}
		for j := range 3 + (i*7)%38 {
			q.docs = append(q.docs, corpusText(i*100+j))
		}
		add(q, i%2 == 1)
	}
	big := rerankQuery{id: "big", text: "salmon rivers granite"}
	for j := range 2500 {
		big.docs = append(big.docs, corpusText(j))
	}
	add(big, true)
	lines = append(lines, `{"query_id":"nodocs","query":"bread","documents":[]}`, `{"query_id":"missing","query":"bread"}`)
	return writeLines(t, "queries.jsonl", lines), qs
}

// expectRanking is the fake's ranking of a query: scores by
// coheretest.RelevanceScore, best first, ties in document order.
func expectRanking(q rerankQuery) []sinks.RerankResult {
	out := make([]sinks.RerankResult, len(q.docs))
	for i, d := range q.docs {
		out[i] = sinks.RerankResult{QueryID: q.id, DocID: q.ids[i], DocIndex: i, RelevanceScore: coheretest.RelevanceScore(q.text, d)}
	}
	slices.SortStableFunc(out, func(a, b sinks.RerankResult) int { return cmp.Compare(b.RelevanceScore, a.RelevanceScore) })
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

// TestRerankJobEndToEnd reranks into each sink: every query is accounted for
// once, each ranking is the fake's, the 2,500-document query is one merged
// ranking of 2,500 rows from 3 calls, and queries without documents are
// dead-lettered.
func TestRerankJobEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sinkName := range []string{"parquet", "postgres"} {
		t.Run(sinkName, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.limits = rateLimits()
			if sinkName == "postgres" {
				h.dbURL = testenv.DatabaseURL(t)
			}
			h.startWorkers(4)
			path, qs := rerankInput(t)
			spec := pipeline.Spec{ID: "rr-" + sinkName, Op: pipeline.OpRerank, Inputs: []string{path}, ChunkSize: 8, Sink: "parquet:" + h.out}
			if sinkName == "postgres" {
				spec.Sink, spec.Table = "postgres", "ranks"
			}
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			st := h.run(spec)
			if st.State != jobstore.StateDone || st.Written != 31 || st.Failed != 2 || st.Skipped != 0 || st.Total() != 33 {
				t.Fatalf("status %s written %d skipped %d failed %d (%s)", st.State, st.Written, st.Skipped, st.Failed, st.Reason)
			}
			stats := h.fake.Stats()
			if calls := stats.Calls["POST /v2/rerank"]; calls != 30+3 {
				t.Errorf("%d rerank calls, want 33 (one per query, three for the 2,500 documents)", calls)
			}
			units := 0
			for _, q := range qs {
				for lo := 0; lo < len(q.docs); lo += 1000 {
					units += int(math.Ceil(float64(min(1000, len(q.docs)-lo)) / 100))
				}
			}
			if st.SearchUnits != int64(units) || stats.BilledSearchUnits != units {
				t.Errorf("search units: job %d, fake %d, want %d", st.SearchUnits, stats.BilledSearchUnits, units)
			}
			dead, err := h.store.DeadLetters(context.Background(), spec.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range dead {
				if !strings.Contains(d.Reason, "no documents") {
					t.Errorf("dead letter %+v: want reason 'no documents'", d)
				}
				ids = append(ids, d.ID)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, []string{"missing", "nodocs"}) {
				t.Errorf("dead letters %v, want missing and nodocs", ids)
			}

			got := readReranks(t, h, spec)
			if len(got) != 31 {
				t.Fatalf("sink holds %d queries, want 31", len(got))
			}
			for _, q := range qs {
				want, rows := expectRanking(q), got[q.id]
				slices.SortFunc(rows, func(a, b sinks.RerankResult) int { return a.Rank - b.Rank })
				if len(rows) != len(want) {
					t.Fatalf("%s: %d rows, want %d", q.id, len(rows), len(want))
				}
				for i := range want {
					g := rows[i]
					if g.Rank != want[i].Rank || g.DocID != want[i].DocID || g.DocIndex != want[i].DocIndex || g.RelevanceScore != want[i].RelevanceScore {
						t.Fatalf("%s rank %d: got %+v, want %+v", q.id, i+1, g, want[i])
					}
				}
			}
		})
	}
}

// TestRerankCandidatesTopN reranks queries whose documents come from a
// candidates file, keeping the best 3 of each.
func TestRerankCandidatesTopN(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.limits = rateLimits()
	h.startWorkers(2)
	var queries, cands []string
	var qs []rerankQuery
	for i := range 12 {
		q := rerankQuery{id: fmt.Sprintf("q%d", i), text: words[i%len(words)]}
		queries = append(queries, fmt.Sprintf(`{"query_id":%q,"query":%q}`, q.id, q.text))
		qs = append(qs, q)
	}
	// Candidates interleaved across queries, as a retrieval run writes them.
	for j := range 10 {
		for i := range qs {
			if i == 11 {
				continue // q11 has no candidates
			}
			id := fmt.Sprintf("c%d-%d", i, j)
			text := corpusText(i*10 + j)
			qs[i].docs, qs[i].ids = append(qs[i].docs, text), append(qs[i].ids, id)
			cands = append(cands, fmt.Sprintf(`{"query_id":%q,"doc_id":%q,"text":%q}`, qs[i].id, id, text))
		}
	}
	spec := pipeline.Spec{ID: "rr-cand", Op: pipeline.OpRerank, Inputs: []string{writeLines(t, "q.jsonl", queries)}, ChunkSize: 5,
		Sink: "parquet:" + h.out, OpOptions: pipeline.OpOptions{Candidates: writeLines(t, "c.jsonl", cands), TopN: 3}}.WithDefaults()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	st := h.run(spec)
	if st.State != jobstore.StateDone || st.Written != 11 || st.Failed != 1 {
		t.Fatalf("status %s written %d failed %d (%s)", st.State, st.Written, st.Failed, st.Reason)
	}
	got := readReranks(t, h, spec)
	for _, q := range qs[:11] {
		want, rows := expectRanking(q)[:3], got[q.id]
		slices.SortFunc(rows, func(a, b sinks.RerankResult) int { return a.Rank - b.Rank })
		if len(rows) != 3 {
			t.Fatalf("%s: %d rows, want 3", q.id, len(rows))
		}
		for i := range want {
			if rows[i].DocID != want[i].DocID || rows[i].RelevanceScore != want[i].RelevanceScore || rows[i].Rank != i+1 {
				t.Fatalf("%s rank %d: got %+v, want %+v", q.id, i+1, rows[i], want[i])
			}
		}
	}
}

func readReranks(t *testing.T, h *harness, spec pipeline.Spec) map[string][]sinks.RerankResult {
	t.Helper()
	got := map[string][]sinks.RerankResult{}
	if spec.Sink != "postgres" {
		if err := parquet.ReadReranks(h.out, spec.ID, func(r sinks.RerankResult) error {
			got[r.QueryID] = append(got[r.QueryID], r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	conn := connect(t, h.dbURL)
	rows, err := conn.Query(context.Background(), "select query_id, rank, doc_id, doc_index, relevance_score from "+spec.Table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r sinks.RerankResult
		if err := rows.Scan(&r.QueryID, &r.Rank, &r.DocID, &r.DocIndex, &r.RelevanceScore); err != nil {
			t.Fatal(err)
		}
		got[r.QueryID] = append(got[r.QueryID], r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
