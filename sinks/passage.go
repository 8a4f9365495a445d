package sinks

import "context"

// Passage is what an embed row carries of the text it embeds: the text
// itself (-store-text) and, for a document split into passages (-split),
// the document and the place in it. The zero Passage carries nothing.
type Passage struct {
	Text string // the embedded text; empty unless the job stores text
	// DocID is the document's id when the row is one of its passages (the
	// row's ID is then DocID#NNNN, pipeline/passage.ID); empty otherwise.
	DocID      string
	ChunkIndex int // the passage's index in its document, from 0
	// CharStart and CharEnd are the passage's half-open offsets in the
	// document, in Unicode code points.
	CharStart, CharEnd int
}

// Corpus says which passage columns the rows of an embed job carry.
type Corpus struct {
	Text     bool `json:"text,omitempty"`     // a text column (-store-text)
	Passages bool `json:"passages,omitempty"` // doc_id, chunk_index, char_start, char_end (-split)
}

// Pruner is a sink that can delete the rows of documents a corpus no longer
// holds (-prune). A job calls it once, after its last chunk is written and
// before Finish, never after an aborted or cancelled run.
type Pruner interface {
	// Prune deletes (or with dryRun only lists) in one transaction the rows
	// whose document is not in keep: a row's document is its doc_id when it
	// is a passage, else its id. It returns the ids of those rows.
	// fingerprint is the job's (Summary.Fingerprint).
	Prune(ctx context.Context, job, fingerprint string, keep map[string]bool, dryRun bool) ([]string, error)
}
