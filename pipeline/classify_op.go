package pipeline

import (
	"errors"
	"fmt"
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
		Price:          classifyRoutePrice, // fine-tuned models have no list price: -price-per-mtok
		RecordsPerCall: MaxBatch,
		Estimate:       classifyEstimate,
		Endpoint:       classifyEndpoint,
		Process:        classifyChunk,
	})
}

func classifyDefaults(s Spec) Spec {
	s = syncOnly(s)
	s = classifyRouteDefaults(s)
	if len(s.Examples) > 0 {
		s.ExamplesSHA256 = jsonSHA256(s.Examples)
	}
	return s
}

func classifyValidate(s Spec) []error {
	errs := classifyRouteValidate(s)
	if s.Model == "" && len(s.Examples) == 0 && s.ExamplesSHA256 == "" && len(s.Labels) == 0 {
		errs = append(errs, errors.New("-op classify: give -model (a fine-tuned classify model) or -examples FILE"))
	}
	if len(s.Examples) > 0 {
		if err := ValidateExamples(s.Examples); err != nil {
			errs = append(errs, fmt.Errorf("-examples: %w", err))
		}
	}
	if s.PricePerMTokOut < 0 {
		errs = append(errs, errors.New("-price-per-mtok-out must not be negative"))
	}
	if s.Candidates != "" || s.TopN != 0 || s.MaxTokensPerDoc != 0 {
		errs = append(errs, errors.New("-candidates, -top-n and -max-tokens-per-doc are rerank flags"))
	}
	return append(errs, validateSyncOnly(s)...)
}

// classifyFingerprint: the model, the examples and the truncation decide a
// record's label.
func classifyFingerprint(s Spec) string {
	if s.Via == ViaEmbed || s.Via == ViaChat {
		return classifyRouteFingerprint(s)
	}
	return fmt.Sprintf("classify|%s|%s|%s", s.Model, s.ExamplesSHA256, s.Truncate)
}

// classifyEndpoint is the endpoint the route's model must serve; the
// classify route lets an id /v1/models does not know through (fine-tuned
// models are listed under /v1/finetuning).
func classifyEndpoint(s Spec) (string, bool) {
	switch s.Via {
	case ViaEmbed:
		return "embed", false
	case ViaChat:
		return "chat", false
	}
	return "classify", true
}
