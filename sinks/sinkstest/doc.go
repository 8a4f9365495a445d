// Package sinkstest holds what the tests of every sink share about declared
// row kinds (sinks.RowKind): a kind with a column of every type, rows of it
// with values a lossy path would change, and how a stored row is compared
// with the one written.
//
//	err := w.WriteChunk(ctx, &sinks.Chunk{Job: "j", Declared: []sinks.Row{sinkstest.Row("a", 2)}})
//	if d := sinkstest.Diff(stored, sinkstest.Row("a", 2)); d != "" {
//		t.Error(d)
//	}
package sinkstest
