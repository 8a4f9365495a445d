package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cobatch/cobatch/sinks"
)

// OpEmbed embeds each record's text: one vector row per record.
const OpEmbed = "embed"

func init() {
	RegisterOp(Op{
		Name:           OpEmbed,
		Defaults:       embedDefaults,
		Validate:       embedValidate,
		Fingerprint:    embedFingerprint,
		Price:          embedPrice,
		RecordsPerCall: MaxBatch,
		Endpoint:       func(Spec) (string, bool) { return "embed", false },
		Process:        embedChunk,
		Async:          embedAsync{},
	})
}

func embedDefaults(s Spec) Spec {
	if s.Model == "" {
		s.Model = DefaultModel
	}
	if s.InputType == "" {
		s.InputType = DefaultInputType
	}
	if len(s.EmbeddingTypes) == 0 {
		s.EmbeddingTypes = []string{"float"}
	}
	if s.PGType == "" {
		s.PGType = "vector"
	}
	s = corpusDefaults(s)
	s.AsyncOptions = s.AsyncOptions.withDefaults()
	return s
}

var validTypes = []string{"float", "int8", "uint8", "binary", "ubinary"}

func embedValidate(s Spec) []error {
	var errs []error
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
	return append(errs, s.validateAsync()...)
}

// embedFingerprint: everything besides the text that shapes a vector.
func embedFingerprint(s Spec) string {
	types := slices.Clone(s.EmbeddingTypes)
	slices.Sort(types)
	fp := fmt.Sprintf("%s|%s|%d|%s|%s", s.Model, s.InputType, s.Dimensions, strings.Join(types, ","), s.Truncate)
	if s.splits() {
		fp += "|split=" + s.splitSpec().String() // passages of another split are other texts
	}
	return fp
}

// embedPrice is the list price per million tokens (embed-v4: 0.12; v3 and
// older: 0.10).
func embedPrice(model string) float64 {
	if strings.HasPrefix(model, "embed-v4") {
		return 0.12
	}
	return 0.10
}

// validateSyncOnly is what an operation without vectors or an async route
// checks: no -async, a known -truncate, no -index.
func validateSyncOnly(s Spec) []error {
	var errs []error
	if s.Async != AsyncOff {
		errs = append(errs, fmt.Errorf("-async %s: only embed and chat jobs have an async route", s.Async))
	}
	switch s.Truncate {
	case "", "NONE", "START", "END":
	default:
		errs = append(errs, fmt.Errorf("-truncate %q: want NONE, START or END", s.Truncate))
	}
	if s.Index != nil {
		errs = append(errs, fmt.Errorf("-index: %s results have no vectors to index", s.Op))
	}
	return errs
}

// syncOnly is the default of an operation without an async route.
func syncOnly(s Spec) Spec {
	if s.Async == "" || s.Async == AsyncAuto {
		s.Async = AsyncOff
	}
	return s
}
