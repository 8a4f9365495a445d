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
	note, err := pipeline.Preflight(context.Background(), mg, &spec)
	if err != nil || mg.calls != 1 || !strings.Contains(note, "could not check model \"embed-v4.0\"") || !strings.Contains(note, "connection refused") {
		t.Fatalf("note %q, err %v, %d calls; want a note and no error after one call", note, err, mg.calls)
	}
}

type listedModel cohere.Model

func (m listedModel) GetModel(context.Context, string) (*cohere.Model, error) {
	c := cohere.Model(m)
	return &c, nil
}

// TestPreflightChatBatches: a chat job that may go through Batches needs a
// model listed with batches; -async auto keeps the sync route without it,
// -async batches is refused.
func TestPreflightChatBatches(t *testing.T) {
	t.Parallel()
	chatOnly := listedModel{Name: "command-a-vision-07-2025", Endpoints: []string{"chat"}}
	both := listedModel{Name: "command-a-03-2025", Endpoints: []string{"chat", "batches"}}
	spec := pipeline.Spec{Op: pipeline.OpChat, Model: chatOnly.Name, AsyncOptions: pipeline.AsyncOptions{Async: pipeline.AsyncAuto}}
	note, err := pipeline.Preflight(context.Background(), chatOnly, &spec)
	if err != nil || spec.Async != pipeline.AsyncOff || !strings.Contains(note, "keeps the sync route") {
		t.Errorf("auto on a chat-only model: async %q, note %q, err %v; want off and a note", spec.Async, note, err)
	}
	spec.Async = pipeline.AsyncBatches
	if _, err := pipeline.Preflight(context.Background(), chatOnly, &spec); err == nil || !strings.Contains(err.Error(), "-async batches: model command-a-vision-07-2025 is not served by Cohere Batches") {
		t.Errorf("batches on a chat-only model: err %v", err)
	}
	for _, async := range []string{pipeline.AsyncAuto, pipeline.AsyncBatches} {
		spec := pipeline.Spec{Op: pipeline.OpChat, Model: both.Name, AsyncOptions: pipeline.AsyncOptions{Async: async}}
		if note, err := pipeline.Preflight(context.Background(), both, &spec); err != nil || note != "" || spec.Async != async {
			t.Errorf("-async %s on a model listed with batches: async %q, note %q, err %v", async, spec.Async, note, err)
		}
	}
}
