package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline"
)

type unreachableModels struct{ calls int }

func (u *unreachableModels) GetModel(context.Context, string) (*cohere.Model, error) {
	u.calls++
	return nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
}

// TestPreflightUnreachableIsAWarning: a models endpoint that cannot be
// reached does not refuse the job; the note says why it was not checked.
func TestPreflightUnreachableIsAWarning(t *testing.T) {
	t.Parallel()
	mg := &unreachableModels{}
	spec := pipeline.Spec{Op: pipeline.OpEmbed, Model: "embed-v4.0", Dimensions: 256}
	note, err := pipeline.Preflight(context.Background(), mg, spec)
	if err != nil || mg.calls != 1 || !strings.Contains(note, "could not check model \"embed-v4.0\"") || !strings.Contains(note, "connection refused") {
		t.Fatalf("note %q, err %v, %d calls; want a note and no error after one call", note, err, mg.calls)
	}
}
