package pipeline

import (
	"errors"
	"fmt"
)

// OpRerank ranks each query's documents: one row per ranked document.
const OpRerank = "rerank"

func init() {
	RegisterOp(Op{
		Name:           OpRerank,
		Defaults:       rerankDefaults,
		Validate:       rerankValidate,
		Fingerprint:    rerankFingerprint,
		Price:          func(string) float64 { return 2.0 }, // per 1,000 searches
		SearchUnits:    true,
		RecordsPerCall: 1,
		Endpoint:       func(Spec) (string, bool) { return "rerank", false },
		Process:        rerankChunk,
	})
}

func rerankDefaults(s Spec) Spec {
	if s.ChunkSize <= 0 {
		s.ChunkSize = DefaultRerankChunkSize
	}
	if s.Model == "" {
		s.Model = DefaultRerankModel
	}
	if s.Input.IDField == "" {
		s.Input.IDField = "query_id"
	}
	if len(s.Input.TextFields) == 0 {
		s.Input.TextFields = []string{"query"}
	}
	if s.Input.MaxRecordBytes == 0 && s.Candidates == "" {
		s.Input.MaxRecordBytes = DefaultRerankRecordBytes
	}
	// The documents travel with the query as its metadata; rerank rows
	// have no other metadata.
	s.Input.MetaFields = nil
	if s.Candidates == "" {
		s.Input.MetaFields = []string{"documents"}
	}
	return syncOnly(s)
}

func rerankValidate(s Spec) []error {
	var errs []error
	if len(s.Examples) > 0 || s.ExamplesSHA256 != "" {
		errs = append(errs, errors.New("-examples is a classify flag"))
	}
	if s.TopN < 0 {
		errs = append(errs, fmt.Errorf("-top-n %d: want 0 (all) or more", s.TopN))
	}
	if s.MaxTokensPerDoc < 0 {
		errs = append(errs, fmt.Errorf("-max-tokens-per-doc %d: want 0 (the API's default) or more", s.MaxTokensPerDoc))
	}
	if s.Truncate != "" {
		errs = append(errs, errors.New("-truncate: rerank takes -max-tokens-per-doc instead"))
	}
	if s.Candidates == "" && s.Input.Format != "" && s.Input.Format != "auto" && s.Input.Format != "jsonl" {
		errs = append(errs, fmt.Errorf("-format %s: queries with their documents are JSONL (or give -candidates)", s.Input.Format))
	}
	return append(errs, validateSyncOnly(s)...)
}

// rerankFingerprint: the model, the cut and the document truncation decide
// a query's ranking.
func rerankFingerprint(s Spec) string {
	return fmt.Sprintf("rerank|%s|%d|%d", s.Model, s.TopN, s.MaxTokensPerDoc)
}
