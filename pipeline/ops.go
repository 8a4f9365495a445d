package pipeline

import (
	"fmt"
	"strings"

	"github.com/cobatch/cobatch/cohere"
)

// Defaults of the classify and rerank operations.
const (
	DefaultRerankModel = "rerank-v3.5"
	// DefaultRerankChunkSize is in queries: each is at least one call, so a
	// retried chunk repeats at most this many.
	DefaultRerankChunkSize = 100
	// DefaultRerankRecordBytes bounds one query line with its documents.
	DefaultRerankRecordBytes = 64 << 20
	// MaxRerankDocs is the most documents one rerank call carries; a query
	// with more is scored in several calls and the results merged.
	MaxRerankDocs = 1000
	// MaxClassifyExamples is the API's limit on examples per call.
	MaxClassifyExamples = 2500
)

// OpOptions are the parameters of the classify and rerank operations.
type OpOptions struct {
	// Examples are the few-shot examples of a classify job without a
	// fine-tuned model. They are kept out of the spec's JSON: the planner
	// stores them once per job under their own Redis key (SaveExamples), and
	// workers load them once per job.
	Examples []cohere.ClassifyExample `json:"-"`
	// ExamplesSHA256 identifies Examples; set by WithDefaults.
	ExamplesSHA256 string `json:"examples_sha256,omitempty"`
	// Candidates is a JSONL file of {query_id, doc_id, text}: the documents
	// of rerank queries whose input lines carry none.
	Candidates string `json:"candidates,omitempty"`
	// TopN keeps the N best documents of each query (0: all).
	TopN int `json:"top_n,omitempty"`
	// MaxTokensPerDoc truncates long documents (0: the API's default).
	MaxTokensPerDoc int `json:"max_tokens_per_doc,omitempty"`
}

// ValidateExamples applies the API's rules to classify examples: at least
// two labels, at least two examples per label, at most 2,500 examples, no
// empty text or label.
func ValidateExamples(ex []cohere.ClassifyExample) error {
	if len(ex) > MaxClassifyExamples {
		return fmt.Errorf("%d examples, at most %d", len(ex), MaxClassifyExamples)
	}
	per := map[string]int{}
	var order []string
	for i, e := range ex {
		if strings.TrimSpace(e.Text) == "" || strings.TrimSpace(e.Label) == "" {
			return fmt.Errorf("example %d: empty text or label", i+1)
		}
		if per[e.Label] == 0 {
			order = append(order, e.Label)
		}
		per[e.Label]++
	}
	if len(per) < 2 {
		return fmt.Errorf("%d label(s), at least 2 needed", len(per))
	}
	var short []string
	for _, l := range order {
		if per[l] < 2 {
			short = append(short, fmt.Sprintf("%q (%d)", l, per[l]))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("every label needs at least 2 examples: %s", strings.Join(short, ", "))
	}
	return nil
}
