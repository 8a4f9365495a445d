// Package passage cuts a document into the passages that are embedded in its
// place, names them, and bounds how many tokens a text costs a Cohere model.
//
//	spec, err := passage.Parse("tokens:256,overlap:32") // the -split flag
//	limit, err := passage.LimitOf(model)                // model from GET /v1/models/{model}
//	if err := limit.Check(spec); err != nil { ... }      // passages must fit the model
//	for _, p := range spec.Split(doc.Text) {
//		id := passage.ID(doc.ID, p.Index)                // "John 3#0007"
//		// embed p.Text; store doc.ID, p.Index, p.CharStart, p.CharEnd
//	}
//	if spec.Mode == passage.SplitNone && limit.Truncates(doc.Text) { truncated++ }
//
// # Passages
//
// Split tiles the document: passage i+1 starts where passage i ends, less the
// overlap, and the passages' texts laid end to end without their overlaps
// give the document back byte for byte. Whitespace between two passages ends
// the first one. Offsets are Unicode code points from the start of the
// document, half-open: Text is the document's characters CharStart up to but
// not including CharEnd, as Python's text[start:end] and PostgreSQL's
// substr(text, start+1, end-start) read a UTF-8 string. (JavaScript strings
// count UTF-16 units: a character outside the Basic Multilingual Plane counts
// twice there.) A byte that is not valid UTF-8 counts as one character, as Go's
// range over a string does.
//
// Modes (the -split flag):
//
//   - none: the whole document, one passage.
//   - paragraphs: one passage per paragraph; a paragraph ends at a blank
//     line (a line holding only whitespace). A paragraph is not cut further,
//     so one longer than the model's context is truncated by the API; use
//     Limit.Truncates on each passage to count those.
//   - tokens:N[,overlap:M]: passages of at most N tokens (by Tokens). A
//     passage ends at the last paragraph break within its N tokens if that
//     keeps at least half of them, else at the last sentence end, else the
//     last line break (each on the same condition), else the last word
//     break, and only inside a word longer than what is left of N as a last
//     resort, between two characters. The next passage then starts at the
//     first word break within the last M tokens of the one before, so two
//     neighbours share at most M tokens; they share fewer, down to none, when
//     a long word straddles that point.
//
// # Passage ids
//
// ID names passage i of document d "d#NNNN": the index zero-padded to four
// digits. Past 9999 the index simply takes more digits ("d#10000"), so ids
// stay unique but no longer sort in passage order as strings; order by the
// chunk index instead. The part after the last '#' is always the index, so
// ParseID recovers the document id even when it holds '#' itself.
//
// # Token estimate
//
// Cohere's models read byte-pair-encoded tokens: every token stands for at
// least one byte of UTF-8 text, so a text of B bytes is at most B tokens for
// any of them, whatever its language or alphabet. Tokens returns that bound.
// It never under-counts, which is what keeps a passage from being cut short
// by the API without a word; the price is that it over-counts ordinary
// English about four times (the API counts about one token per 4 to 5
// characters), so tokens:N gives passages of about N characters. Limit adds
// a few tokens of reserve for the markers a model puts around its input.
package passage
