// Package pipeline runs jobs: it plans inputs into chunk tasks, and its
// handlers turn a chunk into API calls and sink writes.
package pipeline
