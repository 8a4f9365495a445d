package pgvector

import (
	"cmp"
	"fmt"
	"slices"
)

// lastByID keeps one row per id (the last given) sorted by id: sorted ids
// lock in one order, so that overlapping chunks cannot deadlock.
func lastByID[T any](in []T, id func(T) string, what string) ([]T, error) {
	byID := make(map[string]int, len(in))
	rows := make([]T, 0, len(in))
	for _, r := range in {
		k := id(r)
		if k == "" {
			return nil, fmt.Errorf("%s with an empty id", what)
		}
		if i, dup := byID[k]; dup {
			rows[i] = r
			continue
		}
		byID[k] = len(rows)
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	return rows, nil
}
