package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
)

// Operations a job can run.
const (
	OpEmbed = "embed"
)

// Spec is everything that defines a job. It is stored in Redis (never with a
// secret in it) so that any worker can run the job's chunks.
type Spec struct {
	ID             string        `json:"id"`
	Op             string        `json:"op"`
	Model          string        `json:"model"`
	InputType      string        `json:"input_type,omitempty"`
	EmbeddingTypes []string      `json:"embedding_types,omitempty"`
	Dimensions     int           `json:"dimensions,omitempty"` // output_dimension; 0 means the model's default
	Truncate       string        `json:"truncate,omitempty"`
	Inputs         []string      `json:"inputs"`
	Input          input.Options `json:"input"`
	ChunkSize      int           `json:"chunk_size"`
	Sink           string        `json:"sink"` // SCHEME[:LOCATION], a sink registered with sinks.Register
	Table          string        `json:"table,omitempty"`
	PGType         string        `json:"pg_type,omitempty"`
	Index          *Index        `json:"index,omitempty"`  // build an ANN index after the load (postgres)
	Force          bool          `json:"force,omitempty"`  // re-embed records the sink already holds unchanged
	Strict         bool          `json:"strict,omitempty"` // a bad input record aborts the job
	CreatedAt      time.Time     `json:"created_at"`

	AsyncOptions // the async route: -async, -async-threshold, -batch-model, ...
	OpOptions    // classify and rerank: -examples, -candidates, -top-n, ...
	Budget       // -price-per-mtok, -max-cost
}

// Index asks for an approximate-nearest-neighbour index after the load.
type Index = sinks.Index

// Defaults applied by WithDefaults.
const (
	DefaultModel     = "embed-v4.0"
	DefaultInputType = "search_document"
	DefaultChunkSize = 960 // ten full embed calls: a retried chunk repeats at most ten
	MaxBatch         = 96  // texts per embed call, the API's limit
)

// WithDefaults fills unset fields with their defaults.
func (s Spec) WithDefaults() Spec {
	if s.Op == "" {
		s.Op = OpEmbed
	}
	if s.Op == OpClassify || s.Op == OpRerank {
		return s.withOpDefaults()
	}
	if s.Model == "" {
		s.Model = DefaultModel
	}
	if s.InputType == "" {
		s.InputType = DefaultInputType
	}
	if len(s.EmbeddingTypes) == 0 {
		s.EmbeddingTypes = []string{"float"}
	}
	if s.ChunkSize <= 0 {
		s.ChunkSize = DefaultChunkSize
	}
	if s.PGType == "" {
		s.PGType = "vector"
	}
	s.Input = s.Input.WithDefaults()
	s.AsyncOptions = s.AsyncOptions.withDefaults()
	return s
}

var validTypes = []string{"float", "int8", "uint8", "binary", "ubinary"}

// Validate reports the first problem with a spec, naming the flag to fix.
func (s Spec) Validate() error {
	if s.Op == OpClassify || s.Op == OpRerank {
		return s.validateOp()
	}
	errs := s.validateCommon()
	if s.Op != OpEmbed {
		errs = append(errs, fmt.Errorf("-op %q: want embed, classify or rerank", s.Op))
	}
	for _, t := range s.EmbeddingTypes {
		if !slices.Contains(validTypes, t) {
			errs = append(errs, fmt.Errorf("-embedding-types: %q is not one of %s", t, strings.Join(validTypes, ", ")))
		}
	}
	switch s.Dimensions {
	case 0, 256, 512, 1024, 1536:
	default:
		errs = append(errs, fmt.Errorf("-dimensions %d: want 256, 512, 1024 or 1536", s.Dimensions))
	}
	switch s.InputType {
	case "search_document", "search_query", "classification", "clustering":
	default:
		errs = append(errs, fmt.Errorf("-input-type %q: want search_document, search_query, classification or clustering", s.InputType))
	}
	if s.Index != nil && s.Index.Method != "hnsw" {
		errs = append(errs, fmt.Errorf("-index %q: want hnsw", s.Index.Method))
	}
	if k, err := sinks.Lookup(s.Sink); s.Index != nil && err == nil && !k.Indexes {
		errs = append(errs, fmt.Errorf("-index: a %s sink has no indexes", k.Scheme))
	}
	errs = append(errs, s.validateAsync()...)
	return errors.Join(errs...)
}

// validateCommon checks what every operation's spec needs: inputs, chunking,
// the input options and a sink.
func (s Spec) validateCommon() []error {
	var errs []error
	if len(s.Inputs) == 0 {
		errs = append(errs, errors.New("-in: no input given"))
	}
	if s.ChunkSize > 100_000 {
		errs = append(errs, fmt.Errorf("-chunk-size %d: at most 100000", s.ChunkSize))
	}
	if err := s.Input.Validate(); err != nil {
		errs = append(errs, err)
	}
	if k, err := sinks.Lookup(s.Sink); err != nil {
		errs = append(errs, err)
	} else if k.NeedsTable && s.Table == "" {
		errs = append(errs, fmt.Errorf("-table: required with a %s sink", k.Scheme))
	}
	return errs
}

// Fingerprint identifies everything besides the text that shapes a vector. A
// stored row with the same content hash and fingerprint is not embedded again.
func (s Spec) Fingerprint() string {
	if s.Op == OpClassify || s.Op == OpRerank {
		return s.opFingerprint()
	}
	types := slices.Clone(s.EmbeddingTypes)
	slices.Sort(types)
	return fmt.Sprintf("%s|%s|%d|%s|%s", s.Model, s.InputType, s.Dimensions, strings.Join(types, ","), s.Truncate)
}

// DefaultJobID derives a job id from what determines the job's output, so
// that running the same command again resumes the same job.
func DefaultJobID(s Spec) string {
	h := sha256.New()
	key := s
	key.ID, key.CreatedAt = "", time.Time{}
	key.AsyncOptions = AsyncOptions{} // the route changes the cost, not the output
	key.Budget = Budget{}
	_ = json.NewEncoder(h).Encode(key)
	return s.Op + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Target is what the job's sink is told of it; databaseURL is the worker's
// own connection string, never stored with the job.
func (s Spec) Target(databaseURL string) sinks.Target {
	return sinks.Target{
		Job: s.ID, Op: s.Op, Table: s.Table, Dims: s.Dims(), PGType: s.PGType,
		EmbeddingTypes: s.EmbeddingTypes, Index: s.Index, DatabaseURL: databaseURL,
	}
}

// Dims is the length of the job's vectors: -dimensions when given, else the
// model's default (embed-v4: 1536; light models: 384; other v3 models: 1024).
func (s Spec) Dims() int {
	switch {
	case s.Dimensions > 0:
		return s.Dimensions
	case strings.HasPrefix(s.Model, "embed-v4"):
		return 1536
	case strings.Contains(s.Model, "light"):
		return 384
	default:
		return 1024
	}
}
