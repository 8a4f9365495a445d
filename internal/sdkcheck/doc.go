// Package sdkcheck holds a test, in a module of its own, that drives
// cmd/cohere-sim with Cohere's official Go SDK (github.com/cohere-ai/cohere-go/v2)
// unchanged: v2 chat (text, structured output, MAX_TOKENS, a refused model),
// v2 embed, the model catalogue, datasets and batches with batch-embed-v4.
// It keeps the SDK out of the product's module.
//
//	cd internal/sdkcheck && go test ./...
package sdkcheck
