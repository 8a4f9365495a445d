// Package input reads the records of input files (JSONL, CSV, Parquet, plain
// text; gzip and zstd compressed; stdin) and splits them into ranges small
// enough to travel in a task payload.
//
// Planning streams each file once in bounded memory and emits ranges; a
// worker later reads one range on its own:
//
//	opts := input.Options{TextFields: []string{"title", "body"}, MetaFields: []string{"lang"}}
//	err := input.Split(ctx, []string{"corpus/*.jsonl.gz"}, opts, 960, func(r input.Range) error {
//		return enqueue(r) // a few hundred bytes: path, offsets, counts
//	})
//	...
//	err = input.Read(ctx, r, opts, func(rec input.Record) error {
//		if rec.Err != nil {
//			return deadLetter(rec) // rec.Err names file, line and field
//		}
//		return batch.Add(rec.ID, rec.Text, rec.Meta)
//	})
//
// Every line of a line format is either part of exactly one Record or blank.
// Blank (whitespace-only) lines are not records: they are counted in
// Range.Lines but yield nothing. Every other line yields a Record, good or
// bad (Record.Err): nothing is dropped silently, and Range.Records says how
// many Read yields.
//
// Text files give one record per line; their id is "<file base name>:<line>"
// unless Options.IDFrom says "hash". A line longer than
// Options.MaxRecordBytes (default 1 MiB) is a bad record; it is skipped
// without being buffered.
//
// CSV needs a header row. A quoted field may span lines; a row that does not
// parse is one bad record, and reading resumes at the next line, so a stray
// quote costs one record rather than the rest of the file.
//
// Split decompresses each gzip or zstd input once, into a spool file beside
// it (Options.SpoolDir), and the ranges address that copy; RemoveSpools
// deletes it once the ranges are read. A zstd frame may not ask for a window
// above 64 MiB.
//
// A truncated or corrupt compressed stream, a broken Parquet file, or a file
// changed since it was split make Split and Read return an error wrapping
// ErrCorrupt: retrying will not help. Split still emits every complete record
// before a break in a compressed stream, and its *DamageError says at which
// line and byte the damage starts.
package input
