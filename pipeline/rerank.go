package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/pipeline/jobstore"
	"github.com/cobatch/cobatch/sinks"
)

// Reranker calls Cohere's rerank endpoint (cohere.Client satisfies it).
type Reranker interface {
	Rerank(ctx context.Context, req *cohere.RerankRequest) (*cohere.RerankResponse, error)
}

// rerankDoc is one document of a query: its id (or its index as text) and
// the text scored.
type rerankDoc struct {
	id   string
	text string
}

// rerankChunk ranks the documents of each query of one chunk. A query is
// one record: written when its whole ranking is in the chunk, failed (with
// the reason) when it has no documents or the API rejects it.
func rerankChunk(ctx context.Context, d *Deps, c Chunk) (*sinks.Chunk, error) {
	out := &sinks.Chunk{Job: c.Job, Number: c.Chunk, Reranks: []sinks.RerankResult{}}
	items, err := d.readItems(ctx, c, out)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return out, nil
	}
	client, err := opClient(d.Reranker, d, "rerank")
	if err != nil {
		return nil, err
	}
	var candidates map[string][]rerankDoc
	if c.Spec.Candidates != "" {
		ids := make(map[string]bool, len(items))
		for _, it := range items {
			ids[it.rec.ID] = true
		}
		if candidates, err = readCandidates(ctx, d, c.Spec, c.Chunk, ids); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	for _, it := range items {
		var docs []rerankDoc
		if c.Spec.Candidates != "" {
			docs = candidates[it.rec.ID]
		} else if docs, err = inlineDocs(it.rec.Meta); err != nil {
			out.Failed = append(out.Failed, failure(it.rec, err.Error()))
			continue
		}
		if len(docs) == 0 {
			out.Failed = append(out.Failed, failure(it.rec, "query has no documents"))
			continue
		}
		ranked, reason, err := rankQuery(ctx, d, c.Spec, client, it.rec.Text, docs)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			out.Failed = append(out.Failed, failure(it.rec, reason))
			continue
		}
		for i, s := range ranked {
			out.Reranks = append(out.Reranks, sinks.RerankResult{
				QueryID: it.rec.ID, Rank: i + 1, DocID: docs[s.index].id, DocIndex: s.index,
				RelevanceScore: s.score, Model: c.Spec.Model, ScoredAt: now,
			})
		}
	}
	return out, nil
}

type scored struct {
	index int
	score float64
}

// rankQuery scores docs against query in calls of at most MaxRerankDocs and
// merges them into one ranking: scores of one query are comparable across
// calls. A non-empty reason means the API rejected the query.
func rankQuery(ctx context.Context, d *Deps, spec Spec, client Reranker, query string, docs []rerankDoc) ([]scored, string, error) {
	var all []scored
	for lo := 0; lo < len(docs); lo += MaxRerankDocs {
		hi := min(lo+MaxRerankDocs, len(docs))
		req := &cohere.RerankRequest{Model: spec.Model, Query: query, MaxTokensPerDoc: spec.MaxTokensPerDoc, Documents: make([]string, hi-lo)}
		for i := range req.Documents {
			req.Documents[i] = docs[lo+i].text
		}
		if spec.TopN > 0 && spec.TopN < hi-lo {
			req.TopN = spec.TopN // a document outside one call's top N is outside the merged top N too
		}
		last := hi == len(docs)
		resp, err := callFor(ctx, d, spec.ID, "rerank", 1, client.Rerank, req, func(r *cohere.RerankResponse) map[string]int64 {
			st := map[string]int64{jobstore.StatSearchUnits: int64(math.Round(r.Meta.BilledUnits.SearchUnits))}
			if last {
				st[jobstore.StatEmbedded] = 1
			}
			return st
		})
		if reason, err := reasonOrErr(err); reason != "" || err != nil {
			return nil, reason, err
		}
		want := len(req.Documents)
		if req.TopN > 0 {
			want = req.TopN
		}
		if len(resp.Results) != want {
			return nil, "", fmt.Errorf("rerank response has %d results for %d documents", len(resp.Results), want)
		}
		seen := make(map[int]bool, len(resp.Results))
		for _, r := range resp.Results {
			if r.Index < 0 || r.Index >= len(req.Documents) || seen[r.Index] {
				return nil, "", fmt.Errorf("rerank response: bad or repeated document index %d", r.Index)
			}
			seen[r.Index] = true
			all = append(all, scored{index: lo + r.Index, score: r.RelevanceScore})
		}
	}
	slices.SortFunc(all, func(a, b scored) int { return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.index, b.index)) })
	if spec.TopN > 0 && len(all) > spec.TopN {
		all = all[:spec.TopN]
	}
	return all, "", nil
}

