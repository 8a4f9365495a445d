package coheretest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
)

// rerankDocsPerUnit is how many documents one search unit covers per query.
const rerankDocsPerUnit = 100

type rerankRequestV1 struct {
	Model           string            `json:"model"`
	Query           string            `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n"`
	RankFields      []string          `json:"rank_fields"`
	ReturnDocuments bool              `json:"return_documents"`
	MaxChunksPerDoc *int              `json:"max_chunks_per_doc"`
}

type rerankRequestV2 struct {
	Model           string   `json:"model"`
	Query           string   `json:"query"`
	Documents       []string `json:"documents"`
	TopN            *int     `json:"top_n"`
	MaxTokensPerDoc *int     `json:"max_tokens_per_doc"`
	Priority        *int     `json:"priority"`
}

type rerankResult struct {
	Document       any     `json:"document,omitempty"`
	Index          int     `json:"index"`
	RelevanceScore float64 `json:"relevance_score"`
}

type rerankResponse struct {
	ID      string         `json:"id"`
	Results []rerankResult `json:"results"`
	Meta    meta           `json:"meta"`
}

// RelevanceScore is the fake's rerank score of doc for query, in [0, 1]:
// mostly the fraction of the query's distinct words found in the document,
// plus a little embedding cosine so that ties break deterministically.
func RelevanceScore(query, doc string) float64 {
	qw := map[string]bool{}
	for _, w := range words(query) {
		qw[w] = true
	}
	if len(qw) == 0 {
		return 0
	}
	dw := map[string]bool{}
	for _, w := range words(doc) {
		dw[w] = true
	}
	hit := 0
	for w := range qw {
		if dw[w] {
			hit++
		}
	}
	cos := cosine(Embedding("rerank", "", query, 256), Embedding("rerank", "", doc, 256))
	score := 0.9*float64(hit)/float64(len(qw)) + 0.1*max(0, cos)
	return float64(float32(min(1, max(0, score))))
}

// rerank validates and scores; docs are the texts ranked.
func (s *Server) rerank(w http.ResponseWriter, model, query string, docs []string, topN *int, needModel bool) ([]rerankResult, int, bool) {
	if model == "" && needModel {
		writeError(w, http.StatusBadRequest, "a model parameter is required for this endpoint.")
		return nil, 0, false
	}
	if model != "" {
		known, serves := modelServes(model, "rerank")
		if !known {
			writeError(w, http.StatusNotFound, modelNotFound(model))
			return nil, 0, false
		}
		if !serves {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: model '%s' is not supported by the rerank API", model))
			return nil, 0, false
		}
	}
	if strings.TrimSpace(query) == "" {
		writeError(w, http.StatusBadRequest, "invalid request: query must not be empty or be only whitespace")
		return nil, 0, false
	}
	if len(docs) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request: list of documents must not be empty")
		return nil, 0, false
	}
	if len(docs) > 10000 {
		writeError(w, http.StatusBadRequest, "invalid request: number of total max chunks (number of documents * max chunks per doc) must be less than 10000")
		return nil, 0, false
	}
	for i, d := range docs {
		if strings.TrimSpace(d) == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: document at index %d cannot be empty", i))
			return nil, 0, false
		}
	}
	n := len(docs)
	if topN != nil {
		if *topN < 1 {
			writeError(w, http.StatusBadRequest, "invalid request: top_n must be at least 1")
			return nil, 0, false
		}
		n = min(n, *topN)
	}
	if !s.admit(w, "rerank", 1) {
		return nil, 0, false
	}
	if i := s.poisoned(append([]string{query}, docs...)); i >= 0 {
		writeError(w, http.StatusBadRequest, "invalid request: an input could not be processed by the rerank model")
		return nil, 0, false
	}
	res := make([]rerankResult, len(docs))
	for i, d := range docs {
		res[i] = rerankResult{Index: i, RelevanceScore: RelevanceScore(query, d)}
	}
	sort.SliceStable(res, func(a, b int) bool { return res[a].RelevanceScore > res[b].RelevanceScore })
	units := int(math.Ceil(float64(len(docs)) / rerankDocsPerUnit))
	s.count(func(st *Stats) { st.BilledSearchUnits += units })
	return res[:n], units, true
}

func (s *Server) handleRerankV1(w http.ResponseWriter, r *http.Request, body []byte) {
	var req rerankRequestV1
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	if req.RankFields != nil && len(req.RankFields) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request: rank_fields cannot be empty, it must either contain at least one field or be omitted")
		return
	}
	texts := make([]string, len(req.Documents))
	originals := make([]any, len(req.Documents))
	for i, raw := range req.Documents {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			texts[i], originals[i] = str, map[string]string{"text": str}
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: document at index %d must be a string or an object", i))
			return
		}
		fields := req.RankFields
		if len(fields) == 0 {
			fields = []string{"text"}
		}
		var parts []string
		for _, f := range fields {
			if v, ok := obj[f].(string); ok && v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) == 0 {
			writeError(w, http.StatusBadRequest, "document does not have a 'snippet' or a 'text' field that can be used for chunking and reranking")
			return
		}
		texts[i], originals[i] = strings.Join(parts, "\n"), obj
	}
	res, units, ok := s.rerank(w, req.Model, req.Query, texts, req.TopN, false)
	if !ok {
		return
	}
	if req.ReturnDocuments {
		for i := range res {
			res[i].Document = originals[res[i].Index]
		}
	}
	writeJSON(w, http.StatusOK, rerankResponse{ID: newUUID(), Results: res, Meta: v1Meta(&billedUnits{SearchUnits: units})})
}

func (s *Server) handleRerankV2(w http.ResponseWriter, r *http.Request, body []byte) {
	var req rerankRequestV2
	if err := decodeBody(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid json syntax: "+err.Error())
		return
	}
	res, units, ok := s.rerank(w, req.Model, req.Query, req.Documents, req.TopN, true)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, rerankResponse{ID: newUUID(), Results: res, Meta: v2Meta(&billedUnits{SearchUnits: units})})
}
