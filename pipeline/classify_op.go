package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/cobatch/cobatch/sinks"
)

// OpClassify labels each record with a fine-tuned model or few-shot
// examples: one classification row per record.
const OpClassify = "classify"

func init() {
	RegisterOp(Op{
		Name:           OpClassify,
		Defaults:       classifyDefaults,
		Validate:       classifyValidate,
		Fingerprint:    classifyFingerprint,
		Price:          func(string) float64 { return 0 }, // fine-tuned models have no list price: -price-per-mtok
		RecordsPerCall: MaxBatch,
		Process: func(ctx context.Context, w *Worker, spec Spec, sink Sink, p ChunkPayload) (*sinks.Chunk, error) {
			return w.classifyChunk(ctx, spec, sink, p)
		},
	})
}

func classifyDefaults(s Spec) Spec {
	s = syncOnly(s)
	if len(s.Examples) > 0 {
		s.ExamplesSHA256 = examplesHash(s.Examples)
	}
	return s
}

func classifyValidate(s Spec) []error {
	var errs []error
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
	return append(errs, validateSyncOnly(s)...)
}

// classifyFingerprint: the model, the examples and the truncation decide a
// record's label.
func classifyFingerprint(s Spec) string {
	return fmt.Sprintf("classify|%s|%s|%s", s.Model, s.ExamplesSHA256, s.Truncate)
}