// inlineDocs reads the documents a query line carries: strings, or objects
// with a "text" and an optional "id" (a string or a number).
func inlineDocs(meta json.RawMessage) ([]rerankDoc, error) {
	var m struct {
		Documents []json.RawMessage `json:"documents"`
	}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &m); err != nil {
			return nil, fmt.Errorf("field \"documents\": want a list of strings or {id, text} objects: %v", err)
		}
	}
	docs := make([]rerankDoc, len(m.Documents))
	ids := make(map[string]int, len(m.Documents))
	for i, raw := range m.Documents {
		d := rerankDoc{id: strconv.Itoa(i)}
		if err := json.Unmarshal(raw, &d.text); err != nil {
			var obj struct {
				ID   json.RawMessage `json:"id"`
				Text *string         `json:"text"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil || obj.Text == nil {
				return nil, fmt.Errorf("document %d: want a string or an object with \"text\"", i)
			}
			d.text = *obj.Text
			if len(obj.ID) > 0 && string(obj.ID) != "null" {
				id, err := jsonScalar(obj.ID)
				if err != nil {
					return nil, fmt.Errorf("document %d: id: %v", i, err)
				}
				d.id = id
			}
		}
		if strings.TrimSpace(d.text) == "" {
			return nil, fmt.Errorf("document %d (id %q): empty text", i, d.id)
		}
		if j, dup := ids[d.id]; dup {
			return nil, fmt.Errorf("document %d: duplicate id %q (document %d)", i, d.id, j)
		}
		ids[d.id] = i
		docs[i] = d
	}
	return docs, nil
}

// jsonScalar renders a JSON string or number id as text.
func jsonScalar(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", errors.New("want a string or a number")
	}
	return n.String(), nil
}

// readCandidates collects, in file order, the candidates of the given
// queries. The candidates file is scanned once per chunk and only the
// chunk's candidates are held: memory is bounded by one chunk's documents
// whatever the file's size, at the cost of reading the file once per chunk
// (choose a larger -chunk-size for a large candidates file).
func readCandidates(ctx context.Context, d *Deps, spec Spec, chunk int, queries map[string]bool) (map[string][]rerankDoc, error) {
	opts := input.Options{Format: input.FormatJSONL, IDField: "doc_id", TextFields: []string{"text"}, MetaFields: []string{"query_id"}}
	out := map[string][]rerankDoc{}
	seen := map[string]map[string]bool{}
	var bad []string
	err := input.Split(ctx, []string{spec.Candidates}, opts, math.MaxInt32, func(r input.Range) error {
		return input.Read(ctx, r, opts, func(rec input.Record) error {
			if rec.Err != nil {
				bad = append(bad, rec.Err.Error())
				return nil
			}
			var m struct {
				QueryID json.RawMessage `json:"query_id"`
			}
			_ = json.Unmarshal(rec.Meta, &m)
			q, err := jsonScalar(m.QueryID)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s:%d: field \"query_id\": %v", rec.File, rec.Line, err))
				return nil
			}
			if !queries[q] {
				return nil
			}
			if seen[q] == nil {
				seen[q] = map[string]bool{}
			}
			if seen[q][rec.ID] {
				bad = append(bad, fmt.Sprintf("%s:%d: query %q: duplicate doc_id %q", rec.File, rec.Line, q, rec.ID))
				return nil
			}
			seen[q][rec.ID] = true
			out[q] = append(out[q], rerankDoc{id: rec.ID, text: rec.Text})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("candidates %s: %w", spec.Candidates, err)
	}
	if len(bad) > 0 {
		if spec.Strict {
			return nil, d.strictAbort(ctx, spec.ID, fmt.Errorf("candidates: %s", bad[0]))
		}
		// A bad candidate line belongs to no query that can be named; the
		// first chunk reports them so that they are seen once per job.
		if chunk == 0 {
			d.log().Warn("candidates skipped", "job", spec.ID, "count", len(bad), "first", bad[0])
		}
	}
	return out, nil
}
