package coheretest

import (
	"encoding/json"
	"hash/maphash"
	"maps"
	"net/http"
	"slices"
)

// Stats is what the fake has served since it started or since ResetStats.
type Stats struct {
	// Calls counts requests by route, e.g. "POST /v2/embed", including failed ones.
	Calls map[string]int `json:"calls"`
	// Status counts responses by HTTP status.
	Status map[int]int `json:"status"`
	// RateLimited counts 429s served by WithRateLimit (not the monthly cap).
	RateLimited int `json:"rate_limited"`
	// MonthlyCapped counts 429s served by WithMonthlyCap.
	MonthlyCapped int `json:"monthly_capped"`
	// MaxInFlight is the largest number of API requests being served at once.
	MaxInFlight int `json:"max_in_flight"`
	// EmbeddedTexts counts texts embedded in successful responses, embed jobs
	// and batches; UniqueTexts counts distinct ones among them, so
	// EmbeddedTexts == UniqueTexts means no text was paid for twice.
	EmbeddedTexts int `json:"embedded_texts"`
	UniqueTexts   int `json:"unique_texts"`
	// BilledInputTokens sums billed_units.input_tokens of everything served.
	BilledInputTokens int `json:"billed_input_tokens"`
	// BilledOutputTokens sums billed_units.output_tokens of chat replies.
	BilledOutputTokens int `json:"billed_output_tokens"`
	// ChatReplies counts successful chat answers; ChatMaxTokens those cut
	// by max_tokens (finish_reason MAX_TOKENS); ChatBadReplies those made
	// to break their response format (WithBadReplies, WithBadReplyRate).
	ChatReplies    int `json:"chat_replies"`
	ChatMaxTokens  int `json:"chat_max_tokens"`
	ChatBadReplies int `json:"chat_bad_replies"`
	// BilledSearchUnits and BilledClassifications sum rerank and classify billing.
	BilledSearchUnits     int `json:"billed_search_units"`
	BilledClassifications int `json:"billed_classifications"`
	// BatchSizes lists the number of inputs of each successful synchronous
	// embed call, in the order served.
	BatchSizes []int `json:"batch_sizes"`
	// RequestBytes and MaxRequestBytes measure JSON request bodies.
	RequestBytes    int64 `json:"request_bytes"`
	MaxRequestBytes int64 `json:"max_request_bytes"`
	// Faults served: connections reset (including hangs and cancelled
	// latency, which end without a response), hangs, injected error statuses
	// (WithErrorRate and WithFault) and malformed bodies.
	Resets         int `json:"resets"`
	Hangs          int `json:"hangs"`
	InjectedErrors int `json:"injected_errors"`
	Malformed      int `json:"malformed"`
	// Created counts create calls served in full (POST /v1/datasets,
	// /v1/embed-jobs, /v2/batches) by route, their answer lost or not;
	// LostCreates counts those whose answer was lost (WithLostCreates);
	// LostLines counts batch lines left out of the output
	// (WithBatchLostLines).
	Created     map[string]int `json:"created"`
	LostCreates int            `json:"lost_creates"`
	LostLines   int            `json:"lost_lines"`
}

func newStats() Stats {
	return Stats{Calls: map[string]int{}, Status: map[int]int{}, Created: map[string]int{}}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Calls = maps.Clone(s.st.Calls)
	st.Status = maps.Clone(s.st.Status)
	st.Created = maps.Clone(s.st.Created)
	st.BatchSizes = slices.Clone(s.st.BatchSizes)
	return st
}

// ResetStats zeroes the counters and the per-text embed counts. Rate-limit
// windows and the monthly call count are kept: they are state, not stats.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = newStats()
	s.counts = map[uint64]int{}
}

// EmbedCount returns how many times text was embedded in a successful
// response, embed job or batch.
func (s *Server) EmbedCount(text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[maphash.String(s.seed, text)]
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.st)
}

// recordEmbeds charges a successful embedding of texts. Texts are keyed by a
// 64-bit hash so that load tests over millions of texts stay small.
func (s *Server) recordEmbeds(texts []string, tokens int, sync bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range texts {
		k := maphash.String(s.seed, t)
		if s.counts[k] == 0 {
			s.st.UniqueTexts++
		}
		s.counts[k]++
	}
	s.st.EmbeddedTexts += len(texts)
	s.st.BilledInputTokens += tokens
	if sync {
		s.st.BatchSizes = append(s.st.BatchSizes, len(texts))
	}
}

func (s *Server) handleSimStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) handleSimReset(w http.ResponseWriter, r *http.Request) {
	s.ResetStats()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleSimDatasets(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"datasets": s.Datasets()})
}

// decodeStrict decodes a JSON request body into v.
func decodeBody(body []byte, v any) error {
	return json.Unmarshal(body, v)
}
