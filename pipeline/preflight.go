package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cobatch/cobatch/cohere"
)

// ModelGetter looks a model up (cohere.Client satisfies it).
type ModelGetter interface {
	GetModel(ctx context.Context, name string) (*cohere.Model, error)
}

// Preflight checks the job's model before any chunk is enqueued: the model
// exists, serves the endpoint the operation calls (Op.Endpoint), and takes
// -dimensions when given. A refusal is an error naming the flag to fix.
// What is not a refusal comes back as a note for the log: an id the models
// endpoint does not know where the operation passes unknown models through
// (fine-tuned classify models are managed under /v1/finetuning, not listed
// by /v1/models), and a models endpoint that cannot be reached (the job's
// own calls will tell).
//
// A chat job that may go through Batches needs a model the models endpoint
// lists with batches beside chat: -async batches without it is refused,
// and -async auto keeps the sync route (spec.Async becomes off, stored with
// the job).
func Preflight(ctx context.Context, mg ModelGetter, spec *Spec) (note string, err error) {
	op, err := LookupOp(spec.Op)
	if err != nil {
		return "", err
	}
	if op.Endpoint == nil || spec.Model == "" {
		return "", nil
	}
	endpoint, passUnknown := op.Endpoint(*spec)
	if endpoint == "" {
		return "", nil
	}
	m, err := mg.GetModel(ctx, spec.Model)
	var apiErr *cohere.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
		if passUnknown {
			return fmt.Sprintf("model %q is not listed by /v1/models (a fine-tuned model is managed under /v1/finetuning): passed through to /v1/%s", spec.Model, endpoint), nil
		}
		return "", fmt.Errorf("-model %s: not found (%s)", spec.Model, apiErr.Message)
	case fatal(err):
		// The key itself is refused: every call of the job would be too.
		return "", &KeyRefusedError{Err: err}
	case err != nil:
		return fmt.Sprintf("could not check model %q before the job: %v", spec.Model, err), nil
	}
	if !slices.Contains(m.Endpoints, endpoint) {
		return "", fmt.Errorf("-model %s: does not serve the %s endpoint (it serves %s)", spec.Model, endpoint, strings.Join(m.Endpoints, ", "))
	}
	if spec.Dimensions > 0 && !supportsDimensions(spec.Model) {
		return "", fmt.Errorf("-dimensions %d: model %s has a fixed dimension; only embed-v4 models take -dimensions", spec.Dimensions, spec.Model)
	}
	if spec.Op == OpChat && spec.Async != AsyncOff && !slices.Contains(m.Endpoints, "batches") {
		if spec.Async == AsyncBatches {
			return "", fmt.Errorf("-async batches: model %s is not served by Cohere Batches (it serves %s); use -async off or another -model", spec.Model, strings.Join(m.Endpoints, ", "))
		}
		spec.Async = AsyncOff
		return fmt.Sprintf("model %s is not served by Cohere Batches: -async auto keeps the sync route", spec.Model), nil
	}
	return "", nil
}

// supportsDimensions: output_dimension is an embed-v4 parameter; v3 and
// light models have one fixed length (Spec.Dims).
func supportsDimensions(model string) bool { return strings.HasPrefix(model, "embed-v4") }

// KeyRefusedError is Preflight's answer when the API refuses the key itself
// (401, 402, 403, 498, the monthly cap): the job would be aborted at its
// first call, so enqueue exits as for an aborted job.
type KeyRefusedError struct{ Err error }

func (e *KeyRefusedError) Error() string { return "model check: " + e.Err.Error() }
func (e *KeyRefusedError) Unwrap() error { return e.Err }
