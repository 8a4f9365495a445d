// Package kjvtest labels the bundled King James verses
// (examples/kjv/bible.jsonl.gz) by book group, the labelled real set the
// classification tests and the accuracy table in BENCHMARKS.md run on. It
// reads them with testenv.ReadKJV.
package kjvtest
