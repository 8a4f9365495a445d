package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/cohere"
)

// Operations besides embed.
const (
	OpClassify = "classify"
	OpRerank   = "rerank"
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

// withOpDefaults is WithDefaults for classify and rerank: the embedding
// parameters do not apply.
func (s Spec) withOpDefaults() Spec {
	if s.ChunkSize <= 0 {
		s.ChunkSize = DefaultChunkSize
		if s.Op == OpRerank {
			s.ChunkSize = DefaultRerankChunkSize
		}
	}
	if s.Op == OpRerank {
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
	}
	// The async routes (embed jobs, batches) serve embeddings only.
	if s.Async == "" || s.Async == AsyncAuto {
		s.Async = AsyncOff
	}
	if s.Op == OpClassify && len(s.Examples) > 0 {
		s.ExamplesSHA256 = examplesHash(s.Examples)
	}
	s.Input = s.Input.WithDefaults()
	return s
}

func examplesHash(ex []cohere.ClassifyExample) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(ex)
	return hex.EncodeToString(h.Sum(nil))
}

// validateOp is Validate for classify and rerank.
func (s Spec) validateOp() error {
	errs := s.validateCommon()
	switch s.Op {
	case OpClassify:
		if s.Model == "" && len(s.Examples) == 0 && s.ExamplesSHA256 == "" {
			errs = append(errs, errors.New("-op classify: give -model (a fine-tuned classify model) or -examples FILE"))
		}
		if len(s.Examples) > 0 {
			if err := ValidateExamples(s.Examples); err != nil {
				errs = append(errs, fmt.Errorf("-examples: %w", err))
			}
		}
		if s.Candidates != "" || s.TopN != 0 || s.MaxTokensPerDoc != 0 {
			errs = append(errs, errors.New("-candidates, -top-n and -max-tokens-per-doc are rerank flags"))
		}
	case OpRerank:
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
	}
	if s.Async != AsyncOff {
		errs = append(errs, fmt.Errorf("-async %s: only embed jobs have an async route", s.Async))
	}
	switch s.Truncate {
	case "", "NONE", "START", "END":
	default:
		errs = append(errs, fmt.Errorf("-truncate %q: want NONE, START or END", s.Truncate))
	}
	if s.Index != nil {
		errs = append(errs, fmt.Errorf("-index: %s results have no vectors to index", s.Op))
	}
	return errors.Join(errs...)
}

// opFingerprint is Fingerprint for classify and rerank: what besides the
// input decides the result.
func (s Spec) opFingerprint() string {
	switch s.Op {
	case OpClassify:
		return fmt.Sprintf("classify|%s|%s|%s", s.Model, s.ExamplesSHA256, s.Truncate)
	default:
		return fmt.Sprintf("rerank|%s|%d|%d", s.Model, s.TopN, s.MaxTokensPerDoc)
	}
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

// SaveExamples stores a classify job's examples once, next to its spec.
func (st *Store) SaveExamples(ctx context.Context, spec Spec) error {
	if len(spec.Examples) == 0 {
		return nil
	}
	b, err := json.Marshal(spec.Examples)
	if err != nil {
		return fmt.Errorf("encode examples: %w", err)
	}
	if err := st.rdb.Set(ctx, examplesKey(spec.ID), b, 0).Err(); err != nil {
		return fmt.Errorf("store examples of job %s: %w", spec.ID, err)
	}
	return nil
}

// Examples returns a classify job's stored examples (nil when it has none).
func (st *Store) Examples(ctx context.Context, id string) ([]cohere.ClassifyExample, error) {
	b, err := st.rdb.Get(ctx, examplesKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load examples of job %s: %w", id, err)
	}
	var ex []cohere.ClassifyExample
	if err := json.Unmarshal(b, &ex); err != nil {
		return nil, fmt.Errorf("decode examples of job %s: %w", id, err)
	}
	return ex, nil
}
