// Package cohere is a client for the Cohere API: embed, rerank, classify,
// tokenize, models, datasets, embed jobs and batches, with retries limited to
// what is safe to retry.
package cohere
