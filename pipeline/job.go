package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cobatch/cobatch/pipeline/input"
	"github.com/cobatch/cobatch/sinks"
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
	Database       string        `json:"database,omitempty"` // user@host:port/db a database sink writes to (no password)
	PGType         string        `json:"pg_type,omitempty"`
	Index          *Index        `json:"index,omitempty"`  // build an ANN index after the load (postgres)
	Force          bool          `json:"force,omitempty"`  // re-embed records the sink already holds unchanged
	Strict         bool          `json:"strict,omitempty"` // a bad input record aborts the job
	CreatedAt      time.Time     `json:"created_at"`

	AsyncOptions    // the async route: -async, -async-threshold, -batch-model, ...
	CorpusOptions   // -split, -store-text, -prune
	OpOptions       // classify and rerank: -examples, -candidates, -top-n, ...
	Budget          // -price-per-mtok, -max-cost
	ChatOptions     // chat: -prompt, -system, -json-schema, ...
	ClassifyOptions // classify: -via, -labels, -multi-label
}

// Index asks for an approximate-nearest-neighbour index after the load.
type Index = sinks.Index

// Defaults applied by WithDefaults.
const (
	DefaultModel     = "embed-v4.0"
	DefaultInputType = "search_document"
	DefaultChunkSize = 960 // ten full embed calls; an embed chunk's retry repeats none that returned (checkpoint.go)
	MaxBatch         = 96  // texts per embed call, the API's limit
)

// WithDefaults fills unset fields with their defaults: the operation's own
// (Op.Defaults), then those every job shares.
func (s Spec) WithDefaults() Spec {
	if s.Op == "" {
		s.Op = OpEmbed
	}
	if op, err := LookupOp(s.Op); err == nil {
		s = op.Defaults(s)
	}
	if s.ChunkSize <= 0 {
		s.ChunkSize = DefaultChunkSize
	}
	s.Input = s.Input.WithDefaults()
	return s
}

// Validate reports the problems of a spec, each naming the flag to fix.
func (s Spec) Validate() error {
	op, err := LookupOp(s.Op)
	if err != nil {
		return err
	}
	return errors.Join(append(s.validateCommon(), op.Validate(s)...)...)
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
	errs = append(errs, s.validateCorpus()...)
	if k, err := sinks.Lookup(s.Sink); err != nil {
		errs = append(errs, err)
	} else if k.NeedsTable && s.Table == "" {
		errs = append(errs, fmt.Errorf("-table: required with a %s sink", k.Scheme))
	}
	return errs
}

// Fingerprint identifies what besides the text decides a record's result
// (Op.Fingerprint); empty for an operation that is not registered, which
// Validate refuses.
func (s Spec) Fingerprint() string {
	op, err := LookupOp(s.Op)
	if err != nil {
		return ""
	}
	return op.Fingerprint(s)
}

// DefaultJobID derives a job id from what determines the job's output, so
// that running the same command again resumes the same job.
func DefaultJobID(s Spec) string {
	key := s
	key.ID, key.CreatedAt = "", time.Time{}
	key.AsyncOptions = AsyncOptions{} // the route changes the cost, not the output
	key.Budget = Budget{}
	return s.Op + "-" + jsonSHA256(key)[:12]
}

// jsonSHA256 is the hex SHA-256 of v's JSON encoding (with json.Encoder's
// final newline): what names a job (DefaultJobID) and its classify examples
// (ExamplesSHA256).
func jsonSHA256(v any) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(v)
	return hex.EncodeToString(h.Sum(nil))
}

// Target is what the job's sink is told of it; databaseURL is the worker's
// own connection string, never stored with the job.
func (s Spec) Target(databaseURL string) sinks.Target {
	op, _ := LookupOp(s.Op) // an unknown operation: Validate refuses it
	return sinks.Target{
		Job: s.ID, Op: s.Op, Table: s.Table, Dims: s.Dims(), PGType: s.PGType,
		EmbeddingTypes: s.EmbeddingTypes, Index: s.Index, DatabaseURL: databaseURL,
		Database: s.Database,
		Corpus:   s.corpus(),
		RowKind:  op.RowKind,
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
