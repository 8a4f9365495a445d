package pipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/cobatch/cobatch/sinks"
)

// A chunk's calls give each of its items an outcome: a result, or nil and
// the reason its record failed (a text the API rejected, a reply that never
// parsed). checkpointedCalls (checkpoint.go) and callDistinct hand them out
// as a function of the item, and outcomes turns them into rows.

// callDistinct makes call once per distinct content of items (distinct),
// at most inFlight at a time, and gives each item its content's outcome:
// call's result, or a nil one and the reason the record failed. An error
// fails them all (firstError); call may cancel ctx to stop the others.
func callDistinct[T any](ctx context.Context, items []item, inFlight int, call func(ctx context.Context, it item) (*T, string, error)) (result func(item) (*T, string), err error) {
	uniq, first := distinct(items)
	results := make([]*T, len(uniq))
	reasons := make([]string, len(uniq))
	errs := make([]error, len(uniq))
	var wg sync.WaitGroup
	sem := make(chan struct{}, inFlight)
	for i, it := range uniq {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i], reasons[i], errs[i] = call(ctx, it)
		})
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return nil, err
	}
	return func(it item) (*T, string) {
		u := first[it.sha]
		return results[u], reasons[u]
	}, nil
}

// firstError prefers an error that stopped the job over the cancellations
// it caused in the other calls.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, errStopped):
			return err
		case first == nil || errors.Is(first, context.Canceled):
			first = err
		}
	}
	return first
}

// outcomes turns each item's outcome into its row (row) or its failure.
func outcomes[T, R any](items []item, result func(item) (*T, string), row func(it item, v T) R) (rows []R, failed []sinks.Failure) {
	for _, it := range items {
		v, reason := result(it)
		if v == nil {
			failed = append(failed, failure(it.rec, reason))
			continue
		}
		rows = append(rows, row(it, *v))
	}
	return rows, failed
}

// reasonOrErr splits a call's error: a record the API rejected (400/422)
// fails with the reason returned, anything else is the chunk's error.
func reasonOrErr(err error) (reason string, _ error) {
	if apiErr, ok := rejected(err); ok {
		return rejectedReason(apiErr), nil
	}
	return "", err
}
